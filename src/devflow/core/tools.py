"""Tools for agents: what a domain contributes to the MCP gateway, without importing it.

A tool is a thin async function `(call: Call, **arguments) -> str` over the domain's service
functions; its argument annotations become the tool's input schema. The gateway (`devflow.mcp`)
gives it a unit of work and the authenticated principal, maps domain errors to tool errors and
caps its output. Domains name their `Contribution` in their manifest (`core.domain.Domain.tools`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.config import Settings
from devflow.core.services import Services

if TYPE_CHECKING:
    import mcp_types


ProjectArg = Annotated[
    str | None, Field(description="Project name; default: yours.", max_length=64)
]
"""The optional project argument of a tool."""


@dataclass(frozen=True)
class Call:
    """What a tool body receives: the call's unit of work, the caller and the settings."""

    session: AsyncSession
    principal: Principal
    services: Services

    @property
    def settings(self) -> Settings:
        """Return the process's settings."""
        return self.services.settings

    @property
    def page_size(self) -> int:
        """Return how many items a listing answers with before handing out a cursor."""
        return self.settings.mcp.page_size


ToolFn = Callable[..., Awaitable[str]]
"""`async def tool(call: Call, *, <arguments>) -> str`; argument annotations become the schema."""


@dataclass(frozen=True)
class ToolDef:
    """One MCP tool."""

    name: str
    description: str
    fn: ToolFn
    read_only: bool = True


@dataclass(frozen=True)
class ResourceDef:
    """A family of MCP resources addressed by a URI template (`devflow://…/{id}`)."""

    template: str
    name: str
    description: str
    read: Callable[..., Awaitable[str]]  # (call, **template variables) -> text
    mime_type: str = "text/markdown"


ResourceLister = Callable[[Call, int, int], Awaitable[list["mcp_types.Resource"]]]
"""`(call, offset, limit)` -> up to `limit` concrete resources the caller may read."""


@dataclass(frozen=True)
class Contribution:
    """What one domain adds to the gateway."""

    tools: list[ToolDef] = field(default_factory=list)
    resources: list[ResourceDef] = field(default_factory=list)
    list_resources: ResourceLister | None = None
