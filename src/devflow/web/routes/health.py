"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from devflow import __version__
from devflow.core.http import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Answer while the process is up (no database access)."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", responses={503: {"description": "database unreachable or not migrated"}})
async def ready(request: Request, services: ServicesDep) -> JSONResponse:
    """Answer 200 when the database is reachable and migrated to this version's head."""
    head = request.app.state.head_revision
    try:
        async with services.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is returned
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "not migrated",
                "current": current,
                "expected": head,
                "fix": "run `devflow db upgrade`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": "ok", "revision": current})
