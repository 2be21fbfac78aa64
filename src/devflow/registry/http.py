"""What the protocol endpoints share: the blob store, download counting, auth, ranged downloads."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Protocol, TypeVar

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy import bindparam, literal_column, select
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import ClauseElement
from starlette.routing import Route

from devflow.core.auth import AUTHENTICATOR, Principal, token_from_authorization
from devflow.core.db import libpq_url, unit_of_work
from devflow.core.errors import DevflowError
from devflow.core.http import services_of
from devflow.core.services import Key, Services
from devflow.registry.downloads import DownloadRecorder, FileKey
from devflow.registry.models import Package, PackageFile, PackageVersion, Repository
from devflow.registry.ports import BLOB_STORE, BlobStore, BlobWriter
from devflow.registry.settings import RegistrySettings

K = TypeVar("K")
V = TypeVar("V")
_RANGE_RE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")  # ASCII, below 2**63
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


@dataclass(frozen=True)
class FileRef:
    """What serving a file needs, copied out of its row (files are immutable)."""

    id: uuid.UUID
    version_id: uuid.UUID
    package_id: uuid.UUID
    filename: str
    blob_sha256: str
    size: int
    metadata_sha256: str | None
    metadata_size: int


def file_ref(file: PackageFile, package_id: uuid.UUID) -> FileRef:
    """Return a cacheable reference to a loaded file row."""
    return FileRef(
        id=file.id,
        version_id=file.version_id,
        package_id=package_id,
        filename=file.filename,
        blob_sha256=file.blob_sha256,
        size=file.size,
        metadata_sha256=file.metadata_sha256,
        metadata_size=int(file.meta.get("metadata_size") or 0),
    )


@dataclass(frozen=True)
class Document:
    """A rendered index page and the files it links to (clients fetch those next)."""

    body: bytes
    files: tuple[FileRef, ...]


@dataclass(frozen=True)
class PackageHead:
    """A package's id and change counter: what decides whether a rendered page is current."""

    id: uuid.UUID
    revision: int


def _sql(stmt: ClauseElement) -> str:
    return str(stmt.compile(dialect=pg_dialect.dialect()))  # type: ignore[no-untyped-call]


_HEAD_SQL = _sql(
    select(Package.id, Package.revision).where(
        Package.repository_id == bindparam("repo"), Package.name == bindparam("name")
    )
)
_FILE_SQL = _sql(
    select(
        PackageFile.id,
        PackageFile.version_id,
        PackageVersion.package_id,
        PackageFile.filename,
        PackageFile.blob_sha256,
        PackageFile.size,
        PackageFile.metadata_sha256,
        PackageFile.meta.op("->>")(literal_column("'metadata_size'")),
    )
    .join(PackageVersion, PackageVersion.id == PackageFile.version_id)
    .where(
        PackageFile.repository_id == bindparam("repo"), PackageFile.filename == bindparam("name")
    )
)


