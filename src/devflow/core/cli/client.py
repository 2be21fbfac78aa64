"""A small client for DevFlow's HTTP API, used by the CLI commands that act on a running server.

How long it waits fits the operation: a read answers quickly or something is wrong; a change
(adding a source, a search that embeds the query, an upload) can take minutes on a busy server,
and giving up early is worse there, because the server goes on and finishes the work anyway.
The user's `--timeout` or `DEVFLOW_TIMEOUT` replaces every default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from devflow.core.auth import token_problem
from devflow.core.credentials import read_credentials
from devflow.core.errors import (
    Conflict,
    DevflowError,
    Invalid,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    Unauthenticated,
    Unavailable,
)

_KINDS = (
    Conflict,
    Invalid,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    Unauthenticated,
    Unavailable,
)
_BY_CODE: dict[str, type[DevflowError]] = {cls.code: cls for cls in _KINDS}
_BY_STATUS: dict[int, type[DevflowError]] = {cls.status: cls for cls in _KINDS}

TIMEOUT_ENV = "DEVFLOW_TIMEOUT"
READ_TIMEOUT = 30.0
"""Seconds a GET waits for its answer."""
WRITE_TIMEOUT = 120.0
"""Seconds a request that changes or computes something waits (POST, PUT, PATCH, DELETE)."""
UPLOAD_TIMEOUT = 600.0
"""Seconds a file upload waits: the server reads, stores and extracts every file first."""
STREAM_TIMEOUT = 300.0
"""Seconds a streamed answer may stay silent between two events."""
CONNECT_TIMEOUT = 10.0
"""Seconds to open the connection: a server that is up accepts at once, however busy."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The server's advice for a refused token, which the CLI gives in its own words.
_CREATE_ONE = re.compile(r"[;,.]?\s*create one with `devflow token create NAME`\.?$")


def error_class(code: str, status: int) -> type[DevflowError]:
    """Return the core error class of an API error: by its code, else by its HTTP status.

    A domain's own code (`budget_exceeded`, `llm_unavailable`) is not known here; its status says
    which kind it is, so the CLI still exits with the right code.
    """
    return _BY_CODE.get(code) or _BY_STATUS.get(status, DevflowError)


def _api_error(response: httpx.Response, body: Any, path: str) -> DevflowError:
    """Turn an error answer into the DevflowError it names."""
    error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
    cls = error_class(error.get("code", ""), response.status_code)
    return cls(
        error.get("message") or f"HTTP {response.status_code} from {path}",
        details=error.get("details") or {},
    )


def timeout_from_env() -> float | None:
    """Return the seconds `DEVFLOW_TIMEOUT` sets (0 = no limit), or None when it is unset.

    Raises:
        Invalid: the variable is not a number of seconds.
    """
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise Invalid(
            f"{TIMEOUT_ENV} must be a number of seconds (0 waits without a limit), not {raw!r}"
        )
    return seconds


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


