"""The tool registry: each domain contributes its tools and resources; settings pick a subset.

A domain's module in `devflow.mcp.tools` exposes `contribute() -> Contribution`. A tool is a thin
async function `(call: Call, **arguments) -> str` over the domain's service functions; the
gateway gives it a unit of work and the authenticated principal, maps domain errors to MCP tool
errors and caps its output.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import mcp_types
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Principal
from devflow.core.config import McpSettings, Settings


@dataclass(frozen=True)
class Call:
    """What a tool body receives: the call's unit of work, the caller and the settings."""

    session: AsyncSession
    principal: Principal
    settings: Settings

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


ResourceLister = Callable[[Call, int, int], Awaitable[list[mcp_types.Resource]]]
"""`(call, offset, limit)` -> up to `limit` concrete resources the caller may read."""


@dataclass(frozen=True)
class Contribution:
    """What one domain adds to the gateway."""

    tools: list[ToolDef] = field(default_factory=list)
    resources: list[ResourceDef] = field(default_factory=list)
    list_resources: ResourceLister | None = None


class Identity(Protocol):
    """Decides who is calling; never from a tool argument."""

    async def principal(self, session: AsyncSession, request: Any | None) -> Principal:
        """Return the caller of this request.

        Raises:
            Unauthenticated: no or bad credentials.
        """
        ...


@dataclass(frozen=True)
class Runtime:
    """What the gateway needs from its host process (the server's lifespan or a test)."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    identity: Identity


def is_enabled(name: str, settings: McpSettings) -> bool:
    """Return whether the deployment offers the tool `name` (patterns in `mcp.tools`)."""
    offered = any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.tools)
    withheld = any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.exclude_tools)
    return offered and not withheld


def enabled_tools(contributions: Sequence[Contribution], settings: McpSettings) -> list[ToolDef]:
    """Return the tools the deployment offers, in contribution order.

    Raises:
        ValueError: two domains contribute a tool of the same name (a programming error).
    """
    seen: set[str] = set()
    chosen: list[ToolDef] = []
    for contribution in contributions:
        for tool in contribution.tools:
            if tool.name in seen:
                raise ValueError(f"two domains contribute an MCP tool named {tool.name!r}")
            seen.add(tool.name)
            if is_enabled(tool.name, settings):
                chosen.append(tool)
    return chosen
