"""The checks an import's or a mirror's source URL goes through before git runs."""

from __future__ import annotations

import asyncio

import pytest

from devflow.core.errors import Invalid
from devflow.core.outbound import AddressRefused
from devflow.repos.mirrors.gitops import checked_address, guard_options
from devflow.repos.mirrors.schemas import check_source_url, name_from_url
from devflow.repos.mirrors.settings import MirrorSettings


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("file:///srv/x.git", "only http"),
        ("ssh://git@example.com/x.git", "only http"),
        ("git://example.com/x.git", "only http"),
        ("git@example.com:team/x.git", "only http"),
        ("ext::sh -c id", "spaces or control"),
        ("https://ada:pw@example.com/x.git", "user name or password"),
        ("https://ada@example.com/x.git", "user name or password"),
        ("https://example.com:99999/x.git", "not a URL"),
        ("https:///x.git", "needs a host"),
        ("https://example.com/x\n.git", "spaces or control"),
    ],
)
def test_a_url_outside_the_rules_is_refused(url, said):
    with pytest.raises(Invalid, match=said) as refused:
        check_source_url(url)
    assert "pw" not in str(refused.value)


def test_a_url_gives_its_host_port_and_name():
    source = check_source_url("https://git.example.com/team/App.git")
    assert (source.host, source.port) == ("git.example.com", 443)
    assert check_source_url("http://[::1]:8080/x").port == 8080
    assert name_from_url("https://git.example.com/team/App.git/") == "app"
    with pytest.raises(Invalid, match="give a name"):
        name_from_url("https://git.example.com/")


def _resolver(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        del host, port
        return list(addresses)

    return resolve


def test_git_is_pinned_to_a_checked_public_address():
    source = check_source_url("https://git.example.com/x.git")
    chosen = asyncio.run(
        checked_address(source, MirrorSettings(), _resolver("10.0.0.5", "93.184.215.14"))
    )
    assert chosen == "93.184.215.14"
    options = guard_options(source, chosen)
    pairs = dict(o.split("=", 1) for o in options[1::2])
    assert pairs["http.curloptResolve"] == "git.example.com:443:93.184.215.14"
    assert pairs["http.followRedirects"] == "false"
    assert pairs["protocol.allow"] == "never"
    assert pairs["protocol.file.allow"] == "never"
    assert pairs["credential.helper"] == ""
    six = guard_options(check_source_url("http://h/x"), "2606:4700::1")
    assert "http.curloptResolve=h:80:[2606:4700::1]" in six


@pytest.mark.parametrize(
    "addresses", [("127.0.0.1",), ("10.1.2.3", "192.168.0.1"), ("169.254.169.254",), ("::1",), ()]
)
def test_private_addresses_are_refused_unless_allowed(addresses):
    source = check_source_url("https://git.example.com/x.git")
    with pytest.raises(AddressRefused):
        asyncio.run(checked_address(source, MirrorSettings(), _resolver(*addresses)))
    if addresses:
        opened = MirrorSettings(private_networks=["0.0.0.0/0", "::/0"])
        assert asyncio.run(checked_address(source, opened, _resolver(*addresses)))
