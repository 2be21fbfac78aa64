"""The repositories on disk: `$DEVFLOW_HOME/repos/<id>.git`, bare, made and changed with `git`.

Paths come from a repository's id only, never from a name a caller typed. A repository is built
in `repos/.incoming/` and renamed into place when complete, so a crash leaves no half-made one
under its real path; a deleted one is renamed out of the way before its files go. Folders are
private to DevFlow's user (`files.dir_mode`), and git is told the file mode too
(`core.sharedRepository`), whatever umask a process runs with.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from devflow.core.config import Settings
from devflow.core.errors import DevflowError
from devflow.repos.protection.hook import PRE_RECEIVE
from devflow.repos.settings import ReposSettings

log = logging.getLogger(__name__)

POST_RECEIVE = """#!/bin/sh
# Written by DevFlow. Hands the refs a push moved ("<old> <new> <ref>" lines) to the DevFlow
# process serving the push, which records them once the push is complete.
if [ -n "$DEVFLOW_PUSH_LOG" ]; then
    exec cat >> "$DEVFLOW_PUSH_LOG"
fi
exit 0
"""
ZERO = "0" * 40


class GitFailed(DevflowError):
    """`git` failed on the server's side."""

    status = 500
    code = "git_failed"


@dataclass(frozen=True)
class Storage:
    """Where repositories live and how `git` is run on them."""

    root: Path
    git: str
    dir_mode: int
    file_mode: int

    @classmethod
    def of(cls, settings: Settings) -> Storage:
        """Return the storage the settings describe (nothing is created yet)."""
        files = settings.files
        return cls(
            root=settings.home / "repos",
            git=settings.section(ReposSettings).git,
            dir_mode=files.dir_mode,
            file_mode=files.file_mode,
        )

    def path(self, repo_id: uuid.UUID) -> Path:
        """Return the folder of a repository."""
        return self.root / f"{repo_id}.git"

    def prepare(self) -> None:
        """Create the root with DevFlow's folder mode, and narrow an older, wider one."""
        self.root.mkdir(mode=self.dir_mode, parents=True, exist_ok=True)
        current = stat.S_IMODE(self.root.stat().st_mode)
        if current & ~self.dir_mode:
            self.root.chmod(current & self.dir_mode)

    def env(self) -> dict[str, str]:
        """Return the environment `git` runs in: no user or system configuration applies."""
        keep = ("PATH", "LANG", "LC_ALL", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "HOME": str(self.root),
                "GIT_TERMINAL_PROMPT": "0",
            }
        )
        return env

    async def run(
        self, *args: str, cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> str:
        """Run `git args…` in `cwd` and return its output.

        Raises:
            GitFailed: git exited with an error (its message is logged, not shown).
        """
        proc = await asyncio.create_subprocess_exec(
            self.git,
            *args,
            cwd=cwd,
            env={**self.env(), **(env or {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        if proc.returncode != 0:
            log.error("git %s failed: %s", args[0], err.decode(errors="replace")[-2000:])
            raise GitFailed(f"git {args[0]} failed on the server; its log says why")
        return out.decode()

    def _share(self) -> str:
        return f"0{self.file_mode:o}"

    async def create(
        self,
        repo_id: uuid.UUID,
        *,
        branch: str,
        readme: str | None,
        author: str,
    ) -> None:
        """Create a bare repository whose HEAD names `branch`, with a first commit holding
        README.md when `readme` is given; it appears under its real path only when complete."""
        self.prepare()
        incoming = self.root / ".incoming"
        incoming.mkdir(mode=self.dir_mode, exist_ok=True)
        building = incoming / f"{repo_id}.git"
        try:
            await self.run(
                "init", "--quiet", "--bare", "--template=", f"--shared={self._share()}",
                f"--initial-branch={branch}", str(building), cwd=incoming,
            )  # fmt: skip
            write_hooks(building)
            if readme is not None:
                await self._first_commit(building, branch=branch, readme=readme, author=author)
            building.rename(self.path(repo_id))
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)

    async def _first_commit(self, path: Path, *, branch: str, readme: str, author: str) -> None:
        blob = await self.run("hash-object", "-w", "--stdin", cwd=path, stdin=readme.encode())
        tree = await self.run(
            "mktree", cwd=path, stdin=f"100644 blob {blob.strip()}\tREADME.md\n".encode()
        )
        who = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": f"{author}@devflow.invalid",
            "GIT_COMMITTER_NAME": "DevFlow",
            "GIT_COMMITTER_EMAIL": "devflow@devflow.invalid",
        }
        commit = await self.run(
            "commit-tree", tree.strip(), "-m", "Initial commit", cwd=path, env=who
        )
        await self.run("update-ref", f"refs/heads/{branch}", commit.strip(), ZERO, cwd=path)

    async def set_default_branch(self, repo_id: uuid.UUID, branch: str) -> None:
        """Point HEAD at `branch` (it need not exist yet: the next push may create it)."""
        path = self.path(repo_id)
        await self.run("check-ref-format", f"refs/heads/{branch}", cwd=path)
        await self.run("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=path)

    def delete(self, repo_id: uuid.UUID) -> None:
        """Remove a repository's files: renamed out of its path first, then deleted."""
        path = self.path(repo_id)
        if not path.exists():
            return
        trash = self.root / ".deleted"
        trash.mkdir(mode=self.dir_mode, exist_ok=True)
        gone = trash / f"{repo_id}-{uuid.uuid4().hex[:8]}.git"
        path.rename(gone)
        shutil.rmtree(gone, ignore_errors=True)

    def size(self, repo_id: uuid.UUID) -> int:
        """Return the bytes a repository's files take."""
        total = 0
        for folder, _dirs, files in os.walk(self.path(repo_id)):
            for name in files:
                try:
                    total += (Path(folder) / name).lstat().st_size
                except FileNotFoundError:  # a temporary file git removed meanwhile
                    continue
        return total


def write_hooks(path: Path) -> None:
    """Install DevFlow's hooks in a repository (or bring them up to date)."""
    hooks = path / "hooks"
    hooks.mkdir(mode=0o700, exist_ok=True)
    for name, text in (("pre-receive", PRE_RECEIVE), ("post-receive", POST_RECEIVE)):
        hook = hooks / name
        if not hook.exists() or hook.read_text() != text:
            temporary = hooks / f".{name}.new"
            temporary.write_text(text)
            temporary.chmod(0o700)
            temporary.rename(hook)


def parse_push_log(text: str) -> list[dict[str, str]]:
    """Return the refs a post-receive hook reported, as `{"ref", "old", "new"}`."""
    moved = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:  # noqa: PLR2004 - "<old> <new> <ref>"
            old, new, ref = parts
            moved.append({"ref": ref, "old": old, "new": new})
    return moved


__all__ = ["ZERO", "GitFailed", "Storage", "parse_push_log", "write_hooks"]
