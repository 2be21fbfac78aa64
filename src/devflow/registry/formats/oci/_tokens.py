"""Version check and Docker token authentication (`/v2/`, `/v2/token`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import AUTHENTICATOR, Principal, token_from_authorization
from devflow.core.errors import (
    DevflowError,
    PermissionDenied,
    Unauthenticated,
)
from devflow.core.http import SessionDep, services_of
from devflow.identity import User, delete_expired_tokens, issue_token, token_expiry
from devflow.registry.formats.oci._common import (
    ANONYMOUS_TOKEN,
    TOKEN_TTL,
    OciError,
    error_response,
    principal_of,
    router,
    translate,
)
from devflow.registry.scopes import REGISTRY_PUBLISH, REGISTRY_READ

# -- version check and tokens ---------------------------------------------------------------------


@router.get("/v2/", include_in_schema=False)
@router.get("/v2", include_in_schema=False)
async def version_check(request: Request, session: SessionDep) -> Response:
    """Answer 200 to an authenticated caller, 401 with the token challenge otherwise."""
    try:
        principal = await principal_of(request, session)
        if principal is None:
            raise Unauthenticated("send a DevFlow token (docker login with any user name)")
    except DevflowError as exc:
        return error_response(translate(exc, request, None, "pull"))
    return Response(
        b"{}",
        media_type="application/json",
        headers={"Docker-Distribution-API-Version": "registry/2.0"},
    )


async def _lifetime(session: AsyncSession, principal: Principal) -> timedelta:
    """Return `TOKEN_TTL`, or less: a registry token never outlives the token it came from."""
    if principal.token_id is None:
        return TOKEN_TTL
    expires_at = await token_expiry(session, token_id=principal.token_id)
    if expires_at is None:
        return TOKEN_TTL
    return max(min(TOKEN_TTL, expires_at - clock.now()), timedelta(seconds=1))


async def _issue(request: Request, session: AsyncSession, secret: str | None) -> Response:
    try:
        if not secret:
            body: dict[str, Any] = {"token": ANONYMOUS_TOKEN, "access_token": ANONYMOUS_TOKEN}
        else:
            principal = await services_of(request).get(AUTHENTICATOR).authenticate(session, secret)
            user = await session.get_one(User, principal.user_id)
            scopes = [s for s in (REGISTRY_READ, REGISTRY_PUBLISH) if principal.has_scope(s)]
            if not scopes:
                raise PermissionDenied(
                    "this token has neither 'registry:read' nor 'registry:publish'; create one "
                    "with `devflow token create --scope registry:publish`"
                )
            ttl = await _lifetime(session, principal)
            # Registry tokens live minutes and are issued on every login: drop the caller's
            # expired ones here, so the table holds only live ones (one indexed delete).
            await delete_expired_tokens(
                session, user_id=user.id, kind="registry", before=clock.now()
            )
            _, token = await issue_token(
                session,
                user=user,
                name="oci registry token",
                scopes=scopes,
                expires_in=ttl,
                project_id=principal.project_id,
                kind="registry",
            )
            body = {"token": token, "access_token": token, "expires_in": int(ttl.total_seconds())}
    except DevflowError as exc:
        err = translate(exc, request, None, "pull")
        err.headers["WWW-Authenticate"] = 'Basic realm="DevFlow registry"'
        return error_response(err)
    body.setdefault("expires_in", int(TOKEN_TTL.total_seconds()))
    body["issued_at"] = clock.now().isoformat()
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/v2/token", include_in_schema=False)
async def token_get(request: Request, session: SessionDep) -> Response:
    """Docker token endpoint: Basic auth with a DevFlow token gives a short-lived registry token."""
    try:
        secret = token_from_authorization(request.headers.get("authorization"))
    except DevflowError as exc:
        return error_response(translate(exc, request, None, "pull"))
    return await _issue(request, session, secret)


@router.post("/v2/token", include_in_schema=False)
async def token_post(request: Request, session: SessionDep) -> Response:
    """OAuth2 form (`grant_type=password` or `refresh_token`) used by containerd and buildkit."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    grant = (form.get("grant_type") or [""])[0]
    if grant == "password":
        secret = (form.get("password") or [""])[0]
    elif grant == "refresh_token":
        secret = (form.get("refresh_token") or [""])[0]
    else:
        return error_response(
            OciError(
                "UNSUPPORTED",
                f"grant_type {grant!r} is not supported: use 'password' (a DevFlow token as the "
                "password) or 'refresh_token'",
                http_status=400,
            )
        )
    if not secret:
        return error_response(
            OciError("UNAUTHORIZED", "send a DevFlow token as the password", http_status=401)
        )
    return await _issue(request, session, secret)
