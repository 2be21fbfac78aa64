"""The git plumbing pull requests need, run by the system `git` on the bare repository.

Nothing here checks out a worktree. Mergeability is `git merge-tree --write-tree`; a merge or a
squash is that tree plus `git commit-tree`; a rebase replays each commit as a three-way merge
whose base is the commit's parent (a throwaway commit of the current tree on that parent makes
`merge-tree` pick it: git 2.39 has no `--merge-base`). These write only objects, which are
harmless while no ref names them; the served repository changes when `update_ref` moves a ref
from the commit it was expected at, atomically, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from devflow.core.errors import Conflict
from devflow.repos.storage import GitFailed, Storage

_SHA = re.compile(r"^[0-9a-f]{40}$")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Done:
    """What a git command exited with and said."""

    rc: int
    out: str
    err: str


@dataclass(frozen=True)
class Who:
    """An author or committer: name, e-mail and, for a replayed author, the original date."""

    name: str
    email: str
    date: str | None = None


@dataclass(frozen=True)
class Mergeability:
    """Whether base and head merge cleanly: the merged tree, or the conflicting paths."""

    tree: str | None
    conflicts: list[str] = field(default_factory=list)
    unrelated: bool = False

    @property
    def clean(self) -> bool:
        return self.tree is not None and not self.conflicts and not self.unrelated


@dataclass(frozen=True)
class Git:
    """git on one bare repository."""

    storage: Storage
    path: Path

    async def run(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Done:
        """Run `git args…` and return its exit status and output, whatever the status."""
        proc = await asyncio.create_subprocess_exec(
            self.storage.git,
            *args,
            cwd=self.path,
            env={**self.storage.env(), **(env or {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        return Done(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )

    async def must(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> str:
        """Run `git args…` and return its output.

        Raises:
            GitFailed: git exited with an error.
        """
        return await self.storage.run(*args, cwd=self.path, stdin=stdin, env=env)

    async def resolve(self, ref: str) -> str | None:
        """Return the commit `ref` names, or None when there is none."""
        done = await self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                              f"{ref}^{{commit}}")  # fmt: skip
        sha = done.out.strip()
        return sha if done.rc == 0 and _SHA.match(sha) else None

    async def update_ref(self, ref: str, new: str, old: str) -> bool:
        """Move `ref` from `old` to `new` (40 zeros: create); False when it was not at `old`."""
        done = await self.run("update-ref", "-m", "devflow pull request", ref, new, old)
        return done.rc == 0

    async def delete_ref(self, ref: str, old: str) -> bool:
        """Delete `ref` if it is still at `old`."""
        return (await self.run("update-ref", "-d", ref, old)).rc == 0

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Return whether `ancestor` is reachable from `descendant`."""
        return (await self.run("merge-base", "--is-ancestor", ancestor, descendant)).rc == 0

    async def merge_base(self, one: str, other: str) -> str | None:
        """Return the best common ancestor, or None for unrelated histories."""
        done = await self.run("merge-base", one, other)
        return done.out.strip() if done.rc == 0 else None

    async def merge_tree(self, ours: str, theirs: str) -> Mergeability:
        """Merge two commits without a worktree: the tree, or the conflicting paths.

        Raises:
            GitFailed: git failed for another reason than a conflict.
        """
        done = await self.run(
            "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs
        )
        if done.rc == 0:
            return Mergeability(tree=done.out.strip("\0\n"))
        if done.rc == 1:
            tree, *paths = [p for p in done.out.split("\0") if p]
            return Mergeability(tree=tree, conflicts=sorted(set(paths)))
        if "unrelated histories" in done.err:
            return Mergeability(tree=None, unrelated=True)
        raise GitFailed(f"git merge-tree failed on the server: {done.err.strip()[:200]}")

    async def commit_tree(
        self, tree: str, parents: list[str], message: str, *, author: Who, committer: Who
    ) -> str:
        """Write a commit of `tree` on `parents`; return its id."""
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
        }
        if author.date:
            env["GIT_AUTHOR_DATE"] = author.date
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return (await self.must(*args, stdin=message.encode(), env=env)).strip()

    async def tree_of(self, commit: str) -> str:
        return (await self.must("rev-parse", f"{commit}^{{tree}}")).strip()

    async def rev_list(self, base: str, head: str, *, limit: int) -> list[str]:
        """The commits of head not in base, oldest first (at most `limit`)."""
        out = await self.must("rev-list", "--reverse", "--topo-order", f"--max-count={limit}",
                              head, f"^{base}")  # fmt: skip
        return out.split()

    async def read_commit(self, sha: str) -> tuple[list[str], Who, str]:
        """Return a commit's parents, its author (with the original date) and message."""
        raw = await self.must("cat-file", "commit", sha)
        header, _, message = raw.partition("\n\n")
        parents, author = [], Who("unknown", "unknown@devflow.invalid")
        for line in header.splitlines():
            if line.startswith("parent "):
                parents.append(line.split()[1])
            elif line.startswith("author "):
                match = re.match(r"author (.*) <(.*)> (\d+ [+-]\d{4})$", line)
                if match:
                    author = Who(match[1], match[2], match[3])
        return parents, author, message

    async def replay(self, base: str, head: str, *, committer: Who, limit: int) -> str:
        """Rebase head's commits onto base, one three-way merge each; return the new tip.

        Raises:
            Conflict: a merge commit in the range, or a commit that does not apply.
        """
        shas = await self.rev_list(base, head, limit=limit + 1)
        if len(shas) > limit:
            raise Conflict(
                f"a rebase replays at most {limit} commits; this pull request has more: "
                "merge or squash it instead"
            )
        current = base
        for sha in shas:
            parents, author, message = await self.read_commit(sha)
            if len(parents) != 1:
                raise Conflict(
                    f"commit {sha[:12]} is a merge (or a root) commit, which a rebase cannot "
                    "replay: merge or squash this pull request instead",
                    details={"commit": sha},
                )
            # A commit of the current tree on sha's parent: merging it with sha merges from
            # that parent, which is what applying sha onto the current tree means.
            stand_in = await self.commit_tree(
                await self.tree_of(current), [parents[0]], "stand-in", author=committer,
                committer=committer,
            )  # fmt: skip
            merged = await self.merge_tree(stand_in, sha)
            if not merged.clean or merged.tree is None:
                raise Conflict(
                    f"commit {sha[:12]} does not apply onto {base[:12]}: "
                    f"conflicts in {', '.join(merged.conflicts) or 'its history'}",
                    details={"commit": sha, "conflicts": merged.conflicts},
                )
            current = await self.commit_tree(
                merged.tree, [current], message, author=author, committer=committer
            )
        return current

    async def limited(self, *args: str, max_bytes: int) -> tuple[str, bool]:
        """Run `git args…`, keep at most `max_bytes` of its output; say whether it was cut.

        Raises:
            GitFailed: git exited with an error before its output was cut.
        """
        proc = await asyncio.create_subprocess_exec(
            self.storage.git,
            *args,
            cwd=self.path,
            env=self.storage.env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout  # noqa: S101 - a pipe
        kept, cut = bytearray(), False
        while chunk := await proc.stdout.read(_CHUNK):
            kept += chunk
            if len(kept) > max_bytes:
                del kept[max_bytes:]
                cut = True
                proc.kill()
                break
        await proc.wait()
        if not cut and proc.returncode != 0:
            raise GitFailed(f"git {args[0]} failed on the server")
        return kept.decode(errors="replace"), cut

    async def file_lines(self, commit: str, path: str, *, max_bytes: int) -> list[str] | None:
        """Return the lines of `path` at `commit`, or None when it is not there (or too big)."""
        done = await self.run("cat-file", "-s", f"{commit}:{path}")
        if done.rc != 0 or int(done.out.strip() or 0) > max_bytes:
            return None
        text = await self.run("cat-file", "blob", f"{commit}:{path}")
        return text.out.splitlines() if text.rc == 0 else None


@contextlib.asynccontextmanager
async def workspace(storage: Storage, source: Path) -> AsyncIterator[Git]:
    """Yield git on a temporary bare repository that borrows `source`'s objects through
    `objects/info/alternates` (nothing is copied): what a merge writes stays there until it is
    pushed, and goes with the folder if it never is."""
    storage.prepare()
    parent = storage.root / ".merging"
    parent.mkdir(mode=storage.dir_mode, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="merge-", dir=parent))
    try:
        await storage.run("init", "--quiet", "--bare", "--template=", str(folder), cwd=parent)
        info = folder / "objects" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "alternates").write_text(f"{(source / 'objects').resolve()}\n")
        yield Git(storage, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["Done", "Git", "Mergeability", "Who", "workspace"]
