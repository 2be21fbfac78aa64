"""The few questions protection asks `git` about a repository, new objects included.

During a push the new objects exist only in git's quarantine until the pre-receive hook says
yes: the hook hands over the object directories git gave it, and every command here runs with
them (as Gitea re-injects them into its git commands).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from devflow.repos.storage import Storage

_NOT_ANCESTOR = 1


class GitQuestionFailed(Exception):
    """git could not answer (a missing object, a broken repository)."""


@dataclass(frozen=True)
class GitView:
    """`git` on one repository, with the object directories of a push in progress."""

    storage: Storage
    path: Path
    objects: dict[str, str] = field(default_factory=dict)

    async def _run(self, *args: str) -> tuple[int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            self.storage.git,
            *args,
            cwd=self.path,
            env={**self.storage.env(), **self.objects},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert proc.returncode is not None  # noqa: S101 - communicate waited for it
        return proc.returncode, out

    async def is_ancestor(self, old: str, new: str) -> bool:
        """Return whether `old` is an ancestor of `new` (a push from old to new is no force push).

        Raises:
            GitQuestionFailed: git could not tell (an unknown commit).
        """
        code, _ = await self._run("merge-base", "--is-ancestor", old, new)
        if code not in {0, _NOT_ANCESTOR}:
            raise GitQuestionFailed(f"git merge-base --is-ancestor {old} {new} failed")
        return code == 0

    async def changed_files(self, old: str, new: str) -> list[str]:
        """Return the paths that differ between two commits (both sides of a rename).

        Raises:
            GitQuestionFailed: git could not tell.
        """
        code, out = await self._run("diff", "--name-only", "-z", "--no-renames", old, new, "--")
        if code != 0:
            raise GitQuestionFailed(f"git diff {old} {new} failed")
        return [p for p in out.decode(errors="replace").split("\0") if p]

    async def commit_of(self, ref: str) -> str | None:
        """Return the commit a ref, tag or sha names, or None."""
        code, out = await self._run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
        return out.decode().strip() if code == 0 else None


__all__ = ["GitQuestionFailed", "GitView"]
