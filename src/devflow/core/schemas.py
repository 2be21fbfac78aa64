"""Shapes shared by every domain's API."""

from __future__ import annotations

from typing import Generic, TypeVar

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
