"""Knowledge services: sources, documents, uploads. Search and answers live in search.py/answer.py.

Every function takes the caller's `Principal` and checks the project role itself: reading needs
`read` in the source's project, changing sources needs `write`, and indexing a directory or
repository on the server's own disk needs an instance admin (it reads the server's files).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import events, jobs
from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from devflow.identity import Project, require_access, require_project, visible_project_ids
from devflow.knowledge.local import require_local_root
from devflow.knowledge.locations import (
    file_url_path,
    git_layout,
    not_a_location,
    scheme_of,
    suggested_url,
)
from devflow.knowledge.models import Document, Source
from devflow.knowledge.schemas import (
    DocumentContent,
    DocumentRead,
    SourceCreate,
    SourceRead,
)
from devflow.knowledge.settings import KnowledgeSettings

INGEST_TASK = "knowledge:ingest_source"
EMBED_TASK = "knowledge:embed_source"
LEXEME_STATS_TASK = "knowledge:refresh_lexeme_stats"
_GIT_URL = re.compile(r"^(?:https?://|ssh://|git@[\w.-]+:|git://)\S+$")


def guess_kind(location: str) -> str:
    """Guess a source's kind from its location (a folder on the server is `files` until
    `_local_dir`, after its checks, finds it a git repository)."""
    if location == "upload":
        return "files"
    if location.endswith(".git") or location.startswith(("git@", "ssh://", "git://")):
        return "git"
    parsed = urlsplit(location)
    if parsed.scheme in {"http", "https"}:
        if parsed.hostname in {"github.com", "gitlab.com", "codeberg.org", "bitbucket.org"}:
            parts = [p for p in parsed.path.split("/") if p]
            if len(parts) == 2:  # noqa: PLR2004 - owner/repo is a repository, deeper is a page
                return "git"
        return "web"
    return "files"


def _default_name(kind: str, location: str) -> str:
    if kind == "web":
        parsed = urlsplit(location)
        return (parsed.hostname or location) + parsed.path.rstrip("/")
    return PurePosixPath(location.rstrip("/")).name.removesuffix(".git") or location


def _check_location(
    kind: str,
    location: str,
    data: SourceCreate,
    principal: Principal,
    settings: KnowledgeSettings,
) -> tuple[str, str]:
    """Return the source's kind and location once the caller may read from there."""
    if data.settings.allow_private and not principal.is_instance_admin:
        raise PermissionDenied(
            "allow_private lets a source reach every private, loopback and link-local address; "
            "only an instance admin may set it. Ask one to add the source, or ask the operator "
            "to open its network to every source (DEVFLOW_KNOWLEDGE__PRIVATE_NETWORKS)",
            details={"reason": "allow_private_needs_admin"},
        )
    if kind == "web":
        parsed = urlsplit(location)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise Invalid(_not_a_web_address(location))
        _check_host(parsed.hostname, data, settings, what="an intranet site")
        return kind, location
    if kind == "git":
        if _GIT_URL.match(location):
            host = urlsplit(location).hostname or location.partition("@")[2].partition(":")[0]
            _check_host(host, data, settings, what="an internal git server")
            return kind, location
        return "git", _local_dir(location, principal, settings, need_git=True)
    if location == "upload":
        return kind, location
    path = _local_dir(location, principal, settings, need_git=False)
    # A repository given without a kind is read as one (honouring .gitignore), bare or not.
    guessed = "git" if data.kind is None and git_layout(Path(path)) is not None else kind
    return guessed, path


def _not_a_web_address(location: str) -> str:
    shown = location[:200]
    scheme = scheme_of(location)
    if scheme in {"http", "https"}:
        return f"{shown!r} has no host name: a web address reads {scheme}://host/path"
    if scheme is None and (url := suggested_url(location)) is not None:
        return f"{shown!r} is not a web address; did you mean {url} ?"
    return f"{shown!r} is not a web address; give one starting with http:// or https://"


