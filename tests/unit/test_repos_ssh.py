"""The SSH server's command parsing and the key parser, without a server."""

from __future__ import annotations

import asyncssh
import pytest

from devflow.core.errors import Invalid
from devflow.repos.ssh.keys import parse_key
from devflow.repos.ssh.server import Refused, host_key, parse_command


@pytest.mark.parametrize(
    ("command", "parsed"),
    [
        ("git-upload-pack '/default/api.git'", ("git-upload-pack", "default", "api")),
        ("git-receive-pack 'default/api.git'", ("git-receive-pack", "default", "api")),
        ("git upload-pack '/web/site.v2.git'", ("git-upload-pack", "web", "site.v2")),
        ("git-upload-archive '/default/api.git'", ("git-upload-archive", "default", "api")),
    ],
)
def test_git_commands_are_parsed(command, parsed):
    assert parse_command(command) == parsed


@pytest.mark.parametrize(
    "command",
    [
        None,
        "",
        "sh",
        "bash -c 'git-upload-pack /default/api.git'",
        "git-upload-pack /default/api.git; rm -rf /",
        "git-upload-pack '/default/api.git' extra",
        "git-upload-pack '/default/api'",
        "git-upload-pack '/default/sub/api.git'",
        "git-upload-pack '/default/api.git",
        "git-daemon '/default/api.git'",
        "git config --list",
        "scp -t /tmp",
    ],
)
def test_anything_else_is_refused(command):
    with pytest.raises(Refused):
        parse_command(command)


def test_a_key_is_fingerprinted_and_its_comment_kept_apart():
    key = asyncssh.generate_private_key("ssh-ed25519", comment="ada@laptop")
    line = key.export_public_key().decode()
    kind, stored, fingerprint, comment = parse_key(line)
    assert (kind, comment) == ("ssh-ed25519", "ada@laptop")
    assert fingerprint == key.get_fingerprint("sha256")
    assert "ada@laptop" not in stored


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "empty"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "private key"),
        ("ssh-dss AAAA x", "unsupported key type"),
        ("ssh-ed25519 AAAA", "not a valid"),
        ("ssh-ed25519 AAAA\nssh-ed25519 AAAA", "one line"),
    ],
)
def test_bad_keys_are_invalid(text, said):
    with pytest.raises(Invalid, match=said):
        parse_key(text)


def test_a_key_whose_blob_is_broken_or_of_another_type_is_invalid():
    rsa = asyncssh.generate_private_key("ssh-rsa").export_public_key().decode().split()[1]
    with pytest.raises(Invalid, match="not a valid"):
        parse_key(f"ecdsa-sha2-nistp521 {rsa}")
    # a length field turned negative: asyncssh raises OverflowError, DevFlow says invalid
    broken = "AAAAB3NzaC1yc2EAAAADAQAhAAABAYu4ruz90bOyrPLNFVUem8aGTVoXr/PR2RdueASexOGE"
    with pytest.raises(Invalid, match="not a valid"):
        parse_key(f"ssh-rsa {broken}")


def test_the_host_key_is_made_once_and_private(tmp_path):
    first = host_key(tmp_path)
    data = first.read_bytes()
    assert first.stat().st_mode & 0o777 == 0o600
    first.chmod(0o644)
    assert host_key(tmp_path).read_bytes() == data
    assert first.stat().st_mode & 0o777 == 0o600
