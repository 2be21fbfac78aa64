"""One JSON error shape for the whole API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException

from devflow.core.errors import DevflowError
from devflow.core.http import domain_error_response, error_response

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


# Pydantic prefixes the message a validator raises; the message itself says what to do.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def _plain(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    if error["type"] in {"literal_error", "enum"}:
        # Pydantic lists the choices as code ("Input should be 'a', 'b' or 'c'").
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = expected.replace("'", "").replace(" or ", ", ")
        return f"{error.get('input')!r} is not allowed: choose one of {choices}"
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def install_error_handlers(app: FastAPI) -> None:
    """Map domain and validation errors to the standard shape (crashes: see middleware)."""

    @app.exception_handler(DevflowError)
    async def domain_error(_: Request, exc: DevflowError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p != "body"),
                "problem": _plain(err),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems[:5])
        return error_response(
            422, "invalid", f"the request is invalid: {summary}", {"errors": problems}
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(sa.TimeoutError)
    async def pool_exhausted(_: Request, exc: sa.TimeoutError) -> JSONResponse:
        del exc
        return error_response(
            503,
            "unavailable",
            "every database connection of this server is busy; retry shortly (or raise "
            "DEVFLOW_DATABASE__POOL_SIZE)",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(sa.IntegrityError)
    async def concurrent_change(_: Request, exc: sa.IntegrityError) -> JSONResponse:
        # Services lock or check what they write against; this answers the rest of the races
        # (a row removed or a name taken by another request meanwhile) as what they are.
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        return error_response(
            409,
            "conflict",
            "another request changed or removed what this one refers to meanwhile; retry",
            {"constraint": constraint} if constraint else None,
        )

    @app.exception_handler(sa.DataError)
    async def unstorable_value(_: Request, exc: sa.DataError) -> JSONResponse:
        # The last line of defence behind the edges' own validation: a value PostgreSQL
        # cannot store (a NUL character in text, a number out of its column's range) is the
        # caller's mistake, and the transaction has rolled back.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "invalid value"
        return error_response(
            400, "bad_request", f"the request carries a value that cannot be stored: {reason}"
        )
