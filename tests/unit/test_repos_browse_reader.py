"""The browsing reader on a local repository: ref and path checks, the diff's limits, and the
parsers of git's -z and porcelain output."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devflow.core.errors import Invalid, NotFound
from devflow.repos.browse.checks import check_path, check_ref, is_binary, language_of
from devflow.repos.browse.parse import parse_raw_numstat
from devflow.repos.browse.reader import Reader
from devflow.repos.browse.settings import BrowseSettings
from devflow.repos.storage import Storage

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.mark.parametrize("ref", ["main", "feature/x", "v1.2", "HEAD~2", "a" * 40, "main^"])
def test_a_ref_passes(ref):
    assert check_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "-n",
        "--output=x",
        "a..b",
        "a:b",
        "a b",
        "a\x00b",
        "a\nb",
        "a*",
        "x/",
        "a.lock",
        "r" * 256,
    ],
)
def test_a_ref_is_refused(ref):
    with pytest.raises(Invalid):
        check_ref(ref)


@pytest.mark.parametrize(
    ("path", "clean"), [(None, ""), ("", ""), ("/", ""), ("src/", "src"), ("/a/b.py", "a/b.py")]
)
def test_a_path_is_normalised(path, clean):
    assert check_path(path) == clean


@pytest.mark.parametrize("path", ["..", "a/../b", "a/./b", "a//b", "a\x00", "a\tb", "p" * 4097])
def test_a_path_is_refused(path):
    with pytest.raises(Invalid):
        check_path(path)


def test_binary_and_language():
    assert is_binary(b"a\x00b")
    assert is_binary(b"\xff\xfe\xfdplain")
    assert not is_binary("caf\u00e9".encode()[:-1])  # a character cut by the read limit
    assert not is_binary("text ✓\n".encode())
    assert language_of("app.PY") == "python"
    assert language_of("Dockerfile") == "dockerfile"
    assert language_of("noext") is None


def test_raw_numstat_with_a_rename_and_a_binary_file():
    out = (
        b":100644 100644 " + b"a" * 40 + b" " + b"b" * 40 + b" R090\0old name\0new name\0"
        b":000000 100644 " + b"0" * 40 + b" " + b"c" * 40 + b" A\0bin\0"
        b"3\t1\t\0old name\0new name\0-\t-\tbin\0"
    )
    renamed, added = parse_raw_numstat(out)
    assert (renamed.status, renamed.old_path, renamed.path) == ("renamed", "old name", "new name")
    assert (renamed.additions, renamed.deletions, renamed.binary) == (3, 1, False)
    assert (added.status, added.old_sha, added.old_mode, added.binary) == (
        "added",
        None,
        None,
        True,
    )


def _git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"{i}\n" * 400)
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "five files")
    return tmp_path


def _reader(repo: Path, **limits: int) -> Reader:
    storage = Storage(root=repo, git="git", dir_mode=0o700, file_mode=0o600)
    return Reader(storage, repo, BrowseSettings(**limits), "test/repo")


async def test_a_diff_lists_at_most_max_diff_files(repo):
    reader = _reader(repo, max_diff_files=2)
    diff = await reader.diff(None, await reader.resolve("main"))
    assert [f.path for f in diff.files] == ["f0.txt", "f1.txt"]
    assert (diff.stats.files, diff.stats.additions, diff.truncated) == (5, 2000, True)
    assert all(f.patch for f in diff.files)


async def test_patches_stop_at_max_diff_bytes(repo):
    reader = _reader(repo, max_diff_bytes=3000)  # each patch is about 1.3 KB
    diff = await reader.diff(None, await reader.resolve("main"))
    assert diff.truncated
    assert len(diff.files) == 5
    assert [f.patch is not None for f in diff.files] == [True, True, False, False, False]
    assert [f.truncated for f in diff.files] == [False, False, True, True, True]
    assert diff.stats.additions == 2000


async def test_an_unknown_ref_and_path_are_not_found(repo):
    reader = _reader(repo)
    with pytest.raises(NotFound, match=r"no branch, tag or commit ghost in test/repo"):
        await reader.resolve("ghost")
    commit = await reader.resolve("main")
    with pytest.raises(NotFound, match=r"no f0\.txt/deeper"):
        await reader.entry(commit, "f0.txt/deeper")
