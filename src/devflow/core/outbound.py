"""The one guarded outbound HTTP client (crawler, webhooks, integrations).

Every request DevFlow makes to a URL a user gave it goes through `OutboundClient`:

- timeouts on connect and on the whole response, a cap on the body size (streamed, so a huge
  answer is cut off after `max_bytes` instead of being read into memory) and on redirects;
- refusal of private, loopback, link-local, multicast and reserved addresses unless allowed.
  The check happens when the TCP connection is opened, on the address actually connected to:
  the host name is resolved once, every address is checked, and the socket is opened to a checked
  address. A name that resolves to a public address for a first lookup and a private one later
  (DNS rebinding) cannot slip through, and neither can a redirect to a private address.
- proxies from the environment are ignored (a proxy would connect on our behalf, unchecked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import httpcore
import httpx

from devflow.core.errors import DevflowError

Resolver = Callable[[str, int], Awaitable[list[str]]]
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

_REDIRECTS = {301, 302, 303, 307, 308}
_USER_AGENT = "DevFlow/0.1 (+https://github.com/devflow; knowledge crawler)"


class OutboundError(DevflowError):
    """An outbound request failed; `reason` is a short machine-readable cause."""

    code = "outbound_failed"
    status = 502

    def __init__(self, message: str, *, reason: str, url: str) -> None:
        super().__init__(message, details={"reason": reason, "url": url})
        self.reason = reason
        self.url = url


class AddressRefused(OutboundError):
    """The host resolves to an address DevFlow may not connect to."""

    code = "address_refused"
    status = 403


@dataclass(frozen=True)
class OutboundPolicy:
    """Limits of one client."""

    allow_private: bool = False
    private_networks: Networks = ()  # private networks allowed even without allow_private
    connect_timeout: float = 5.0
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = _USER_AGENT
    allowed_ports: frozenset[int] | None = None  # None: any port


@dataclass(frozen=True)
class FetchResult:
    """A complete response, after redirects."""

    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        """Return the media type without parameters (`text/html`)."""
        value: str = self.headers.get("content-type", "")
        return value.split(";", maxsplit=1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """Return the charset named by Content-Type, if any."""
        header: str = self.headers.get("content-type", "")
        for part in header.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"'")
        return None


def address_allowed(address: str, *, allow_private: bool, networks: Networks = ()) -> bool:
    """Return whether connecting to the IP `address` is allowed (`networks`: private networks
    an operator opened to everyone)."""
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return False
    if allow_private or any(ip in network for network in networks):
        return True
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the system resolver; return its addresses."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to an allowed address only."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._policy.allowed_ports is not None and port not in self._policy.allowed_ports:
            raise AddressRefused(
                f"port {port} is not allowed for outbound requests",
                reason="port_refused",
                url=f"{host}:{port}",
            )
        try:
            addresses = await self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = [
            a
            for a in addresses
            if address_allowed(
                a,
                allow_private=self._policy.allow_private,
                networks=self._policy.private_networks,
            )
        ]
        if not allowed:
            shown = ", ".join(addresses) or "nothing"
            raise AddressRefused(
                f"{host} resolves to {shown}: a private, loopback or link-local address. An "
                "instance admin may allow private networks for this source (allow_private), or "
                "an operator may open its network to every source "
                "(DEVFLOW_KNOWLEDGE__PRIVATE_NETWORKS) if it is an intranet site.",
                reason="private_address",
                url=f"{host}:{port}",
            )
        last: Exception | None = None
        for address in allowed:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # noqa: S101 - `allowed` is not empty
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        del path, timeout, socket_options
        raise AddressRefused("unix sockets are not allowed", reason="unix_socket", url="")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _transport(policy: OutboundPolicy, resolver: Resolver) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    # httpx does not take a network backend; swap its pool for one whose connections are checked.
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
        ssl_context=ssl.create_default_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_GuardedBackend(policy, resolver),
    )
    return transport


class OutboundClient:
    """An httpx client that only reaches allowed addresses, within size, time and redirect limits.

    Args:
        policy: the limits.
        resolver: host name -> addresses (injectable for tests; the system resolver by default).
        transport: replaces the guarded transport (tests of callers that need no network).
    """

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy or OutboundPolicy()
        self._http = httpx.AsyncClient(
            transport=transport or _transport(self.policy, resolver),
            timeout=httpx.Timeout(self.policy.timeout, connect=self.policy.connect_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": self.policy.user_agent},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        content: bytes | None = None,
    ) -> FetchResult:
        """Send a request, following redirects, and read the whole (size-limited) body.

        Raises:
            AddressRefused: a hop resolves to a refused address (or port).
            OutboundError: a bad URL, a network failure, a timeout, too many redirects, a
                redirect loop or a body over the limit (`reason` says which).
        """
        limit = self.policy.max_bytes if max_bytes is None else max_bytes
        seen: list[str] = []
        current = url
        while True:
            _check_url(current)
            seen.append(current)
            response = await self._send(method, current, headers, limit, content)
            if response.status not in _REDIRECTS:
                return FetchResult(
                    url=current,
                    status=response.status,
                    headers=response.headers,
                    content=response.content,
                    redirects=seen[:-1],
                )
            location = response.headers.get("location")
            if not location:
                return FetchResult(current, response.status, response.headers, b"", seen[:-1])
            target = str(httpx.URL(current).join(location))
            if target in seen:
                raise OutboundError(
                    f"redirect loop: {' -> '.join([*seen, target])}",
                    reason="redirect_loop",
                    url=url,
                )
            if len(seen) > self.policy.max_redirects:
                raise OutboundError(
                    f"more than {self.policy.max_redirects} redirects from {url}",
                    reason="too_many_redirects",
                    url=url,
                )
            if response.status == 303:  # noqa: PLR2004 - "see other" turns into a GET
                method, content = "GET", None
            current = target

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        limit: int,
        content: bytes | None,
    ) -> _Raw:
        try:
            async with self._http.stream(method, url, headers=headers, content=content) as resp:
                body = await _read_limited(resp, url, limit)
                return _Raw(resp.status_code, resp.headers, body)
        except OutboundError:
            raise
        except httpx.TimeoutException:
            raise OutboundError(f"timed out fetching {url}", reason="timeout", url=url) from None
        except httpx.UnsupportedProtocol:
            raise OutboundError(
                f"unsupported URL {url}: use http:// or https://", reason="bad_url", url=url
            ) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, OutboundError):
                raise cause from None
            raise OutboundError(
                f"cannot fetch {url}: {exc or type(exc).__name__}", reason="unreachable", url=url
            ) from None


async def _read_limited(resp: httpx.Response, url: str, limit: int) -> bytes:
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise OutboundError(
            f"{url} is {int(declared)} bytes, over the {limit}-byte limit",
            reason="too_large",
            url=url,
        )
    if resp.status_code in _REDIRECTS:
        return b""
    body = bytearray()
    async for piece in resp.aiter_bytes():
        body += piece
        if len(body) > limit:
            raise OutboundError(
                f"{url} is over the {limit}-byte limit", reason="too_large", url=url
            )
    return bytes(body)


class _CappedBody(httpx.AsyncByteStream):
    """A response body that fails once it grows past `limit` bytes (read as it streams)."""

    def __init__(self, inner: httpx.AsyncByteStream, *, limit: int, url: str) -> None:
        self._inner = inner
        self._limit = limit
        self._url = url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for piece in self._inner:
            seen += len(piece)
            if seen > self._limit:
                raise OutboundError(
                    f"{self._url} is over the {self._limit}-byte limit",
                    reason="too_large",
                    url=self._url,
                )
            yield piece

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CappedTransport(httpx.AsyncBaseTransport):
    """Refuses a response whose body is (or turns out to be) over the policy's `max_bytes`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        url = str(request.url)
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            raise OutboundError(
                f"{url} is {int(declared)} bytes, over the {self._limit}-byte limit",
                reason="too_large",
                url=url,
            )
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 - an async transport's
        response.stream = _CappedBody(stream, limit=self._limit, url=url)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_http_client(
    policy: OutboundPolicy,
    *,
    resolver: Resolver = system_resolver,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """Return an httpx client on the guarded transport, for SDKs that take one (`openai`).

    The same guards as `OutboundClient`: connections only to addresses (and ports) the policy
    allows, checked on the address actually connected to; the policy's timeouts; no proxies from
    the environment; no redirects followed (a 3xx is an error answer); each response body capped
    at `policy.max_bytes` while it streams. A refused address or a body over the cap raises
    `AddressRefused` or `OutboundError` (reason `too_large`) out of the request or the read.
    """
    return httpx.AsyncClient(
        transport=_CappedTransport(_transport(policy, resolver), limit=policy.max_bytes),
        timeout=httpx.Timeout(policy.timeout, connect=policy.connect_timeout),
        follow_redirects=False,
        trust_env=False,
        headers=headers,
    )


@dataclass(frozen=True)
class _Raw:
    status: int
    headers: httpx.Headers
    content: bytes


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise OutboundError(f"not a URL: {url!r} ({exc})", reason="bad_url", url=url) from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise OutboundError(
            f"not an http(s) URL: {url!r}; use http:// or https://", reason="bad_url", url=url
        )


__all__ = [
    "AddressRefused",
    "FetchResult",
    "OutboundClient",
    "OutboundError",
    "OutboundPolicy",
    "address_allowed",
    "guarded_http_client",
    "system_resolver",
]
