"""What the protocol endpoints share: the blob store, download counting, auth, ranged downloads."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import DevflowError
from devflow.core.http import AppState
from devflow.registry.backends import blob_store_from_settings
from devflow.registry.downloads import DownloadRecorder, FileKey
from devflow.registry.models import PackageFile
from devflow.registry.ports import BlobStore

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SMALL = 1024 * 1024


@dataclass
class RegistryRuntime:
    """Per-process registry resources, made on first use."""

    store: BlobStore
    downloads: DownloadRecorder


def runtime(request: Request) -> RegistryRuntime:
    """Return this process's blob store and download recorder."""
    found: RegistryRuntime | None = getattr(request.app.state, "registry", None)
    if found is None:
        state: AppState = request.app.state.devflow
        found = RegistryRuntime(
            store=blob_store_from_settings(state.settings),
            downloads=DownloadRecorder(state.sessions),
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
