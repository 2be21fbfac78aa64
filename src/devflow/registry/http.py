"""What the protocol endpoints share: the blob store, download counting, auth, ranged downloads."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Principal
from devflow.core.errors import DevflowError
from devflow.core.http import AppState
from devflow.registry.backends import blob_store_from_settings
from devflow.registry.downloads import DownloadRecorder, FileKey
from devflow.registry.models import PackageFile, PackageVersion, Repository
from devflow.registry.ports import BlobStore

K = TypeVar("K")
V = TypeVar("V")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SMALL = 1024 * 1024


CACHE_SECONDS = 5.0
_CACHE_SIZE = 20_000


class TtlCache(Generic[K, V]):
    """A small per-process cache whose entries live `CACHE_SECONDS` (reads of hot metadata)."""

    def __init__(self, ttl: float = CACHE_SECONDS, size: int = _CACHE_SIZE) -> None:
        self._ttl = ttl
        self._size = size
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """Return a live entry, or None."""
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        """Remember `value` for the cache's lifetime."""
        if len(self._items) >= self._size:
            self._items.clear()  # crude, and enough: entries are cheap to reload
        self._items[key] = (time.monotonic() + self._ttl, value)

    def drop(self, key: K) -> None:
        """Forget an entry (after a change made by this process)."""
        self._items.pop(key, None)


@dataclass(frozen=True)
class FileRef:
    """What serving a file needs, copied out of the session (files are immutable)."""

    file: PackageFile
    package_id: uuid.UUID


@dataclass(frozen=True)
class Document:
    """A rendered index page and the files it links to (clients fetch those next)."""

    body: bytes
    files: tuple[FileRef, ...]


@dataclass
class RegistryRuntime:
    """Per-process registry resources, made on first use.

    The caches hold repositories and files for a few seconds: protocol reads of hot packages
    then need no database round trip. A visibility change or a deletion made through another
    server process takes effect there within `CACHE_SECONDS`.
    """

    store: BlobStore
    downloads: DownloadRecorder
    read_sessions: async_sessionmaker[AsyncSession]
    repositories: TtlCache[str, Repository] = field(default_factory=TtlCache)
    files: TtlCache[tuple[uuid.UUID, str], FileRef] = field(default_factory=TtlCache)
    # Rendered index documents keyed by (package id, revision, variant): a new revision is a new
    # key, so entries are never stale; the TTL only bounds memory.
    documents: TtlCache[tuple[uuid.UUID, int, str], Document] = field(
        default_factory=lambda: TtlCache(ttl=300.0, size=2_000)
    )


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
    request: Request, session: AsyncSession, name: str, fmt: str
) -> Repository | None:
    """Return a repository of format `fmt` by name, from the cache when it is fresh."""
    cache = runtime(request).repositories
    repo = cache.get(name)
    if repo is None:
        found = await session.scalar(select(Repository).where(Repository.name == name))
        if found is None:
            return None
        repo = _detached_repository(found)
        cache.put(name, repo)
    return repo if repo.format == fmt else None


async def cached_file(
    request: Request, session: AsyncSession, repo: Repository, filename: str
) -> FileRef | None:
    """Return a file of a repository with its package id, from the cache when fresh."""
    cache = runtime(request).files
    ref = cache.get((repo.id, filename))
    if ref is None:
        row = (
            await session.execute(
                select(PackageFile, PackageVersion.package_id)
                .join(PackageVersion, PackageVersion.id == PackageFile.version_id)
                .where(PackageFile.repository_id == repo.id, PackageFile.filename == filename)
            )
        ).one_or_none()
        if row is None:
            return None
        session.expunge(row[0])
        ref = FileRef(row[0], row[1])
        cache.put((repo.id, filename), ref)
    return ref


def remember_files(request: Request, repo: Repository, refs: tuple[FileRef, ...]) -> None:
    """Put the files an index page links to in the file cache: the client asks for them next."""
    cache = runtime(request).files
    for ref in refs:
        cache.put((repo.id, ref.file.filename), ref)


def detach_file(session: AsyncSession, file: PackageFile, package_id: uuid.UUID) -> FileRef:
    """Return a cacheable reference to a loaded file row."""
    session.expunge(file)
    return FileRef(file, package_id)


def forget_repository(request: Request, name: str) -> None:
    """Drop this process's cached copy of a repository after changing it."""
    found: RegistryRuntime | None = getattr(request.app.state, "registry", None)
    if found is not None:
        found.repositories.drop(name)


def runtime(request: Request) -> RegistryRuntime:
    """Return this process's blob store and download recorder."""
    found: RegistryRuntime | None = getattr(request.app.state, "registry", None)
    if found is None:
        state: AppState = request.app.state.devflow
        found = RegistryRuntime(
            store=blob_store_from_settings(state.settings),
            downloads=DownloadRecorder(state.sessions),
            read_sessions=async_sessionmaker(
                state.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            ),
        )
        request.app.state.registry = found
    return found


async def optional_principal(
    request: Request, session: AsyncSession, token: str | None
) -> Principal | None:
    """Authenticate `token` if there is one (bad tokens raise Unauthenticated)."""
    if token is None:
        return None
    state: AppState = request.app.state.devflow
    principal = await state.authenticate(session, token)
    request.state.principal = principal
    return principal


def _parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """Return (start, end) for a satisfiable range, None for none, False if unsatisfiable."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multi-range or garbage: serve the whole file, as RFC 9110 allows
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        if length == 0:
            return False
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


async def blob_response(
    request: Request,
    file: PackageFile,
    *,
    package_id: uuid.UUID,
    media_type: str,
    sha256: str | None = None,
    size: int | None = None,
    count: bool = True,
) -> Response:
    """Serve a stored file with `Range`, `ETag` and `Accept-Ranges`, and count the download."""
    rt = runtime(request)
    digest = sha256 or file.blob_sha256
    total = file.size if size is None else size
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    wanted = _parse_range(request.headers.get("range"), total)
    if wanted is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"})
    if (
        count
        and request.method == "GET"
        and (wanted is None or (isinstance(wanted, tuple) and wanted[0] == 0))
    ):
        key: FileKey = (file.id, file.version_id, package_id)
        rt.downloads.record(key)
    if request.method == "HEAD":
        return Response(headers={**headers, "Content-Length": str(total)}, media_type=media_type)
    if isinstance(wanted, tuple):
        start, end = wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingResponse(
            rt.store.read(digest, start=start, end=end),
            status_code=206,
            headers=headers,
            media_type=media_type,
        )
    headers["Content-Length"] = str(total)
    if total <= _SMALL:
        body = await rt.store.read_all(digest)
        return Response(body, headers=headers, media_type=media_type)
    return StreamingResponse(_iterate(rt.store, digest), headers=headers, media_type=media_type)


async def _iterate(store: BlobStore, digest: str) -> AsyncIterator[bytes]:
    async for chunk in store.read(digest):
        yield chunk


def protocol_route_class(render: Callable[[DevflowError], Response]) -> type[APIRoute]:
    """Return a route class that answers domain errors in a protocol's own error format."""

    class ProtocolRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except DevflowError as exc:
                    return render(exc)

            return answer

    return ProtocolRoute


def base_url(request: Request) -> str:
    """Return the configured external base URL (never taken from the Host header)."""
    state: AppState = request.app.state.devflow
    return state.settings.base_url


def upload_limit(request: Request) -> int:
    """Return the configured largest upload."""
    state: AppState = request.app.state.devflow
    return state.settings.registry.max_upload_bytes


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
