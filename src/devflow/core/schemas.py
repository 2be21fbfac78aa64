"""Shapes shared by every domain's API."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

# Bounds for numbers a caller sends, so that none overflows the database's columns on its way
# (PostgreSQL's bigint and integer) and answers 500 instead of saying what is wrong.
MAX_OFFSET = 10_000_000  # rows skipped by a listing
MAX_CHARS = 2**31 - 1  # a position or length in a text
MAX_ID = 2**63 - 1  # a bigint identifier (jobs, events)


class Page(BaseModel, Generic[T]):
    """A page of results."""

    items: list[T]
    total: int


class ErrorBody(BaseModel):
    """The body of every error answer."""

    code: str
    message: str
    details: dict[str, object] = {}


class ErrorResponse(BaseModel):
    """`{"error": {...}}`, the one error shape of the API."""

    error: ErrorBody


_ERROR_MEANINGS = {
    400: "The request is malformed (a NUL character, an unreadable body, a bad value).",
    401: "No token, or a malformed, unknown, expired or revoked one.",
    403: "The token lacks the scope, or the caller's role is too low.",
    404: "Not found, or not visible to the caller.",
    408: "The request body stopped arriving.",
    409: "A conflict: the name is taken, the version exists, or a concurrent change won.",
    413: "The request body is over the endpoint's limit.",
    422: "The request is invalid; `details.errors` lists each problem.",
    429: "Too many request bodies from this client at once.",
    503: "The database or a provider is unavailable; retry after `Retry-After` seconds.",
}


def error_responses(model: type[BaseModel] = ErrorResponse) -> dict[int | str, Any]:
    """Return the OpenAPI documentation of every error answer, with bodies shaped as `model`.

    Every route can answer each of these: the request guard and authentication apply to all.
    """
    return {s: {"description": m, "model": model} for s, m in _ERROR_MEANINGS.items()}


def text_error_responses() -> dict[int | str, Any]:
    """Return `error_responses()` for a protocol whose own errors are plain text (PyPI); the
    request guard's refusals stay in the API's JSON shape."""
    content = {
        "text/plain": {"schema": {"type": "string"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}},
    }
    return {s: {"description": m, "content": content} for s, m in _ERROR_MEANINGS.items()}
