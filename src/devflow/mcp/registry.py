"""The tool registry: each domain contributes its tools and resources (`core.tools`); settings
pick a subset.

A domain's manifest names its `Contribution`. A tool is a thin async function
`(call: Call, **arguments) -> str` over the domain's service functions; the gateway gives it a
unit of work and the authenticated principal, maps domain errors to MCP tool errors and caps its
output.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.config import McpSettings
from devflow.core.services import Services
from devflow.core.tools import Contribution, ToolDef


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

    services: Services
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
