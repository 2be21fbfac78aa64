"""The effective configuration, read-only, for instance admins: `devflow config show`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from devflow.core.config import effective_settings
from devflow.core.http import PrincipalDep, ServicesDep
from devflow.core.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["settings"])


class SettingRead(BaseModel):
    """One setting of the running server, as `devflow config show` lists it."""

    key: str = Field(description="Dotted path in the settings tree (`llm.cache_ttl_seconds`).")
    env: str = Field(description="The environment variable that sets it.")
    value: Any = Field(description="The effective value; every secret in it is masked (`***`).")
    source: str = Field(
        description="Where the value came from: `environment`, `.env`, `set at start` (the "
        "starting command: `--port`, the embedded PostgreSQL of `devflow up`) or `default`."
    )
    description: str
    secret: bool = Field(description="The value holds a secret, shown masked.")


@router.get("/settings", response_model=Page[SettingRead])
async def list_settings(principal: PrincipalDep, services: ServicesDep) -> Page[SettingRead]:
    """List the server's effective settings, where each came from, secrets masked (instance
    admins; nothing here can change them: they are read at start)."""
    rows = effective_settings(services.settings, principal=principal)
    return Page(items=[SettingRead(**vars(row)) for row in rows], total=len(rows))