def _check_host(host: str, data: SourceCreate, settings: KnowledgeSettings, *, what: str) -> None:
    """Refuse a literal private address the source may not reach (names are checked at fetch)."""
    if data.settings.allow_private or settings.allow_private_networks:
        return
    address = _private_literal(host)
    if address is None or any(address in network for network in settings.private_networks):
        return
    raise Invalid(
        f"{host} is a private or loopback address. If it is {what}, an instance admin may add "
        "the source with allow_private (CLI: --allow-private), or the operator may open its "
        "network to every source (DEVFLOW_KNOWLEDGE__PRIVATE_NETWORKS)",
        details={"reason": "private_address"},
    )


def _local_dir(
    location: str, principal: Principal, settings: KnowledgeSettings, *, need_git: bool
) -> str:
    path = Path(location)
    if not path.is_absolute():
        raise Invalid(not_a_location(location))
    # The server's file system is looked at only for an instance admin, and only under the
    # local roots: nobody else learns what exists there.
    principal.require_instance_admin()
    path = require_local_root(path, settings.local_roots)
    try:
        if not path.is_dir():
            raise Invalid(f"{location!r} is not a directory on the DevFlow server")
        if need_git and git_layout(path) is None:
            raise Invalid(
                f"{location!r} is not a git repository (no .git, and not a bare repository)"
            )
    except OSError as exc:  # a name too long, a loop of links
        raise Invalid(f"cannot read {location[:200]!r}: {exc.strerror}") from None
    return str(path)


def _private_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address if `host` names a non-public one literally (localhost included)."""
    lowered = host.lower()
    if lowered in {"localhost", "localhost.localdomain"} or lowered.endswith(".localhost"):
        return ipaddress.ip_address("127.0.0.1")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return None if ip.is_global else ip


async def _project_of(
    session: AsyncSession,
    *,
    principal: Principal,
    source: Source,
    role: Role,
    missing: str | None = None,
) -> Project:
    """Return the source's project if the caller holds `role` there; to anyone who holds no
    role, the source (or the document, `missing`) does not exist."""
    missing = missing or f"no source {source.id}"
    project = await session.get(Project, source.project_id)
    if project is None:
        raise NotFound(missing)
    require_access(principal, project, role, missing=missing)
    return project


async def require_source(
    session: AsyncSession,
    *,
    principal: Principal,
    source_id: uuid.UUID,
    role: Role = Role.READ,
    lock: bool = False,
) -> Source:
    """Return a source the caller may use with `role`; `lock` holds its row until the caller's
    transaction ends, so that it is not removed while documents are added to it.

    Raises:
        NotFound: no such source, or not one the caller can see.
        PermissionDenied: the caller's role is too low.
    """
    source = await session.get(
        Source, source_id, with_for_update={"key_share": True} if lock else None
    )
    if source is None:
        raise NotFound(f"no source {source_id}")
    await _project_of(session, principal=principal, source=source, role=role)
    return source


async def add_source(
    session: AsyncSession,
    *,
    principal: Principal,
    data: SourceCreate,
    settings: KnowledgeSettings,
) -> SourceRead:
    """Create a source and queue its ingestion (files sources named `upload` wait for uploads).

    Raises:
        Invalid: a bad location (not a URL, a private address, a missing directory).
        Conflict: the project has a source of that name.
        NotFound, PermissionDenied: the project.
    """
    project = await require_project(
        session, principal=principal, name=data.project, role=Role.WRITE
    )
    location = data.location.strip()
    location = file_url_path(location) or location  # file:///srv/docs is the folder /srv/docs
    kind, location = _check_location(
        data.kind or guess_kind(location), location, data, principal, settings
    )
    if data.settings.origin is not None and location != "upload":
        raise Invalid("settings.origin records where an upload source's files come from")
    name = (data.name or _default_name(kind, location))[:200]
    taken = await session.scalar(
        select(Source.id).where(Source.project_id == project.id, Source.name == name)
    )
    if taken is not None:
        raise Conflict(
            f"project {project.name!r} already has a source named {name!r}; pick --name",
            details={"reason": "name_taken", "source_id": str(taken)},
        )
    source_settings = data.settings.model_dump(exclude_none=True)
    source_settings.setdefault("max_depth", settings.crawl_max_depth)
    source_settings.setdefault("max_pages", settings.crawl_max_pages)
    source = Source(
        project_id=project.id,
        name=name,
        kind=kind,
        location=location,
        settings=source_settings,
        # An upload source is `empty` until files arrive (uploads.py moves it on from there).
        status="pending" if location != "upload" else "empty",
        generation=1,
        created_by=principal.user_id,
    )
    session.add(source)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"project {project.name!r} already has a source named {name!r}") from None
    if location != "upload":
        await _queue_ingest(session, source)
    await events.emit(
        session,
        type="knowledge.source.added",
        payload={"source_id": str(source.id), "name": name, "kind": kind},
        project_id=project.id,
        actor_id=principal.user_id,
    )
    return SourceRead.model_validate(source)


async def _queue_ingest(session: AsyncSession, source: Source) -> None:
    source.job_id = await jobs.defer(
        session,
        task=INGEST_TASK,
        args={"source_id": str(source.id)},
        project_id=source.project_id,
        queueing_lock=f"knowledge:ingest:{source.id}",
        lock=f"knowledge:source:{source.id}",
    )
    source.status = "queued"
    await session.flush()


async def queue_embedding(session: AsyncSession, *, source: Source) -> int:
    """Queue the job that embeds a source's chunks without vectors."""
    return await jobs.defer(
        session,
        task=EMBED_TASK,
        args={"source_id": str(source.id)},
        project_id=source.project_id,
        queueing_lock=f"knowledge:embed:{source.id}",
        lock=f"knowledge:source:{source.id}",
    )


