"""Domain errors. Services raise these; each surface maps them once (HTTP, CLI, MCP)."""

from __future__ import annotations

from typing import Any, ClassVar


class DevflowError(Exception):
    """Base of every error a service raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Invalid(DevflowError):
    """The input is well-formed but not acceptable."""

    code = "invalid"
    status = 422


class NotFound(DevflowError):
    """The thing does not exist, or the caller may not know that it does."""

    code = "not_found"
    status = 404


class Conflict(DevflowError):
    """The change clashes with the current state (a duplicate name, an immutable version)."""

    code = "conflict"
    status = 409


class Unauthenticated(DevflowError):
    """No credentials, or credentials that are malformed, unknown, expired or revoked."""

    code = "unauthenticated"
    status = 401


class PermissionDenied(DevflowError):
    """The caller is known but may not do this."""

    code = "permission_denied"
    status = 403


class QuotaExceeded(DevflowError):
    """A budget or size limit would be crossed."""

    code = "quota_exceeded"
    status = 429


class Unavailable(DevflowError):
    """A dependency (the database, a provider) cannot be reached right now."""

    code = "unavailable"
    status = 503
