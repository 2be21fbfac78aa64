"""What the registry's protocol endpoints share: the cached repository and file lookups, the
caller, downloads, and the unit of work of uploads. Protocol-neutral pieces (hot routes, error
formats, ranged blob responses) are `core.protocol`'s; the per-process state, `runtime`'s.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import AUTHENTICATOR, Principal, token_from_authorization
from devflow.core.db import unit_of_work
from devflow.core.http import services_of
from devflow.core.protocol import serve_blob
from devflow.registry.downloads import FileKey
from devflow.registry.models import Package, Repository
from devflow.registry.runtime import (
    REGISTRY_RUNTIME,
    Document,
    FileRef,
    PackageHead,
    RegistryRuntime,
)
from devflow.registry.settings import RegistrySettings


class ServedFile(Protocol):
    """What `blob_response` needs of a file: a file row, a `FileRef`, or an OCI blob."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def version_id(self) -> uuid.UUID: ...
    @property
    def blob_sha256(self) -> str: ...
    @property
    def size(self) -> int: ...


def _detached_repository(repo: Repository) -> Repository:
    return Repository(
        id=repo.id,
        name=repo.name,
        project_id=repo.project_id,
        format=repo.format,
        kind=repo.kind,
        visibility=repo.visibility,
        description=repo.description,
        config=dict(repo.config),
        created_at=repo.created_at,
        created_by=repo.created_by,
    )


async def cached_repository(
    request: Request, session: AsyncSession | None, name: str, fmt: str
) -> Repository | None:
    """Return a repository of format `fmt` by name, from the cache when it is fresh.

    Without a session one is opened only on a cache miss.
    """
    rt = runtime(request)
    repo = rt.repositories.get(name)
    if repo is None:
        query = select(Repository).where(Repository.name == name)
        if session is None:
            async with rt.read_sessions() as own:
                found = await own.scalar(query)
        else:
            found = await session.scalar(query)
        if found is None:
            return None
        repo = _detached_repository(found)
        rt.repositories.put(name, repo)
    return repo if repo.format == fmt else None


async def cached_file(request: Request, repo: Repository, filename: str) -> FileRef | None:
    """Return a file of a repository with its package id, from the cache when fresh."""
    rt = runtime(request)
    ref = rt.files.get((repo.id, filename))
    if ref is None:
        ref = await rt.reads.file(repo.id, filename)
        if ref is None:
            return None
        rt.files.put((repo.id, filename), ref)
    return ref


def remember_files(request: Request, repo: Repository, refs: tuple[FileRef, ...]) -> None:
    """Put the files an index page links to in the file cache: the client asks for them next."""
    cache = runtime(request).files
    for ref in refs:
        cache.put((repo.id, ref.filename), ref)


async def current_document(
    request: Request,
    head: PackageHead,
    variant: str,
    render: Callable[[AsyncSession, Package], Awaitable[Document]],
) -> Document | None:
    """Return the package's rendered `variant` at the revision in `head`, rendering it on a miss.

    Returns None when the package was deleted since `head` was read.
    """
    rt = runtime(request)
    document = rt.documents.get((head.id, head.revision, variant))
    if document is None:
        async with rt.read_sessions() as session:
            package = await session.get(Package, head.id)
            if package is None:
                return None
            document = await render(session, package)
        # Keyed by the revision read before the rows it shows: a document is never older than
        # its key.
        rt.documents.put((package.id, package.revision, variant), document)
    return document


def forget_repository(request: Request, name: str) -> None:
    """Drop this process's cached copy of a repository after changing it."""
    runtime(request).repositories.drop(name)


def runtime(request: Request) -> RegistryRuntime:
    """Return this process's blob store, download recorder, caches and read connections."""
    return services_of(request).get(REGISTRY_RUNTIME)


async def optional_principal(
    request: Request, session: AsyncSession, token: str | None
) -> Principal | None:
    """Authenticate `token` if there is one (bad tokens raise Unauthenticated)."""
    if token is None:
        return None
    principal = await services_of(request).get(AUTHENTICATOR).authenticate(session, token)
    request.state.principal = principal
    return principal


async def caller(request: Request, session: AsyncSession | None = None) -> Principal | None:
    """Authenticate the request's `Authorization` header in any client's wire form.

    Without `session` one is opened only when there are credentials (and used only on a cache
    miss).
    """
    token = token_from_authorization(request.headers.get("authorization"))
    if token is None:
        return None
    if session is not None:
        return await optional_principal(request, session, token)
    async with runtime(request).read_sessions() as own:
        return await optional_principal(request, own, token)


async def blob_response(
    request: Request,
    file: ServedFile,
    *,
    package_id: uuid.UUID,
    media_type: str,
    sha256: str | None = None,
    size: int | None = None,
    count: bool = True,
) -> Response:
    """Serve a stored file with `Range`, `ETag` and `Accept-Ranges` (`core.protocol.serve_blob`),
    counting the download unless `count` is False; `sha256` and `size` serve another blob of the
    file (PyPI's `.metadata`)."""
    rt = runtime(request)
    counted = None
    if count:
        key: FileKey = (file.id, file.version_id, package_id)
        counted = partial(rt.downloads.record, key)
    return await serve_blob(
        request,
        rt.store,
        digest=sha256 or file.blob_sha256,
        size=file.size if size is None else size,
        media_type=media_type,
        bodies=rt.bodies,
        on_download=counted,
    )


def base_url(request: Request) -> str:
    """Return the configured external base URL (never taken from the Host header)."""
    return services_of(request).settings.base_url


def upload_limit(request: Request) -> int:
    """Return the configured largest upload."""
    return services_of(request).settings.section(RegistrySettings).max_upload_bytes


def write_unit(request: Request) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
    """Open the unit of work of a protocol write, once its request body has been read.

    Uploads authenticate through `caller(request)` (a short autocommit read), read their body
    with no database connection held, and only then open this transaction: a client that sends
    its body slowly, or never, holds no connection.
    """
    return unit_of_work(services_of(request).sessions)


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Open a session in autocommit mode for protocol reads: no BEGIN/COMMIT round trips, and
    no connection at all for a request the caches answer.

    Reads are single statements (or tolerate seeing commits between statements); the only write
    on this path, a token's `last_used_at`, commits on its own.
    """
    rt = runtime(request)
    async with rt.read_sessions() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]
