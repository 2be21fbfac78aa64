"""Shared pieces of the OCI registry: constants, spec errors, names, digests, repositories."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ClassVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, Role, token_from_authorization
from devflow.core.blobs import DigestMismatch
from devflow.core.errors import (
    DevflowError,
    Invalid,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from devflow.identity import Project, require_access
from devflow.registry import access, blobs
from devflow.registry.http import base_url, cached_repository, optional_principal, runtime
from devflow.registry.models import (
    OciBlobLink,
    Repository,
)
from devflow.registry.scopes import REGISTRY_PUBLISH
from devflow.registry.service import get_repository

FORMAT = "oci"
SERVICE = "devflow"
TOKEN_TTL = timedelta(minutes=5)
MANIFEST_LIMIT = 4 * 1024 * 1024
UPLOAD_IDLE_SECONDS = 3600.0
ANONYMOUS_TOKEN = "anonymous"  # noqa: S105 - what the token endpoint gives anonymous callers
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST}) | INDEX_TYPES
_NAME_RE = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)+$"
)
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?([0-9]{1,18})-([0-9]{1,18})$")
_NAME_LIMIT = 64


class OciError(DevflowError):
    """An error answered in the spec's `{"errors": [...]}` form with one of its codes."""

    status: ClassVar[int] = 400

    def __init__(
        self,
        oci_code: str,
        message: str,
        *,
        http_status: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.oci_code = oci_code
        self.http_status = http_status
        self.headers = headers or {}


def error_response(exc: OciError) -> Response:
    body = {"errors": [{"code": exc.oci_code, "message": exc.message, "detail": None}]}
    return Response(
        orjson.dumps(body),
        status_code=exc.http_status,
        media_type="application/json",
        headers={**exc.headers, "Docker-Distribution-API-Version": "registry/2.0"},
    )


def challenge(request: Request, name: str | None, actions: str) -> dict[str, str]:
    realm = f"{base_url(request)}/v2/token"
    value = f'Bearer realm="{realm}",service="{SERVICE}"'
    if name:
        value += f',scope="repository:{name}:{actions}"'
    return {"WWW-Authenticate": value}


def translate(exc: DevflowError, request: Request, name: str | None, actions: str) -> OciError:
    """Map a domain error to the spec's code and status."""
    if isinstance(exc, OciError):
        return exc
    if isinstance(exc, Unauthenticated):
        return OciError(
            "UNAUTHORIZED",
            exc.message,
            http_status=401,
            headers=challenge(request, name, actions),
        )
    for kind, code, status in _SIMPLE:
        if isinstance(exc, kind):
            return OciError(code, exc.message, http_status=status)
    return OciError("DENIED", exc.message, http_status=exc.status)


_SIMPLE: tuple[tuple[type[DevflowError], str, int], ...] = (
    (PermissionDenied, "DENIED", 403),
    (NotFound, "NAME_UNKNOWN", 404),
    (DigestMismatch, "DIGEST_INVALID", 400),
    (blobs.TooLarge, "SIZE_INVALID", 413),
    (Invalid, "DENIED", 400),
)


router = APIRouter(tags=["registry: oci"])

Handler = Callable[[Request, AsyncSession, Principal | None, str, list[str]], Awaitable[Response]]


# -- helpers --------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if len(name) > _NAME_LIMIT or not _NAME_RE.match(name):
        raise OciError(
            "NAME_INVALID",
            f"{name!r} is not a valid repository name: use <project>/<name>, lower-case letters, "
            f"digits and separators ('.', '_', '__', '-'), at most {_NAME_LIMIT} characters",
            http_status=400,
        )
    return name


def parse_digest(value: str, *, code: str = "DIGEST_INVALID") -> str:
    """Return the sha256 hex of `sha256:<hex>`."""
    match = _DIGEST_RE.match(value)
    if match is None:
        raise OciError(code, f"{value!r} is not a digest (sha256:<64 hex>)", http_status=400)
    algorithm, encoded = match.groups()
    if algorithm != "sha256":
        raise OciError(
            code,
            f"digest algorithm {algorithm!r} is not supported; use sha256",
            http_status=400,
        )
    if not re.fullmatch(r"[0-9a-f]{64}", encoded):
        raise OciError(code, f"{value!r} is not a sha256 digest (64 hex)", http_status=400)
    return encoded


async def principal_of(request: Request, session: AsyncSession) -> Principal | None:
    token = token_from_authorization(request.headers.get("authorization"))
    if token == ANONYMOUS_TOKEN:
        return None
    return await optional_principal(request, session, token)


async def find_repository(session: AsyncSession, name: str) -> Repository | None:
    repo = await get_repository(session, name=name)
    return repo if repo is not None and repo.format == FORMAT else None


async def _cached(request: Request, session: AsyncSession | None, name: str) -> Repository | None:
    """The repository from this process's short-lived cache (the hot path of pulls and pushes)."""
    return await cached_repository(request, session, name, FORMAT)


async def repo_for_read(
    request: Request, session: AsyncSession, principal: Principal | None, name: str
) -> Repository:
    return access.require_read(principal, await _cached(request, session, name), name)


async def _project_for_first_push(
    session: AsyncSession, principal: Principal, name: str
) -> Project:
    """Return the project a first push to `name` creates its repository in, if the caller may."""
    project_name = name.split("/", 1)[0]
    missing = f"no project {project_name!r}: image names start with a project name"
    project = await session.scalar(select(Project).where(Project.name == project_name))
    if project is None:
        raise NotFound(missing)
    require_access(
        principal,
        project,
        Role.WRITE,
        scope=REGISTRY_PUBLISH,
        missing=missing,
        denied=f"pushing to {name!r} needs the write role in project {project_name!r}",
    )
    return project


async def may_push(request: Request, principal: Principal | None, name: str) -> Repository | None:
    """Check that the caller may push to `name` without touching the handler's unit of work.

    Handlers that read a request body call this first, so that they take no database
    connection until the body has arrived; `repo_for_push` checks again (and creates the
    repository on a first push) afterwards. Returns the repository, or None before a first push.
    """
    repo = await _cached(request, None, name)
    if repo is not None or principal is None:
        return access.require_publish(principal, repo, name)
    async with runtime(request).read_sessions() as session:
        await _project_for_first_push(session, principal, name)
    return None


async def repo_for_push(
    request: Request, session: AsyncSession, principal: Principal | None, name: str
) -> Repository:
    """Return the repository, creating it on first push in a project the caller may publish to."""
    repo = await _cached(request, session, name)
    if repo is None and principal is not None:
        project = await _project_for_first_push(session, principal, name)
        created = await session.scalar(
            insert(Repository)
            .values(
                id=uuid.uuid4(),
                name=name,
                project_id=project.id,
                format=FORMAT,
                kind="hosted",
                visibility="private",
                description="",
                config={},
                created_at=clock.now(),
                created_by=principal.user_id,
            )
            .on_conflict_do_nothing()
            .returning(Repository.id)
        )
        if created is not None:  # not a concurrent first push that lost the race
            await events.emit(
                session,
                type="registry.repository.created",
                project_id=project.id,
                actor_id=principal.user_id,
                payload={"repository": name, "format": FORMAT, "visibility": "private"},
            )
        repo = await find_repository(session, name)
    return access.require_publish(principal, repo, name)


async def has_blob(session: AsyncSession, repo: Repository, sha256: str) -> bool:
    found = await session.scalar(
        select(OciBlobLink.sha256).where(
            OciBlobLink.repository_id == repo.id, OciBlobLink.sha256 == sha256
        )
    )
    return found is not None


async def link_blob(session: AsyncSession, repo: Repository, sha256: str) -> None:
    await session.execute(
        insert(OciBlobLink)
        .values(repository_id=repo.id, sha256=sha256, created_at=clock.now())
        .on_conflict_do_nothing()
    )


def headers_of(**values: str) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in values.items()}
