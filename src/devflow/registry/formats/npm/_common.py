"""The npm router, its error format (`{"error": …, "reason": …}`), JSON answers and times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.errors import DevflowError, Unauthenticated
from devflow.core.protocol import protocol_endpoint, protocol_route_class
from devflow.core.schemas import error_responses
from devflow.registry.models import Package, Repository
from devflow.registry.service import get_repository

FORMAT = "npm"


def json_response(
    body: Any, status: int = 200, media: str = "application/json", **headers: str
) -> Response:
    """Answer `body` as JSON."""
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=headers)


def render_error(exc: DevflowError) -> Response:
    """Answer a domain error as the npm registry does (400 for what the API calls 422)."""
    status = 400 if exc.status == 422 else exc.status  # noqa: PLR2004 - npm expects 400
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="DevFlow npm"'
    return json_response({"error": exc.message, "reason": exc.message}, status, **headers)


class NpmError(BaseModel):
    """An npm error answer, `{"error": "...", "reason": "..."}` (the request guard's refusals
    carry the API's `{"error": {...}}` instead)."""

    error: Any
    reason: str | None = None


router = APIRouter(
    prefix="/npm",
    tags=["registry: npm"],
    route_class=protocol_route_class(render_error),
    responses=error_responses(NpmError),
)
endpoint = protocol_endpoint(render_error)


async def find_repository(session: AsyncSession, name: str) -> Repository | None:
    """Return the npm repository called `name` (one of another format is not found)."""
    repo = await get_repository(session, name=name)
    return repo if repo is not None and repo.format == FORMAT else None


def rev(package: Package) -> str:
    """Return the package's CouchDB-style `_rev` (changes with every change to the package)."""
    return f"{package.revision}-{package.id.hex[:16]}"


def iso(moment: datetime) -> str:
    """Return a time as npm writes it: UTC, milliseconds, `Z`."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