async def refresh_source(
    session: AsyncSession, *, principal: Principal, source_id: uuid.UUID
) -> SourceRead:
    """Queue a refresh: unchanged pages are skipped (ETag, Last-Modified, content hash).

    Raises:
        NotFound, PermissionDenied: the source.
        Invalid: an upload source (its files are uploaded again instead).
    """
    source = await require_source(
        session, principal=principal, source_id=source_id, role=Role.WRITE
    )
    if source.location == "upload":
        raise Invalid(
            f"{source.name!r} holds uploaded files, which DevFlow cannot fetch again: upload "
            "them again (`devflow knowledge refresh` does it from the folder they came from)",
            details={"reason": "upload_source"},
        )
    source.generation += 1
    source.discovered = source.fetched = source.chunked = source.embedded = source.failed = 0
    await _queue_ingest(session, source)
    await events.emit(
        session,
        type="knowledge.source.refresh_queued",
        payload={"source_id": str(source.id), "job_id": source.job_id},
        project_id=source.project_id,
        actor_id=principal.user_id,
    )
    return SourceRead.model_validate(source)


async def remove_source(
    session: AsyncSession, *, principal: Principal, source_id: uuid.UUID
) -> None:
    """Delete a source with its documents, chunks and vectors.

    Raises:
        NotFound, PermissionDenied: the source.
    """
    source = await require_source(
        session, principal=principal, source_id=source_id, role=Role.WRITE
    )
    await session.delete(source)  # a large source goes in bulk (migration 0008's trigger)
    # BM25's document frequencies are rebuilt in the background (one job for any number of
    # removals), not while the caller waits.
    await jobs.defer(session, task=LEXEME_STATS_TASK, args={}, queueing_lock=LEXEME_STATS_TASK)
    await events.emit(
        session,
        type="knowledge.source.removed",
        payload={"source_id": str(source_id), "name": source.name},
        project_id=source.project_id,
        actor_id=principal.user_id,
    )
    await session.flush()


async def list_sources(
    session: AsyncSession, *, principal: Principal, project: str | None = None
) -> list[SourceRead]:
    """List the sources of one project, or of every project the caller can read."""
    principal.require_scope(Scope.READ)
    query = select(Source).order_by(Source.created_at)
    if project is not None:
        found = await require_project(session, principal=principal, name=project, role=Role.READ)
        query = query.where(Source.project_id == found.id)
    else:
        visible = visible_project_ids(principal)
        if visible is not None:
            query = query.where(Source.project_id.in_(visible))
    return [SourceRead.model_validate(s) for s in await session.scalars(query)]


