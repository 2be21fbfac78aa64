"""What protocol endpoints share, whatever the domain: the registry's formats now, git, CI
artifacts and uploads next.

- `hot_route` adds a plain Starlette endpoint (no dependency injection) that
  `web.middleware.HotRoutes` matches before FastAPI's router: for reads clients make by the
  thousand, FastAPI's linear route match and parameter validation cost more than the read.
- `protocol_endpoint` and `protocol_route_class` answer domain errors in a protocol's own error
  format (PyPI plain text, npm `{"error": …}`), from the errors the REST API maps to JSON.
- `serve_blob` serves a stored blob with `ETag`, `If-None-Match`, `Range` (one range, RFC 9110)
  and `Accept-Ranges`; small bodies come from a `BodyCache`, which, blobs being immutable, is
  never stale. Callers check access before they call it: the cache reveals nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.routing import Route

from devflow.core.blobs import BlobStore
from devflow.core.errors import DevflowError

Endpoint = Callable[[Request], Awaitable[Response]]

_RANGE_RE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")  # ASCII, below 2**63
SMALL_BODY = 1024 * 1024
"""Bodies up to this size are read whole (and may be cached); larger ones are streamed."""


def hot_route(router: APIRouter, path: str, endpoint: Endpoint) -> Route:
    """Add a plain GET route to `router` and return it, for `web.middleware.HotRoutes`."""
    router.add_route(router.prefix + path, endpoint, methods=["GET"])
    route = router.routes[-1]
    assert isinstance(route, Route)  # noqa: S101 - add_route appends a Route
    return route


def protocol_endpoint(render: Callable[[DevflowError], Response]) -> Callable[[Endpoint], Endpoint]:
    """Wrap a plain Starlette endpoint so domain errors answer in a protocol's own format."""

    def wrap(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except DevflowError as exc:
                return render(exc)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


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


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
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


class BodyCache:
    """Bodies of small blobs by digest, within a byte budget (oldest out first).

    Blobs are content-addressed and never change, so an entry is never stale; access is checked
    before a body is looked up, so the cache reveals nothing.
    """

    def __init__(self, budget: int = 64 * 1024 * 1024, largest: int = SMALL_BODY) -> None:
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


async def serve_blob(
    request: Request,
    store: BlobStore,
    *,
    digest: str,
    size: int,
    media_type: str,
    bodies: BodyCache | None = None,
    on_download: Callable[[], object] | None = None,
) -> Response:
    """Serve blob `digest` (`size` bytes) with `Range`, `ETag` and `Accept-Ranges`.

    `on_download` is called for a GET of the whole blob or of its start (a resumed download is
    not counted twice); `bodies` caches the bodies of small blobs.
    """
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    wanted = parse_range(request.headers.get("range"), size)
    if wanted is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if (
        on_download is not None
        and request.method == "GET"
        and (wanted is None or (isinstance(wanted, tuple) and wanted[0] == 0))
    ):
        on_download()
    if request.method == "HEAD":
        return Response(headers={**headers, "Content-Length": str(size)}, media_type=media_type)
    if isinstance(wanted, tuple):
        start, end = wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingResponse(
            store.read(digest, start=start, end=end),
            status_code=206,
            headers=headers,
            media_type=media_type,
        )
    headers["Content-Length"] = str(size)
    if size <= SMALL_BODY:
        body = None if bodies is None else bodies.get(digest)
        if body is None:
            body = await store.read_all(digest)
            if bodies is not None:
                bodies.put(digest, body)
        return Response(body, headers=headers, media_type=media_type)
    return StreamingResponse(_iterate(store, digest), headers=headers, media_type=media_type)


async def _iterate(store: BlobStore, digest: str) -> AsyncIterator[bytes]:
    async for chunk in store.read(digest):
        yield chunk


__all__ = [
    "SMALL_BODY",
    "BodyCache",
    "Endpoint",
    "hot_route",
    "parse_range",
    "protocol_endpoint",
    "protocol_route_class",
    "serve_blob",
]
