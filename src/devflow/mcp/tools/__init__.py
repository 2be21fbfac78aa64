"""Each domain's MCP tools and resources, one module per domain.

To add a domain, write `devflow/mcp/tools/<domain>.py` with `contribute() -> Contribution` and
list it in `CONTRIBUTORS`; `mcp.tools` / `mcp.exclude_tools` settings pick what is offered.
"""

from __future__ import annotations

from collections.abc import Callable

from devflow.mcp.registry import Contribution
from devflow.mcp.tools import knowledge, platform

CONTRIBUTORS: list[Callable[[], Contribution]] = [platform.contribute, knowledge.contribute]


def contributions() -> list[Contribution]:
    """Return every domain's contribution, in a stable order."""
    return [contribute() for contribute in CONTRIBUTORS]
