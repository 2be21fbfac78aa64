"""A small client for DevFlow's HTTP API, used by the CLI commands that act on a running server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

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


class ApiClient:
    """Calls the API with a bearer token and turns error answers into DevflowErrors."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {token}"}
        )

    @classmethod
    def from_options(cls, *, url: str | None, token: str | None, home: Path) -> ApiClient:
        """Resolve URL and token: options, then DEVFLOW_URL/DEVFLOW_TOKEN, then credentials.

        Raises:
            Unauthenticated: no token anywhere.
        """
        creds = read_credentials(home / "credentials")
        url = url or os.environ.get("DEVFLOW_URL") or (creds.url if creds else None)
        token = token or os.environ.get("DEVFLOW_TOKEN") or (creds.token if creds else None)
        if not token:
            raise Unauthenticated(
                f"no token: start DevFlow with `devflow up` (it writes {home / 'credentials'}), "
                "or pass --token / set DEVFLOW_TOKEN"
            )
        return cls(url or "http://127.0.0.1:3737", token)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the decoded JSON body (None for 204)."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach DevFlow at {self.url} ({type(exc).__name__}); is `devflow up` "
                "running? Use --url or DEVFLOW_URL to point elsewhere."
            ) from None
        if response.status_code == 204:  # noqa: PLR2004
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            raise _api_error(response, body, path)
        return body

    def stream_events(
        self, path: str, body: dict[str, Any], *, timeout: float = 300.0
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """POST `body` and yield the (event, data) pairs of a Server-Sent Events answer.

        Raises:
            DevflowError: of the kind the server named, for an error answer or an `error` event.
            Unavailable: the server cannot be reached.
        """
        import orjson

        try:
            with self._http.stream("POST", path, json=body, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    try:
                        decoded = response.json()
                    except ValueError:
                        decoded = None
                    raise _api_error(response, decoded, path)
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
            raise Unavailable(
                f"cannot reach DevFlow at {self.url} ({type(exc).__name__}); is `devflow up` "
                "running? Use --url or DEVFLOW_URL to point elsewhere."
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET `path`."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST `path`."""
        return self.request("POST", path, **kwargs)