class ApiClient:
    """Calls the API with a bearer token and turns error answers into DevflowErrors.

    Args:
        url: the server's base URL.
        token: the bearer token.
        timeout: seconds every request may wait for its answer, replacing the defaults that fit
            each operation (`READ_TIMEOUT`, `WRITE_TIMEOUT`, ...); 0 waits without a limit.
        token_source: where the token came from, named when the server refuses it.
        timeout_option: whether the command has a `--timeout` option to suggest on a timeout.
        transport: an httpx transport (tests use `httpx.MockTransport`).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float | None = None,
        token_source: str = "the token",  # noqa: S107 - words, not a secret
        timeout_option: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token_source = token_source
        self._timeout_option = timeout_option
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )

    @classmethod
    def from_options(
        cls,
        *,
        url: str | None,
        token: str | None,
        home: Path,
        timeout: float | None = None,
        timeout_option: bool = False,
    ) -> ApiClient:
        """Resolve URL, token and timeout: options, then DEVFLOW_URL/DEVFLOW_TOKEN/
        DEVFLOW_TIMEOUT, then the credentials file (and each operation's default timeout).

        Raises:
            Unauthenticated: no token anywhere, or one that cannot be a DevFlow token.
            Invalid: DEVFLOW_TIMEOUT is not a number of seconds.
        """
        creds_path = home / "credentials"
        creds = read_credentials(creds_path)
        url = url or os.environ.get("DEVFLOW_URL") or (creds.url if creds else None)
        if token:
            source = "--token"
        elif os.environ.get("DEVFLOW_TOKEN"):
            token, source = os.environ["DEVFLOW_TOKEN"], "DEVFLOW_TOKEN"
        elif creds:
            token, source = creds.token, str(creds_path)
        else:
            raise Unauthenticated(
                f"no token: start DevFlow with `devflow up` (it writes {creds_path}), "
                "or pass --token / set DEVFLOW_TOKEN"
            )
        problem = token_problem(token)
        if problem is not None:
            raise Unauthenticated(
                f"the token from {source} is not a DevFlow token: {problem}. Copy it again "
                "whole, or create one with `devflow token create NAME`"
            )
        return cls(
            url or "http://127.0.0.1:3737",
            token,
            timeout=timeout if timeout is not None else timeout_from_env(),
            token_source=f"the token from {source}",
            timeout_option=timeout_option,
        )

    def request(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """Send a request and return the decoded JSON body (None for 204).

        Args:
            method: the HTTP method.
            path: the path under the server's URL.
            timeout: seconds this operation may take, for one longer than its method's default;
                the user's `--timeout` / `DEVFLOW_TIMEOUT` still wins.
            kwargs: passed to httpx (`json`, `params`, `files` ...).

        Raises:
            DevflowError: of the kind the server named.
            Unavailable: the server cannot be reached, or did not answer in time.
        """
        method = method.upper()
        if timeout is None:
            if method in _SAFE_METHODS:
                timeout = READ_TIMEOUT
            else:
                timeout = UPLOAD_TIMEOUT if kwargs.get("files") else WRITE_TIMEOUT
        wait = self._wait(timeout)
        try:
            response = self._http.request(method, path, timeout=self._timeouts(wait), **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, method, path, wait) from None
        if response.status_code == 204:  # noqa: PLR2004
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            raise self._refused(_api_error(response, body, path))
        return body

    def stream_events(
        self, path: str, body: dict[str, Any], *, timeout: float | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """POST `body` and yield the (event, data) pairs of a Server-Sent Events answer.

        `timeout` is how long the stream may stay silent (default `STREAM_TIMEOUT`).

        Raises:
            DevflowError: of the kind the server named, for an error answer or an `error` event.
            Unavailable: the server cannot be reached, or stayed silent too long.
        """
        import orjson

        wait = self._wait(STREAM_TIMEOUT if timeout is None else timeout)
        try:
            with self._http.stream(
                "POST", path, json=body, timeout=self._timeouts(wait)
            ) as response:
                if response.is_error:
                    response.read()
                    try:
                        decoded = response.json()
                    except ValueError:
                        decoded = None
                    raise self._refused(_api_error(response, decoded, path))
                event = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = orjson.loads(line[5:].strip())
                        if event == "error":
                            cls = error_class(data.get("code", ""), data.get("status", 400))
                            raise cls(data.get("message") or "the server stopped the answer")
                        yield event, data
                        event = "message"
        except httpx.TransportError as exc:
            raise self._transport_error(exc, "POST", path, wait) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET `path`."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST `path`."""
        return self.request("POST", path, **kwargs)

    # -- timeouts and failures --------------------------------------------------------------------

    def _wait(self, operation_default: float) -> float | None:
        """Return the seconds to wait (None: no limit): the user's setting, else the operation's."""
        chosen = self.timeout if self.timeout is not None else operation_default
        return chosen or None

    @staticmethod
    def _timeouts(wait: float | None) -> httpx.Timeout:
        connect = CONNECT_TIMEOUT if wait is None else min(wait, CONNECT_TIMEOUT)
        return httpx.Timeout(wait, connect=connect)

    def _transport_error(
        self, exc: httpx.TransportError, method: str, path: str, wait: float | None
    ) -> Unavailable:
        """Say what a failed exchange means: not reached, no answer in time, or cut off."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return Unavailable(
                f"cannot reach DevFlow at {self.url} ({type(exc).__name__}); is `devflow up` "
                "running? Use --url or DEVFLOW_URL to point elsewhere."
            )
        changes = method not in _SAFE_METHODS
        if isinstance(exc, httpx.TimeoutException):
            what = f"did not answer {method} {path} within {_fmt_seconds(wait or 0)}"
        else:
            what = f"closed the connection before answering {method} {path} ({type(exc).__name__})"
        if changes:
            status = (
                "The server may still finish the request: check before sending it again "
                "(`devflow jobs list` shows the work it queued; list what you meant to create "
                "or change)."
            )
        else:
            status = "Nothing was changed; the server is busy or slow."
        more = f"{TIMEOUT_ENV}=SECONDS"
        if self._timeout_option:
            more = f"--timeout SECONDS or {more}"
        return Unavailable(
            f"DevFlow at {self.url} {what}. {status} To wait longer, run it again with {more} "
            "(0 waits without a limit).",
            details={"timeout": wait, "method": method, "path": path},
        )

    def _refused(self, error: DevflowError) -> DevflowError:
        """Add to a refused token's message where the token came from and what to do."""
        if not isinstance(error, Unauthenticated):
            return error
        said = _CREATE_ONE.sub("", error.message)  # said once, below
        return Unauthenticated(
            f"{said} ({self._token_source}, at {self.url}). Pass a valid token with "
            "--token or DEVFLOW_TOKEN, or create one with `devflow token create NAME`",
            details=error.details,
        )