async def get_source(
    session: AsyncSession, *, principal: Principal, source_id: uuid.UUID
) -> SourceRead:
    """Return a source with its status and counts.

    Raises:
        NotFound: no such source, or not one the caller can see.
    """
    source = await require_source(session, principal=principal, source_id=source_id)
    return SourceRead.model_validate(source)


async def find_source(
    session: AsyncSession, *, principal: Principal, ref: str, project: str | None = None
) -> SourceRead:
    """Return a source by id or name (names are looked up in `project`, default every one).

    Raises:
        NotFound: nothing matches; Conflict: the name is used in several projects.
    """
    try:
        return await get_source(session, principal=principal, source_id=uuid.UUID(ref))
    except ValueError:
        pass
    matches = [
        s
        for s in await list_sources(session, principal=principal, project=project)
        if s.name == ref
    ]
    if not matches:
        raise NotFound(f"no source named {ref!r}; `devflow knowledge list` shows them")
    if len(matches) > 1:
        raise Conflict(f"several projects have a source named {ref!r}; use its id or --project")
    return matches[0]


async def list_documents(
    session: AsyncSession,
    *,
    principal: Principal,
    source_id: uuid.UUID,
    offset: int = 0,
    limit: int = 50,
    failed_only: bool = False,
) -> tuple[list[DocumentRead], int]:
    """List a source's documents (with their per-document errors) and the total count."""
    await require_source(session, principal=principal, source_id=source_id)
    where = [Document.source_id == source_id]
    if failed_only:
        where.append(Document.error.is_not(None))
    total = await session.scalar(select(func.count()).select_from(Document).where(*where))
    rows = await session.scalars(
        select(Document).where(*where).order_by(Document.uri).offset(offset).limit(limit)
    )
    return [DocumentRead.model_validate(d) for d in rows], int(total or 0)


async def read_document(
    session: AsyncSession,
    *,
    principal: Principal,
    document_id: uuid.UUID | None = None,
    uri: str | None = None,
    source_id: uuid.UUID | None = None,
    start: int = 0,
    length: int | None = None,
) -> DocumentContent:
    """Return a document's Markdown, whole or the `length` characters from `start`.

    Find it by id, or by `uri` (a URL or path) within the sources the caller can read.

    Raises:
        Invalid: neither id nor uri, or a negative range.
        NotFound: no such document the caller can read.
    """
    if start < 0 or (length is not None and length < 1):
        raise Invalid("start must be 0 or more and length 1 or more")
    doc: Document | None
    if document_id is not None:
        doc = await session.get(Document, document_id)
    elif uri is not None:
        query = select(Document).where(Document.uri == uri)
        if source_id is not None:
            query = query.where(Document.source_id == source_id)
        visible = visible_project_ids(principal)
        if visible is not None:
            query = query.where(Document.project_id.in_(visible))
        doc = (await session.scalars(query.limit(1))).first()
    else:
        raise Invalid("give a document id or a uri")
    if doc is None:
        raise NotFound(f"no document {document_id or uri}")
    source = await session.get(Source, doc.source_id)
    if source is None:
        raise NotFound(f"no document {document_id or uri}")
    await _project_of(
        session,
        principal=principal,
        source=source,
        role=Role.READ,
        missing=f"no document {document_id or uri}",
    )
    end = len(doc.content) if length is None else min(len(doc.content), start + length)
    return DocumentContent(
        id=doc.id,
        source_id=doc.source_id,
        uri=doc.uri,
        title=doc.title,
        content_type=doc.content_type,
        language=doc.language,
        start=min(start, len(doc.content)),
        end=end,
        total_chars=len(doc.content),
        content=doc.content[start:end],
    )


__all__ = [
    "EMBED_TASK",
    "INGEST_TASK",
    "LEXEME_STATS_TASK",
    "add_source",
    "find_source",
    "get_source",
    "guess_kind",
    "list_documents",
    "list_sources",
    "queue_embedding",
    "read_document",
    "refresh_source",
    "remove_source",
    "require_source",
]
