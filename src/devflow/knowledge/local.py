"""Ingesting files from a directory on the server and from git repositories.

A git source is cloned (shallow, one ref; whole where the server cannot serve a shallow clone)
into a temporary directory, or read in place when it is a local working tree at its checked-out
branch; a local bare repository (or a local one at another ref) is checked out into a temporary
directory from its default branch (or the ref). Its files are listed with `git ls-files`, so
`.gitignore` is honoured. Files are read in path order, each stored in its own transaction; a file
that cannot be read is recorded with its reason and the rest go on.

A remote's host is resolved once by DevFlow and its addresses checked like every outbound fetch
(`core/outbound.py`: no private, loopback or link-local address unless the source allows private
networks); git then connects to those addresses only: over HTTP(S) through curl's resolve list
(`http.curloptResolve`, git 2.37 or later) with redirects off, over git:// and ssh:// to the
address itself (ssh still checks the host key under the host's name). A name that resolves to a
public address when checked and to an internal one when git connects gets nowhere.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.db import unit_of_work
from devflow.core.errors import Invalid, PermissionDenied
from devflow.core.outbound import Networks, Resolver, address_allowed, system_resolver
from devflow.knowledge.crawl import CrawlStats
from devflow.knowledge.extract import ExtractionError, extract, kind_of
from devflow.knowledge.ingest import record_failure, store_document
from devflow.knowledge.locations import git_layout, pick_default_branch
from devflow.knowledge.models import Source
from devflow.knowledge.settings import KnowledgeSettings

_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", "dist", "build"}
_GIT_TIMEOUT = 300.0
_SCP_LIKE = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>.*)$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "git": 9418, "ssh": 22}


def require_local_root(location: str | Path, roots: Sequence[Path]) -> Path:
    """Return the resolved folder if it lies under one of the configured `roots`.

    Symbolic links are resolved first, so a link cannot lead out of a root.

    Raises:
        PermissionDenied: outside every root, or no root configured (`details.reason` is
            `outside_local_roots`, which the CLI answers by uploading the files instead).
    """
    path = Path(location).resolve()
    for root in roots:
        if path.is_relative_to(root.expanduser().resolve()):
            return path
    allowed = ", ".join(str(r) for r in roots) or "none is configured"
    raise PermissionDenied(
        f"DevFlow may not read {path} on its server: only folders under its local roots "
        f"({allowed}). An operator lists them in DEVFLOW_KNOWLEDGE__LOCAL_ROOTS (a JSON list); "
        "or upload the files from your machine with `devflow knowledge add <folder>`",
        details={"reason": "outside_local_roots"},
    )


def list_directory(root: Path) -> list[str]:
    """Return the supported files under `root` (relative, sorted), skipping hidden and vendored."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or name.startswith("."):
                continue
            rel = path.relative_to(root).as_posix()
            if kind_of(rel) is not None:
                found.append(rel)
    return sorted(found)