class FastReads:
    """The hot protocol reads as single prepared statements on a few raw psycopg connections.

    Through an ORM session the same lookup costs about 4 ms of CPU; here about 0.25 ms. That
    makes it cheap to ask the database on every index request whether a package changed, so
    rendered pages can be cached without ever serving a stale one, in any process.
    """

    def __init__(self, url: str, *, size: int = 4, connect_timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = max(1, int(connect_timeout))
        self._idle: list[psycopg.AsyncConnection[tuple[Any, ...]]] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def _row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=self._timeout
                )
            try:
                cursor = await conn.execute(sql, params, prepare=True)
                row = await cursor.fetchone()
            except BaseException:
                await conn.close()  # a broken or cancelled connection is never reused
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append(conn)
            return row

    async def package_head(self, repo_id: uuid.UUID, name: str) -> PackageHead | None:
        """Return the package's id and revision, or None if the repository has no such package."""
        row = await self._row(_HEAD_SQL, {"repo": repo_id, "name": name})
        return None if row is None else PackageHead(row[0], row[1])

    async def file(self, repo_id: uuid.UUID, filename: str) -> FileRef | None:
        """Return a file of the repository by its stored name, or None."""
        row = await self._row(_FILE_SQL, {"repo": repo_id, "name": filename})
        if row is None:
            return None
        file_id, version_id, package_id, stored, sha256, size, metadata_sha256, metadata_size = row
        return FileRef(
            id=file_id,
            version_id=version_id,
            package_id=package_id,
            filename=stored,
            blob_sha256=sha256,
            size=size,
            metadata_sha256=metadata_sha256,
            metadata_size=int(metadata_size or 0),
        )

    async def close(self) -> None:
        """Close the idle connections (busy ones close when their statement returns)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


class BodyCache:
    """Bodies of small blobs by digest, within a byte budget (oldest out first).

    Blobs are content-addressed and never change, so an entry is never stale; access is checked
    before a body is looked up, so the cache reveals nothing.
    """

    def __init__(self, budget: int = 64 * 1024 * 1024, largest: int = 1024 * 1024) -> None:
        self._budget = budget
        self.largest = largest
        self._used = 0
        self._items: dict[str, bytes] = {}

    def get(self, digest: str) -> bytes | None:
        """Return a cached body, or None."""
        return self._items.get(digest)

    def put(self, digest: str, body: bytes) -> None:
        """Keep `body` if it is small enough, dropping the oldest entries to make room."""
        if len(body) > self.largest or digest in self._items:
            return
        while self._items and self._used + len(body) > self._budget:
            oldest = next(iter(self._items))
            self._used -= len(self._items.pop(oldest))
        self._items[digest] = body
        self._used += len(body)


@dataclass
class PendingUpload:
    """A blob upload in progress (OCI's chunked uploads), held by this server process."""

    id: str
    repository_id: uuid.UUID
    user_id: uuid.UUID
    writer: BlobWriter
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class RegistryRuntime:
    """Per-process registry resources, made on first use.

    Repositories and files are cached for `CACHE_SECONDS`: a visibility change or a deletion
    made through another server process takes effect there within that time. Rendered index
    pages are cached by (package id, revision) and the revision is read on every request, so a
    publish, yank or tag change shows at once in every process.
    """

    store: BlobStore
    downloads: DownloadRecorder
    read_sessions: async_sessionmaker[AsyncSession]
    reads: FastReads
    repositories: TtlCache[str, Repository] = field(default_factory=TtlCache)
    files: TtlCache[tuple[uuid.UUID, str], FileRef] = field(default_factory=TtlCache)
    # Rendered index documents keyed by (package id, revision, variant): a new revision is a new
    # key, so entries are never stale; the TTL only bounds memory.
    documents: TtlCache[tuple[uuid.UUID, int, str], Document] = field(
        default_factory=lambda: TtlCache(ttl=300.0, size=2_000)
    )
    bodies: BodyCache = field(default_factory=BodyCache)
    uploads: dict[str, PendingUpload] = field(default_factory=dict)


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


def make_runtime(services: Services) -> RegistryRuntime:
    """Build the registry's per-process resources (a provider of the process's services)."""
    return RegistryRuntime(
        store=services.get(BLOB_STORE),
        downloads=DownloadRecorder(services.sessions),
        read_sessions=async_sessionmaker(
            services.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
        ),
        reads=FastReads(
            libpq_url(services.database_url),
            connect_timeout=services.settings.database.connect_timeout,
        ),
    )


async def close_runtime(found: RegistryRuntime) -> None:
    """Abort the uploads in progress (they live in this process's memory), write the download
    counts and close the read connections."""
    while found.uploads:
        _, upload = found.uploads.popitem()
        await upload.writer.abort()
    await found.downloads.close()
    await found.reads.close()


REGISTRY_RUNTIME: Key[RegistryRuntime] = Key("registry runtime")


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


def hot_route(
    router: APIRouter, path: str, endpoint: Callable[[Request], Awaitable[Response]]
) -> Route:
    """Add a plain GET route to `router` and return it, for `web.middleware.HotRoutes`."""
    router.add_route(router.prefix + path, endpoint, methods=["GET"])
    route = router.routes[-1]
    assert isinstance(route, Route)  # noqa: S101 - add_route appends a Route
    return route


def protocol_endpoint(
    render: Callable[[DevflowError], Response],
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Wrap a plain Starlette endpoint so domain errors answer in a protocol's own format.

    The hot read routes (index pages, packuments, files) are plain endpoints: FastAPI's
    dependency resolution and parameter validation cost more than the rest of such a request.
    """

    def wrap(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except DevflowError as exc:
                return render(exc)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


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
    file: ServedFile,
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
        body = rt.bodies.get(digest)
        if body is None:
            body = await rt.store.read_all(digest)
            rt.bodies.put(digest, body)
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
