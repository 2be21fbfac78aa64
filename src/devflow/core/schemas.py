"""Shapes shared by every domain's API."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


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
