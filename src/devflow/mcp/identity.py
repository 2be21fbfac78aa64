"""Who is calling: the bearer token of the HTTP request, or a token fixed for a local session."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import Unauthenticated
from devflow.identity import authenticate

PRINCIPAL_KEY = "devflow.principal"
"""Key under which the HTTP endpoint leaves the authenticated principal in the ASGI scope state."""


class RequestIdentity:
    """Over streamable HTTP: the principal of this very request's bearer token.

    The endpoint (`devflow.mcp.http`) authenticates every request before the SDK sees it, so a
    tool never runs for a request without a valid token.
    """

    async def principal(self, session: AsyncSession, request: Any | None) -> Principal:
        """Return the principal the endpoint stored for this request."""
        del session
        scope = getattr(request, "scope", None) or {}
        principal = (scope.get("state") or {}).get(PRINCIPAL_KEY)
        if not isinstance(principal, Principal):
            raise Unauthenticated("authentication required: send `Authorization: Bearer <token>`")
        return principal


class TokenIdentity:
    """A session bound to one token (in-process use): the token is checked on every call."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def principal(self, session: AsyncSession, request: Any | None) -> Principal:
        """Authenticate the token again, so a revoked token stops working at once."""
        del request
        return await authenticate(session, token=self._token)
