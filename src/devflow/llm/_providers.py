"""The SDK client of each provider, on the guarded outbound transport, and the raw requests.

Provider base URLs are operator settings, never user input (docs/llm.md), and a local Ollama or a
vLLM on the private network is normal. So the transport's address policy for providers allows
public addresses, loopback and the private ranges (RFC 1918, carrier-grade NAT, IPv6 unique local),
and refuses link-local ones, where cloud metadata services answer (169.254.169.254, fe80::/10),
the two metadata addresses inside private ranges (Alibaba's 100.100.100.200, AWS's
fd00:ec2::254), and multicast, reserved and unspecified addresses. Every other guard of the
transport is on: the provider's timeouts, a cap on the response body, no redirects followed, no
proxies from the environment.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import openai
import orjson

from devflow.core.outbound import (
    Networks,
    OutboundPolicy,
    guarded_http_client,
)
from devflow.llm._routing import Target
from devflow.llm.errors import BadProviderResponse
from devflow.llm.keys import ReferenceResolver, is_indirect, resolve_api_key
from devflow.llm.results import Tags, parse_completion
from devflow.llm.settings import LLMProviderSettings, LLMSettings
from devflow.llm.tokens import estimate_tokens

_METADATA = ("100.100.100.200/32", "fd00:ec2::254/128")
_PRIVATE = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
)


def _provider_networks() -> Networks:
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    metadata = [ipaddress.ip_network(m) for m in _METADATA]
    for text in _PRIVATE:
        parts = [ipaddress.ip_network(text)]
        for hole in metadata:
            parts = [
                piece
                for part in parts
                for piece in (
                    part.address_exclude(hole)  # type: ignore[arg-type]
                    if part.version == hole.version and hole.subnet_of(part)  # type: ignore[arg-type]
                    else [part]
                )
            ]
        found.extend(parts)
    return tuple(found)


T = TypeVar("T")

PROVIDER_NETWORKS: Networks = _provider_networks()
"""Private networks a configured provider may be on (loopback, RFC 1918, CGNAT, IPv6 ULA, less
the metadata addresses inside them); public addresses are allowed as well."""


def provider_policy(conf: LLMProviderSettings) -> OutboundPolicy:
    """Return the guarded transport's policy for one configured provider."""
    return OutboundPolicy(
        allow_private=False,
        private_networks=PROVIDER_NETWORKS,
        connect_timeout=conf.connect_timeout,
        timeout=conf.timeout,
        max_bytes=conf.max_response_bytes,
        max_redirects=0,
    )


