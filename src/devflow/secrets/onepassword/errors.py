"""Errors of 1Password resolution. Each names the reference it is about, never a value."""

from __future__ import annotations

from devflow.core.errors import DevflowError, NotFound, Unavailable


class OnePasswordError(DevflowError):
    """Resolving a 1Password reference failed; `reference` is the `op://…` text (not secret)."""

    code = "onepassword_failed"
    status = 502

    def __init__(self, message: str, *, reference: str | None = None) -> None:
        super().__init__(message, details={"reference": reference} if reference else None)
        self.reference = reference


class ReferenceNotFound(OnePasswordError, NotFound):
    """The vault, item, section or field of a reference does not exist (or is not shared with
    the token), or names more than one thing."""

    code = "onepassword_reference_not_found"
    status = 404


class OnePasswordAuthError(OnePasswordError):
    """1Password refused the token (Connect answered 401/403, `op` is not signed in)."""

    code = "onepassword_auth_failed"
    status = 502


class Unreachable(OnePasswordError, Unavailable):
    """1Password did not answer: connection refused, timeout, 5xx, 429 or a garbled answer.
    The only failure the last-known-good cache stands in for."""

    code = "onepassword_unreachable"
    status = 503


class NotConfigured(OnePasswordError, Unavailable):
    """Neither a Connect server nor the `op` CLI is available."""

    code = "onepassword_not_configured"
    status = 503
