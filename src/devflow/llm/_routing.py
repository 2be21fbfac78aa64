"""Where a call goes: alias chains, retries with backoff, fallback and per-provider breakers.

Only 429, 408/409/425, 5xx, timeouts and lost connections are retried, then the next model of the
chain is tried. A refusal (other 4xx), a body that is not a completion, or a provider address the
transport will not connect to stops the call at once, naming `provider/model`: a configuration
error must not be hidden by a quiet switch to another model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

import openai

from devflow.core import clock as wall_clock
from devflow.core.errors import DevflowError, Invalid
from devflow.core.outbound import OutboundError
from devflow.llm.breaker import CircuitBreaker
from devflow.llm.errors import BadProviderResponse, ProviderRejected, ProvidersUnavailable
from devflow.llm.settings import LLMSettings

T = TypeVar("T")
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_SERVER_ERROR = 500


@dataclass(frozen=True)
class Target:
    """One `provider/model` of a fallback chain."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


def resolve(settings: LLMSettings, model: str) -> tuple[Target, ...]:
    """Return the fallback chain of an alias, or the one target of `provider/model`.

    Raises:
        Invalid: an unknown alias or provider, or an empty chain.
    """
    if model in settings.aliases:
        chain = settings.aliases[model]
    elif "/" in model:
        chain = [model]
    else:
        known = ", ".join(sorted(settings.aliases)) or "none"
        raise Invalid(
            f"unknown model alias {model!r} (known aliases: {known}); name a configured "
            "alias or `provider/model`"
        )
    if not chain:
        raise Invalid(f"model alias {model!r} has an empty fallback chain")
    targets = []
    for entry in chain:
        provider, _, name = entry.partition("/")
        if provider not in settings.providers:
            known = ", ".join(sorted(settings.providers)) or "none"
            raise Invalid(
                f"{model!r} names provider {provider!r}, which is not configured "
                f"(configured providers: {known})"
            )
        targets.append(Target(provider, name))
    return tuple(targets)


@dataclass
class Attempts:
    """What a fallback loop did, for the usage row of the call (failed or not)."""

    target: Target | None = None
    count: int = 0


class Router:
    """Runs one send through a chain: retries, backoff, fallback and circuit breakers.

    Args:
        settings: the `llm` settings (retries per provider, backoff, breaker limits).
        sleep, monotonic, rand: injected, so retry timing and breakers are tested without waiting.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        sleep: Callable[[float], Awaitable[None]],
        monotonic: Callable[[], float],
        rand: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._rand = rand
        self.breakers = {
            name: CircuitBreaker(
                threshold=settings.breaker_threshold,
                cooldown=settings.breaker_cooldown,
                clock=monotonic,
            )
            for name in settings.providers
        }

    async def call(
        self,
        alias: str,
        targets: tuple[Target, ...],
        send: Callable[[Target], Awaitable[T]],
        attempts: Attempts,
    ) -> tuple[Target, T]:
        """Return the first target that answered and its answer.

        Raises:
            ProviderRejected: a target refused the request or its address (not retried).
            BadProviderResponse: a target answered with something that is not an answer.
            ProvidersUnavailable: every target failed or was skipped by its breaker.
        """
        failures: list[str] = []
        for target in targets:
            breaker = self.breakers[target.provider]
            if not breaker.allow():
                failures.append(f"{target}: skipped, circuit breaker open")
                continue
            retries = self._settings.providers[target.provider].max_retries
            for attempt in range(retries + 1):
                attempts.target = target
                attempts.count += 1
                try:
                    value = await send(target)
                except (openai.APIConnectionError, openai.APIStatusError) as exc:
                    if not retryable(exc):
                        raise rejected(target, exc) from None
                    breaker.record_failure()
                    failures.append(f"{target}: {describe(exc)}")
                    delay = self.delay(attempt, retry_after(exc))
                    if attempt == retries or delay is None or not breaker.allow():
                        break
                    await self._sleep(delay)
                    continue
                except BadProviderResponse:
                    breaker.record_failure()
                    raise
                except OutboundError as exc:
                    if exc.reason == "too_large":
                        breaker.record_failure()
                    raise transport_refused(target, exc) from None
                breaker.record_success()
                return target, value
        raise ProvidersUnavailable(
            f"no model of {alias!r} answered: " + "; ".join(failures),
            details={"alias": alias, "failures": failures},
        )

    def broke(self, target: Target) -> None:
        """Count a stream that broke after its first piece against its provider."""
        self.breakers[target.provider].record_failure()

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Return the wait before the next try; None when Retry-After asks for too long."""
        if retry_after is not None:
            if retry_after > self._settings.backoff_max:
                return None  # the next model of the chain is the better bet
            return retry_after * (1 + 0.1 * self._rand())
        ceiling = min(self._settings.backoff_max, self._settings.backoff_base * 2.0**attempt)
        return ceiling / 2 + ceiling / 2 * self._rand()


def retryable(exc: openai.APIConnectionError | openai.APIStatusError) -> bool:
    """Return whether a failed try may be repeated (rate limits, 5xx, timeouts, lost links)."""
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= _SERVER_ERROR


def retry_after(exc: Exception) -> float | None:
    """Return the wait the provider asked for (Retry-After, in seconds or as a date)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - wall_clock.now()).total_seconds())


def describe(exc: BaseException) -> str:
    """Return a short, key-free account of a failure for error messages and usage rows."""
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"connection failed ({type(cause).__name__ if cause else 'no detail'})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_provider_message(exc)}"
    if isinstance(exc, DevflowError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)[:300]
    return exc.message[:300]


def rejected(
    target: Target, exc: openai.APIStatusError | openai.APIConnectionError
) -> DevflowError:
    """Return the error of a request the provider refused (a 4xx that is not worth repeating)."""
    assert isinstance(exc, openai.APIStatusError)  # noqa: S101 - connection errors are retryable
    hint = ""
    if exc.status_code in {401, 403}:
        hint = f" (check the API key of provider {target.provider!r})"
    elif exc.status_code == 404:  # noqa: PLR2004
        hint = f" (does provider {target.provider!r} serve model {target.model!r}?)"
    return ProviderRejected(
        f"{target} refused the request: HTTP {exc.status_code}: {_provider_message(exc)}{hint}",
        details={"provider": target.provider, "model": target.model, "status": exc.status_code},
    )


def transport_refused(target: Target, exc: OutboundError) -> DevflowError:
    """Return the error of a call the guarded transport stopped (an address, a body too big)."""
    details: Mapping[str, str] = {
        "provider": target.provider,
        "model": target.model,
        "reason": exc.reason,
    }
    if exc.reason == "too_large":
        return BadProviderResponse(
            f"{target} answered with a body over its provider's max_response_bytes ({exc.message})",
            details=dict(details),
        )
    return ProviderRejected(
        f"{target}: the guarded transport refused to connect to {exc.url} ({exc.reason}): "
        "LLM providers may be on public, private-network or loopback addresses, never on "
        "link-local, multicast, reserved or cloud-metadata ones; check the base_url of "
        f"provider {target.provider!r}",
        details=dict(details),
    )