class Providers:
    """One `openai.AsyncOpenAI` per provider, made on first use, with its own retries off.

    The key is resolved when the provider's client is first made. A key that is looked up
    (`env:`, `secret://`, `op://`) is looked up again when the provider answers 401: a changed
    key makes a new client and the request is sent once more with it; an unchanged one lets the
    401 through. So a rotated key is picked up by the first call the old one fails, with no
    lookup (nor audit record) per call. A client replaced that way is closed with the others
    (a stream may still be reading from it).
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        environ: Mapping[str, str] | None,
        dotenv: Path,
        resolve_reference: ReferenceResolver | None = None,
    ) -> None:
        self._settings = settings
        self._environ = environ
        self._dotenv = dotenv
        self._resolve_reference = resolve_reference
        self._sdks: dict[str, openai.AsyncOpenAI] = {}
        self._keys: dict[str, str | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._replaced: list[openai.AsyncOpenAI] = []

    async def sdk(self, provider: str) -> openai.AsyncOpenAI:
        """Return the SDK client of a provider (its own retries off: ours do not stack on them).

        Raises:
            Invalid, NotFound, Unavailable: the provider's API key is missing or cannot be read
                (the message names the provider and the reference, never the key).
        """
        sdk = self._sdks.get(provider)
        if sdk is None:
            async with self._lock(provider):
                sdk = self._sdks.get(provider)
                if sdk is None:
                    key = await self._key(provider)
                    sdk = self._sdks[provider] = self._make(provider, key)
                    self._keys[provider] = key
        return sdk

    async def aclose(self) -> None:
        """Close every provider's connections."""
        for sdk in [*self._sdks.values(), *self._replaced]:
            await sdk.close()
        self._sdks.clear()
        self._keys.clear()
        self._replaced.clear()

    def _lock(self, provider: str) -> asyncio.Lock:
        return self._locks.setdefault(provider, asyncio.Lock())

    async def _key(self, provider: str) -> str | None:
        conf = self._settings.providers[provider]
        return await resolve_api_key(
            provider,
            conf,
            resolve_reference=self._resolve_reference,
            environ=self._environ,
            dotenv=self._dotenv,
        )

    def _make(self, provider: str, key: str | None) -> openai.AsyncOpenAI:
        conf = self._settings.providers[provider]
        return openai.AsyncOpenAI(
            api_key=key or "unused",
            base_url=conf.base_url,
            timeout=openai.Timeout(conf.timeout, connect=conf.connect_timeout),
            max_retries=0,
            default_headers=conf.headers or None,
            # The SDK takes an httpx client as well as an httpx2 one (it checks at run time); its
            # annotation names httpx2 only.
            http_client=guarded_http_client(provider_policy(conf)),  # type: ignore[arg-type]
        )

    async def _renewed(
        self, provider: str, refused: openai.AsyncOpenAI
    ) -> openai.AsyncOpenAI | None:
        """After `refused` got a 401: the client with the key as it is now, or None when the
        key has not changed (or is given directly)."""
        if not is_indirect(self._settings.providers[provider]):
            return None
        async with self._lock(provider):
            current = self._sdks.get(provider)
            if current is not None and current is not refused:
                return current  # another call renewed it meanwhile
            key = await self._key(provider)
            if key == self._keys.get(provider):
                return None
            renewed = self._sdks[provider] = self._make(provider, key)
            self._keys[provider] = key
            if current is not None:
                self._replaced.append(current)
            return renewed

    async def _send(self, provider: str, call: Callable[[openai.AsyncOpenAI], Awaitable[T]]) -> T:
        """Make one request; on a 401, once more if the key has changed since (rotation)."""
        sdk = await self.sdk(provider)
        try:
            return await call(sdk)
        except openai.AuthenticationError:
            renewed = await self._renewed(provider, sdk)
            if renewed is None:
                raise
        return await call(renewed)

    def _headers(self, tags: Tags) -> dict[str, str]:
        return tags.headers(self._settings.metadata_header_prefix)

    async def send_chat(
        self,
        target: Target,
        *,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        tags: Tags,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Send one chat completion; return its checked body and its headers.

        Raises:
            BadProviderResponse: the body is not JSON or not a chat completion.
        """
        raw = await self._send(
            target.provider,
            lambda sdk: sdk.chat.completions.with_raw_response.create(
                model=target.model,
                messages=messages,  # type: ignore[arg-type]
                extra_headers=self._headers(tags),
                **params,
            ),
        )
        try:
            body = orjson.loads(raw.http_response.content)
        except orjson.JSONDecodeError:
            raise BadProviderResponse(
                f"{target} returned a body that is not JSON "
                f"({raw.http_response.headers.get('content-type', 'no content type')}): "
                f"{raw.http_response.text[:200]!r}"
            ) from None
        parse_completion(body, provider=target.provider, model=target.model)
        return body, raw.http_response.headers

    async def open_stream(
        self,
        target: Target,
        *,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        tags: Tags,
    ) -> tuple[Any, Any]:
        """Open a streamed chat completion; return the SDK stream and its first chunk.

        Raises:
            BadProviderResponse: the stream ended before its first chunk.
        """

        # The SDK's overloads cannot type a parameter dict; the request is built as JSON anyway.
        def create(sdk: openai.AsyncOpenAI) -> Awaitable[Any]:
            start: Any = sdk.chat.completions.create
            return start(  # type: ignore[no-any-return]
                model=target.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=self._headers(tags),
                **params,
            )

        sdk_stream = await self._send(target.provider, create)
        try:
            first = await sdk_stream.__anext__()
        except StopAsyncIteration:
            await sdk_stream.close()
            raise BadProviderResponse(f"{target} ended the stream without a chunk") from None
        except BaseException:
            await sdk_stream.close()
            raise
        return sdk_stream, first

    async def send_embed(
        self,
        target: Target,
        *,
        batch: list[str],
        params: Mapping[str, Any],
        tags: Tags,
    ) -> tuple[list[list[float]], int, str | None]:
        """Embed one batch; return its vectors, the tokens used and the cost header, if any.

        Raises:
            BadProviderResponse: the answer does not hold one embedding per text.
        """
        raw = await self._send(
            target.provider,
            lambda sdk: sdk.embeddings.with_raw_response.create(
                model=target.model,
                input=batch,
                extra_headers=self._headers(tags),
                **params,
            ),
        )
        parsed: Any = raw.parse()
        data = getattr(parsed, "data", None)
        if not isinstance(data, list) or len(data) != len(batch):
            raise BadProviderResponse(
                f"{target} did not answer with {len(batch)} embeddings: {str(parsed)[:200]!r}"
            )
        vectors = [list(item.embedding) for item in sorted(data, key=lambda d: d.index)]
        usage = getattr(parsed, "usage", None)
        used = int(getattr(usage, "prompt_tokens", 0) or sum(map(estimate_tokens, batch)))
        conf = self._settings.providers[target.provider]
        return vectors, used, raw.headers.get(conf.cost_header)
