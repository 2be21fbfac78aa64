"""Pull requests' git plumbing on a local repository: mergeability by merge-tree, the rebase's
replay of each commit from its parent, and the closing keywords of "Fixes #N"."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devflow.core.errors import Conflict
from devflow.repos.pulls.gitops import Git, Who, workspace
from devflow.repos.pulls.merging import closing_references
from devflow.repos.pulls.schemas import CommentCreate
from devflow.repos.storage import Storage

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
ME = Who("Merger", "merger@example.com")


def _env() -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }


class Repo:
    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.run("init", "-q", "-b", "main", str(self.work), cwd=root)
        self.storage = Storage(root=root / "repos", git="git", dir_mode=0o700, file_mode=0o600)

    def run(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(["git", *args], cwd=cwd or self.work, env=_env(), check=True,
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout.strip()

    def commit(self, path: str, text: str, message: str | None = None) -> str:
        (self.work / path).write_text(text)
        self.run("add", path)
        self.run("commit", "-q", "-m", message or f"write {path}")
        return self.run("rev-parse", "HEAD")

    @property
    def git(self) -> Git:
        return Git(self.storage, self.work / ".git")


@pytest.fixture
def repo(tmp_path) -> Repo:
    made = Repo(tmp_path)
    made.commit("a.txt", "1\n2\n3\n")
    return made


async def test_a_clean_merge_gives_a_tree_and_a_conflict_its_paths(repo):
    base = repo.commit("b.txt", "b\n")
    repo.run("checkout", "-q", "-b", "topic", "HEAD~1")
    head = repo.commit("c.txt", "c\n")
    clean = await repo.git.merge_tree(base, head)
    assert clean.clean
    assert clean.tree
    listed = repo.run("ls-tree", "--name-only", clean.tree).split()
    assert listed == ["a.txt", "b.txt", "c.txt"]

    repo.run("checkout", "-q", "main")
    ours = repo.commit("a.txt", "one\n2\n3\n")
    repo.run("checkout", "-q", "topic")
    theirs = repo.commit("a.txt", "uno\n2\n3\n")
    conflicted = await repo.git.merge_tree(ours, theirs)
    assert (conflicted.clean, conflicted.conflicts) == (False, ["a.txt"])


async def test_unrelated_histories_are_told_apart_from_conflicts(repo):
    main = repo.run("rev-parse", "HEAD")
    repo.run("checkout", "-q", "--orphan", "alien")
    repo.run("rm", "-rq", "--cached", ".")
    alien = repo.commit("z.txt", "z\n")
    merged = await repo.git.merge_tree(main, alien)
    assert (merged.unrelated, merged.clean) == (True, False)


async def test_a_rebase_replays_each_commit_with_its_author_onto_the_base(repo):
    repo.run("checkout", "-q", "-b", "topic")
    first = repo.commit("a.txt", "1\n2\nthree\n", "third line")
    repo.commit("c.txt", "c\n", "add c")
    head = repo.run("rev-parse", "HEAD")
    repo.run("checkout", "-q", "main")
    base = repo.commit("a.txt", "one\n2\n3\n", "first line")
    async with workspace(repo.storage, repo.work / ".git") as work:
        tip = await work.replay(base, head, committer=ME, limit=10)
        shown = await work.must("log", "--format=%s|%an|%cn", f"{base}..{tip}")
        text = await work.must("show", f"{tip}:a.txt")
        folder = work.path
    assert shown.splitlines() == ["add c|Ada|Merger", "third line|Ada|Merger"]
    assert text == "one\n2\nthree\n"
    assert not folder.exists()  # the workspace goes, with whatever it held
    # the served repository never saw the new commits
    assert repo.run("cat-file", "-t", first) == "commit"
    missing = subprocess.run(["git", "cat-file", "-e", tip], cwd=repo.work, env=_env(),
                             check=False)  # fmt: skip
    assert missing.returncode != 0


async def test_a_rebase_stops_at_a_commit_that_does_not_apply(repo):
    repo.run("checkout", "-q", "-b", "topic")
    repo.commit("a.txt", "uno\n2\n3\n", "spanish")
    head = repo.run("rev-parse", "HEAD")
    repo.run("checkout", "-q", "main")
    base = repo.commit("a.txt", "one\n2\n3\n", "english")
    with pytest.raises(Conflict) as refused:
        await repo.git.replay(base, head, committer=ME, limit=10)
    assert refused.value.details["conflicts"] == ["a.txt"]


async def test_a_rebase_refuses_merge_commits_and_too_many_commits(repo):
    base = repo.run("rev-parse", "HEAD")
    repo.run("checkout", "-q", "-b", "side")
    repo.commit("s.txt", "s\n")
    repo.run("checkout", "-q", "-b", "topic", base)
    repo.commit("t.txt", "t\n")
    repo.run("merge", "-q", "--no-ff", "-m", "merge side", "side")
    head = repo.run("rev-parse", "HEAD")
    with pytest.raises(Conflict, match="is a merge"):
        await repo.git.replay(base, head, committer=ME, limit=10)
    with pytest.raises(Conflict, match="at most 1 commits"):
        await repo.git.replay(base, head, committer=ME, limit=1)


async def test_output_over_the_limit_is_cut_and_said_so(repo):
    big = repo.commit("big.txt", "x" * 10_000 + "\n")
    text, cut = await repo.git.limited("show", big, max_bytes=1000)
    assert (len(text), cut) == (1000, True)
    text, cut = await repo.git.limited("show", big, max_bytes=100_000)
    assert cut is False
    assert "x" * 100 in text


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Fixes #12", [12]),
        ("fixes: #3, closes #4 and resolved #5", [3, 4, 5]),
        ("Closed #7. Fix #7 again", [7]),
        ("see #12, prefixes #13, fixes#14, fixes #x", []),
        ("Resolves #0012", [12]),
    ],
)
def test_closing_keywords_name_tasks(text, numbers):
    assert closing_references(text) == numbers


@pytest.mark.parametrize("path", ["../x", "a/../b", "/etc/passwd", "a//b", "./a", "a/", "a\x01"])
def test_a_comment_path_must_stay_in_the_repository(path):
    with pytest.raises(ValueError, match="relative to the repository"):
        CommentCreate(path=path, line=1, body="x")


async def test_a_push_with_a_stale_lease_changes_nothing_and_says_so(repo, tmp_path):
    """What a merge's push meets when the base moved after it was read."""
    served = tmp_path / "served.git"
    repo.run("clone", "-q", "--bare", str(repo.work), str(served), cwd=tmp_path)
    read_at = repo.run("rev-parse", "HEAD")
    moved = repo.commit("late.txt", "late\n")
    repo.run("push", "-q", str(served), "HEAD:refs/heads/main")
    async with workspace(repo.storage, served) as work:
        tree = await work.tree_of(read_at)
        merged = await work.commit_tree(tree, [read_at], "merge\n", author=ME, committer=ME)
        done = await work.run("push", "--quiet", f"--force-with-lease=refs/heads/main:{read_at}",
                              str(served), f"{merged}:refs/heads/main")  # fmt: skip
    assert done.rc != 0
    assert "stale info" in done.err
    assert repo.run("rev-parse", "main", cwd=served) == moved