async def git(*args: str, cwd: Path | None = None, remote: PinnedRemote | None = None) -> str:
    """Run git and return its output; with `remote`, pinned to the addresses checked for it.

    Raises:
        Invalid: git failed (its message is included).
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    options: list[str] = []
    if remote is not None:
        env.update(remote.env)
        options = remote.options
    proc = await asyncio.create_subprocess_exec(
        "git",
        *options,
        *args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _GIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        raise Invalid(f"git {args[0]} took longer than {_GIT_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise Invalid(f"git {args[0]} failed: {' '.join(message[-3:])}")
    return out.decode("utf-8", "replace")


@dataclass(frozen=True)
class PinnedRemote:
    """A clone URL with what makes git connect only to the addresses DevFlow checked."""

    url: str
    options: list[str] = field(default_factory=list)  # `-c name=value` pairs, before the command
    env: dict[str, str] = field(default_factory=dict)


async def pin_remote(
    location: str,
    *,
    allow_private: bool,
    networks: Networks = (),
    resolver: Resolver = system_resolver,
) -> PinnedRemote:
    """Resolve a clone URL's host, check its addresses and pin git to them.

    Raises:
        Invalid: the host does not resolve, or only to addresses the source may not reach.
    """
    scp = None if "://" in location else _SCP_LIKE.match(location)
    parts = urlsplit(location)
    scheme, host = ("ssh", scp["host"]) if scp else (parts.scheme, parts.hostname or "")
    try:
        port = _DEFAULT_PORTS[scheme] if scp else parts.port or _DEFAULT_PORTS[scheme]
    except (KeyError, ValueError):
        port = 0
    if not port or not host:
        raise Invalid(f"{location!r} is not a clone URL (http, https, git, ssh or user@host:path)")
    try:
        addresses = await resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise Invalid(f"cannot resolve {host}: {exc}") from None
    allowed = [
        a for a in addresses if address_allowed(a, allow_private=allow_private, networks=networks)
    ]
    if not allowed:
        raise Invalid(
            f"{host} resolves to {', '.join(addresses) or 'nothing'}: a private, loopback or "
            "link-local address. If it is an internal git server, an instance admin may add the "
            "source with allow_private (CLI: --allow-private), or an operator may open its "
            "network to every source (DEVFLOW_KNOWLEDGE__PRIVATE_NETWORKS)",
            details={"reason": "private_address"},
        )
    literals = [f"[{a}]" if ":" in a else a for a in allowed]
    if scheme in {"http", "https"}:
        pin = f"http.curloptResolve={host}:{port}:{','.join(literals)}"
        return PinnedRemote(location, ["-c", pin, "-c", "http.followRedirects=false"])
    if scp:
        url = f"{scp['user']}@{literals[0]}:{scp['path']}"
    else:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (f"{userinfo}@" if userinfo else "") + literals[0]
        url = urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
    env = {"GIT_SSH_COMMAND": f"ssh -o HostKeyAlias={host}"} if scheme == "ssh" else {}
    return PinnedRemote(url, env=env)


@asynccontextmanager
async def checkout(
    source: Source,
    *,
    allow_private: bool,
    roots: Sequence[Path] = (),
    networks: Networks = (),
    resolver: Resolver = system_resolver,
) -> AsyncIterator[Path]:
    """Yield a working tree of a git source at its ref (a temporary clone for remote URLs, for
    a local bare repository and for a local repository read at another ref)."""
    ref = source.settings.get("ref")
    local = Path(source.location)
    if local.is_absolute():
        local = require_local_root(local, roots)
        if not ref and git_layout(local) == "worktree":
            yield local
            return
        tmp = Path(tempfile.mkdtemp(prefix="devflow-git-"))
        try:
            await _clone_local(local, ref, tmp / "repo")
            yield tmp / "repo"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    remote = await pin_remote(
        source.location, allow_private=allow_private, networks=networks, resolver=resolver
    )
    tmp = Path(tempfile.mkdtemp(prefix="devflow-git-"))
    try:
        await _clone_remote(remote, ref, tmp / "repo", name=source.location)
        yield tmp / "repo"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _clone_remote(
    remote: PinnedRemote, ref: str | None, dest: Path, *, name: str | None = None
) -> None:
    """Clone the tip of `ref` (default: the remote's default branch) shallowly; where the
    server cannot serve a shallow clone (git's "dumb" HTTP, a plain web server over a bare
    repository), clone it whole. Where the remote's HEAD names a branch without commits (a
    bare repository made with another default than what was pushed to it), read the branch
    `pick_default_branch` chooses, as for a local repository.

    Raises:
        Invalid: git failed; no branch to read (`pick_default_branch`).
    """
    options = ["--quiet", "--no-tags"] + (["--branch", ref] if ref else [])
    try:
        await git("clone", "--depth", "1", *options, "--", remote.url, str(dest), remote=remote)
    except Invalid as exc:
        if "shallow" not in exc.message:
            raise
        shutil.rmtree(dest, ignore_errors=True)
        await git("clone", *options, "--", remote.url, str(dest), remote=remote)
    if ref or await _has_commit(dest):
        return
    try:  # git names the remote's HEAD after it even when it cloned nothing
        head = (await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=dest)).strip()
    except Invalid:
        head = ""
    listed = await git("ls-remote", "--heads", "--", remote.url, remote=remote)
    branches = [
        line.split("\trefs/heads/", 1)[1] for line in listed.splitlines() if "\trefs/heads/" in line
    ]
    branch = pick_default_branch(head, branches, name or remote.url)
    shutil.rmtree(dest, ignore_errors=True)
    await _clone_remote(remote, branch, dest, name=name)


async def _has_commit(tree: Path) -> bool:
    try:
        await git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=tree)
    except Invalid:
        return False
    return True


async def _clone_local(repo: Path, ref: str | None, dest: Path) -> None:
    """Check out `ref`, or the repository's default branch, of a local repository into `dest`
    (git reads the repository and writes nothing into it)."""
    branch = ref or await default_branch(repo)
    await git("clone", "--quiet", "--no-hardlinks", "--no-checkout", "--", str(repo), str(dest))
    await git("checkout", "--quiet", branch, "--", cwd=dest)


async def default_branch(repo: Path) -> str:
    """Return the branch of a local repository to read when no ref is given
    (`pick_default_branch`: HEAD's, or the likely one where HEAD's has no commit).

    Raises:
        Invalid: the repository has no branch, or several and none of them is the default.
    """
    try:
        head = (await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=repo)).strip()
    except Invalid:  # a detached HEAD names no branch
        head = ""
    listed = await git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=repo)
    return pick_default_branch(head, listed.split(), repo)


async def git_files(tree: Path) -> list[str]:
    """Return the supported files git tracks in `tree` (so .gitignore'd files are left out)."""
    out = await git("ls-files", "-z", "--cached", cwd=tree)
    return sorted(
        p
        for p in out.split("\0")
        if p and not PurePosixPath(p).name.startswith(".") and kind_of(p) is not None
    )


async def ingest_tree(
    sessions: async_sessionmaker[AsyncSession],
    *,
    source_id: uuid.UUID,
    root: Path,
    paths: list[str],
    settings: KnowledgeSettings,
    patterns: tuple[list[str], list[str]] = ([], []),
    progress: Callable[[CrawlStats], Awaitable[None]] | None = None,
) -> CrawlStats:
    """Store each file of `paths` (relative to `root`) as a document of the source."""
    include, exclude = patterns
    chosen = [
        p
        for p in paths
        if (not include or any(fnmatch.fnmatch(p, pat) for pat in include))
        and not any(fnmatch.fnmatch(p, pat) for pat in exclude)
    ]
    stats = CrawlStats(discovered=len(chosen))
    resolved_root = root.resolve()  # noqa: ASYNC240 - local metadata, no network
    for index, rel in enumerate(chosen):
        path = (root / rel).resolve()
        stats.fetched += 1
        async with unit_of_work(sessions) as session:
            source = await session.get(Source, source_id)
            if source is None:
                raise LookupError(f"source {source_id} is gone")
            error = _refuse(path, resolved_root, settings)
            if error is None:
                try:
                    data = path.read_bytes()
                    extracted = extract(data, name=rel)
                except ExtractionError as exc:
                    error = exc.message
                except OSError as exc:
                    error = f"cannot read: {exc.strerror or exc}"
            if error is not None:
                stats.failed += 1
                await record_failure(session, source=source, uri=rel, error=error)
            else:
                stored = await store_document(
                    session,
                    source=source,
                    uri=rel,
                    extracted=extracted,
                    settings=settings,
                    size=len(data),
                )
                if stored.outcome != "unchanged":
                    stats.chunked += 1
                    stats.new_chunks += stored.new_chunks
                else:
                    stats.unchanged += 1
        if progress is not None and (index % 20 == 0 or index == len(chosen) - 1):
            await progress(stats)
    return stats


def _refuse(path: Path, root: Path, settings: KnowledgeSettings) -> str | None:
    if root not in path.parents:
        return "outside the source's directory (a symbolic link?)"
    if not path.is_file():
        return "not a regular file"
    size = path.stat().st_size
    if size > settings.max_document_bytes:
        return f"{size} bytes is over the {settings.max_document_bytes}-byte limit"
    return None


__all__ = ["checkout", "git", "git_files", "ingest_tree", "list_directory"]
