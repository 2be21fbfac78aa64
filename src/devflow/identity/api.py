"""Identity routes: the caller, projects, memberships, users, tokens and dashboard sign-in."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from starlette.routing import Route

from devflow.core import clock
from devflow.core.auth import SCOPES, Principal
from devflow.core.config import Settings
from devflow.core.http import (
    SESSION_COOKIE,
    PrincipalDep,
    ReadSessionDep,
    ServicesDep,
    SessionDep,
    get_principal,
    hot_read,
    require_request_header,
)
from devflow.core.reads import READ_POOL
from devflow.core.schemas import Page
from devflow.core.services import Services
from devflow.identity import service
from devflow.identity.schemas import (
    MembershipSet,
    ProjectCreate,
    ProjectDetail,
    ProjectRead,
    ScopeRead,
    SessionCreate,
    SessionRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
)

router = APIRouter(prefix="/api/v1", tags=["identity"])
HOT_ROUTES: list[Route] = []
"""Served before FastAPI's router (`core.http.hot_read`)."""
signin_router = APIRouter(tags=["dashboard"])


@router.get("/me", response_model=UserRead)
async def me(session: ReadSessionDep, principal: PrincipalDep) -> UserRead:
    """Return the calling user."""
    user = await service.require_user(session, username=principal.username)
    return UserRead.model_validate(user)


@hot_read(router, "/projects", hot=HOT_ROUTES, response_model=Page[ProjectRead])
async def list_projects(principal: Principal, services: Services) -> Page[ProjectRead]:
    """List the projects you can see."""
    projects = await service.list_projects(services.get(READ_POOL), principal=principal)
    return Page(items=projects, total=len(projects))


@router.post("/projects", response_model=ProjectRead, status_code=status.HTTP_201_CREATED)
async def create_project(
    data: ProjectCreate, session: SessionDep, principal: PrincipalDep
) -> ProjectRead:
    """Create a project; you become its owner."""
    project = await service.create_project(session, principal=principal, data=data)
    return ProjectRead.model_validate(project)


@router.get("/projects/{name}", response_model=ProjectDetail)
async def show_project(name: str, session: SessionDep, principal: PrincipalDep) -> ProjectDetail:
    """Show a project with its members."""
    return await service.describe_project(session, principal=principal, name=name)


@router.put("/projects/{name}/members", status_code=status.HTTP_204_NO_CONTENT)
async def set_member(
    name: str, data: MembershipSet, session: SessionDep, principal: PrincipalDep
) -> None:
    """Give a user a role in the project (project admins and owners)."""
    await service.set_membership(
        session, principal=principal, project_name=name, username=data.username, role=data.role
    )


@router.delete("/projects/{name}/members/{username}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    name: str, username: str, session: SessionDep, principal: PrincipalDep
) -> None:
    """Take a user out of the project (project admins and owners; only owners remove an owner).
    The last owner (in a project without one, the last admin) stays: 409 says what to do."""
    await service.remove_membership(
        session, principal=principal, project_name=name, username=username
    )


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def create_user(data: UserCreate, session: SessionDep, principal: PrincipalDep) -> UserRead:
    """Create a user (instance admins)."""
    return UserRead.model_validate(
        await service.create_user(session, principal=principal, data=data)
    )


@router.get("/tokens", response_model=Page[TokenRead])
async def list_tokens(session: SessionDep, principal: PrincipalDep) -> Page[TokenRead]:
    """List your API tokens (never their secrets)."""
    tokens = await service.list_tokens(session, principal=principal)
    return Page(items=[TokenRead.model_validate(t) for t in tokens], total=len(tokens))


@router.get("/scopes", response_model=list[ScopeRead], dependencies=[Depends(get_principal)])
async def list_scopes(services: ServicesDep) -> list[ScopeRead]:
    """List the scopes a token can be given: core's and each domain's (any signed-in caller)."""
    return [
        ScopeRead(
            name=s.value,
            description=s.description,
            implied_by=list(s.implied_by),
            default=s.default,
        )
        for s in services.get(SCOPES)
    ]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(
    data: TokenCreate, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> TokenCreated:
    """Create an API token; its secret is in this answer only."""
    token, secret = await service.create_token(
        session, principal=principal, data=data, catalog=services.get(SCOPES)
    )
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{ref}", response_model=TokenRead)
async def revoke_token(ref: str, session: SessionDep, principal: PrincipalDep) -> TokenRead:
    """Revoke a token by id or name."""
    return TokenRead.model_validate(
        await service.revoke_token(session, principal=principal, token_ref=ref)
    )


@router.post("/signin-links", status_code=status.HTTP_201_CREATED)
async def create_signin_link(
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    username: str | None = Query(None, description="Whom the link signs in (admins only)."),
) -> dict[str, str]:
    """Create a one-time dashboard sign-in link (instance admins with an unrestricted `admin`
    token, such as the one in the local credentials file).

    A dashboard session carries its user's full rights, so minting one needs a credential that
    carries them all: a token restricted in scope or project must not be able to widen itself
    through a session cookie.
    """
    principal.require_instance_admin()
    user = await service.require_user(session, username=username or principal.username)
    ttl = timedelta(minutes=services.settings.auth.sign_in_link_ttl_minutes)
    code = await service.create_sign_in_code(session, user=user, ttl=ttl)
    return {"url": f"{services.settings.base_url}/auth/signin?code={code}"}


@signin_router.get("/auth/signin", include_in_schema=False)
async def sign_in(code: str, session: SessionDep, services: ServicesDep) -> RedirectResponse:
    """Redeem a one-time sign-in link and open the dashboard."""
    ttl = timedelta(hours=services.settings.auth.session_ttl_hours)
    secret = await service.redeem_sign_in_code(session, code=code, session_ttl=ttl)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    _set_session_cookie(response, secret, clock.now() + ttl, services.settings)
    return response


@router.get("/session", response_model=SessionRead)
async def show_session(session: ReadSessionDep, principal: PrincipalDep) -> SessionRead:
    """Return who you are and what your credential may do: scopes, project, expiry."""
    return await service.describe_session(session, principal=principal)


@router.post(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["dashboard"],
)
async def open_session(
    data: SessionCreate, request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """Exchange a token for a dashboard session cookie with no more power than the token: the
    same scopes and project, ending no later. Send the `X-DevFlow-Request: 1` header."""
    require_request_header(request)
    token, secret = await service.open_token_session(
        session,
        token=data.token,
        catalog=services.get(SCOPES),
        session_ttl=timedelta(hours=services.settings.auth.session_ttl_hours),
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    assert token.expires_at is not None  # noqa: S101 - a session always expires
    _set_session_cookie(response, secret, token.expires_at, services.settings)
    return response


@router.delete(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["dashboard"],
)
async def close_session(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Sign out: end the dashboard session of the cookie on the server and clear the cookie
    (with the `X-DevFlow-Request: 1` header). Without a cookie there is nothing to end."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        require_request_header(request)
        await service.end_session(session, token=cookie)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=_secure(services.settings)
    )
    return response


def _secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def _set_session_cookie(
    response: Response, secret: str, expires_at: datetime, settings: Settings
) -> None:
    """The dashboard's session cookie: out of scripts' reach, never sent cross-site, and gone
    when the session ends."""
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max(1, int((expires_at - clock.now()).total_seconds())),
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )


ROUTERS = (router, signin_router)
"""The routers this module serves (the domain manifest names them)."""
