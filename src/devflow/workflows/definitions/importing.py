"""Apply the `.devflow/workflows/*.yml` (and `*.yaml`) of a DevFlow-hosted repository.

The files are read at one commit with `git` (`rev-parse`, `ls-tree`, `cat-file`) straight from
the bare repository; nothing is checked out. All or nothing: every file is checked first, and
when any fails none is applied and the errors of every file are returned, each naming its file
(`.devflow/workflows/x.yml`); a set of definitions that lead to one another is never half
updated. Each applied file records `repo@commit:path` as its origin.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal, Role
from devflow.core.config import Settings
from devflow.core.errors import Invalid, NotFound
from devflow.repos import ReposSettings, repository_folder, require_repository
from devflow.workflows.access import project_for
from devflow.workflows.definitions.loader import error, parse, refuse
from devflow.workflows.definitions.schemas import DefinitionApplied, ImportRead
from devflow.workflows.definitions.service import apply_definition
from devflow.workflows.settings import WorkflowsSettings

FOLDER = ".devflow/workflows"
MAX_FILES = 100
# A ref git would take for a branch, tag or commit, and never for an option (no leading `-`).
_REF = re.compile(r"^(?!-)[A-Za-z0-9._/@^~{}-]{1,255}$")


@dataclass(frozen=True)
class _Git:
    program: str
    path: Path

    async def run(self, *args: str) -> tuple[int, bytes]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
        proc = await asyncio.create_subprocess_exec(
            self.program,
            f"--git-dir={self.path}",
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out


async def import_from_repository(
    session: AsyncSession,
    principal: Principal,
    project: str | None,
    repo: str,
    ref: str | None = None,
    *,
    settings: Settings,
) -> ImportRead:
    """Apply every workflow definition of a repository at `ref` to the project (write role).

    Args:
        repo: `name` of a repository of the project, or `project/name` of one the caller reads.
        ref: a branch, tag or commit (default: the repository's default branch).
        settings: where repositories live and the `git` program (and the size limit).

    Raises:
        NotFound: no such project, repository (or one the caller cannot read) or ref.
        PermissionDenied: not a writer of the project.
        Invalid: no definitions at the ref, or some do not validate (`details.errors`, each
            naming its file).
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    owner, _, name = repo.rpartition("/")
    owner = owner or found.name
    hosted = await require_repository(session, principal=principal, project=owner, name=name)
    git = _Git(settings.section(ReposSettings).git, repository_folder(settings, hosted))
    full = f"{owner}/{name}"
    commit = await _commit(git, ref or hosted.default_branch, full)
    files = await _files(git, commit, full, _max_bytes(settings))
    errors: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for path, text in files:
        try:
            spec = parse(text, file=path, max_bytes=_max_bytes(settings))
        except Invalid as exc:
            errors += exc.details["errors"]
            continue
        if spec.name in names:
            message = f"name {spec.name!r} is also the name of {names[spec.name]}"
            errors.append(error(path, 1, 1, ("name",), message))
        names.setdefault(spec.name, path)
    if errors:
        raise refuse(errors)
    items: list[DefinitionApplied] = [
        await apply_definition(
            session,
            principal,
            found.name,
            text,
            file=path,
            origin="repository",
            origin_ref=f"{full}@{commit}:{path}",
            max_bytes=_max_bytes(settings),
        )
        for path, text in files
    ]
    return ImportRead(repository=full, commit=commit, items=items)


def _max_bytes(settings: Settings) -> int:
    return settings.section(WorkflowsSettings).definition_max_bytes


async def _commit(git: _Git, ref: str, full: str) -> str:
    if not _REF.match(ref) or ".." in ref:
        raise Invalid(f"{ref!r} is not a branch, tag or commit name", details={"ref": ref})
    code, out = await git.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if code != 0:
        raise NotFound(
            f"{full} has no branch, tag or commit {ref!r} (an empty repository has none yet)",
            details={"ref": ref},
        )
    return out.decode().strip()


async def _files(git: _Git, commit: str, full: str, max_bytes: int) -> list[tuple[str, str]]:
    """The definition files at `commit`: (path, text), by path."""
    code, out = await git.run("ls-tree", "-l", "-z", commit, f"{FOLDER}/")
    entries = [e for e in out.decode("utf-8", "replace").split("\0") if e] if code == 0 else []
    if len(entries) > MAX_FILES:
        raise Invalid(f"{full} has more than {MAX_FILES} entries in {FOLDER}; split them up")
    found: list[tuple[str, str]] = []
    errors: list[dict[str, Any]] = []
    for entry in entries:
        info, _, path = entry.partition("\t")
        _, kind, obj, size = info.split(maxsplit=3)
        if kind != "blob" or not path.endswith((".yml", ".yaml")):
            continue
        if size.strip().isdigit() and int(size) > max_bytes:
            message = f"{size.strip()} bytes is over the limit of {max_bytes}"
            errors.append(error(path, 1, 1, (), message))
            continue
        code, data = await git.run("cat-file", "blob", obj)
        try:
            found.append((path, data.decode("utf-8")))
        except UnicodeDecodeError:
            errors.append(error(path, 1, 1, (), "not UTF-8 text"))
    if errors:
        raise refuse(errors)
    if not found:
        raise Invalid(
            f"{full} has no {FOLDER}/*.yml or *.yaml at {commit[:12]}",
            details={"errors": [], "commit": commit},
        )
    return found


__all__ = ["FOLDER", "import_from_repository"]
