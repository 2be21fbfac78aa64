"""What an agent reads when a tool call fails: one line that says what is wrong and what to do.

An ordinary mistake (a wrong argument, something not found, a missing permission) comes back as
`code: message`, the domain's own words, with the CLI commands those words suggest to a person
replaced by the tool that does the same for an agent. Only a bug reads
`Error executing tool <name>` (the SDK's words, details in the server log), so an agent can tell
the two apart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable

import mcp_types
from pydantic import ValidationError

from devflow.core.errors import DevflowError

log = logging.getLogger("devflow.mcp")

CLI_TOOLS: dict[str, str] = {
    "devflow knowledge list": "knowledge_sources",
    "devflow search": "knowledge_search",
    "devflow jobs show": "job_status",
    "devflow project show": "project_info",
}
"""CLI commands a domain's message may name, and the tool an agent calls instead.

Services write their messages for a person at a terminal; the gateway cannot ask them to know
about tools, so it translates here. A command without a tool stays as it is: it is then advice
to pass on to the person."""

_COMMAND = re.compile(r"`(devflow [^`]*)`")


def for_agents(message: str, tools: Collection[str]) -> str:
    """Return `message` with each CLI command that has an offered tool replaced by that tool."""

    def replace(match: re.Match[str]) -> str:
        words = match[1].split()
        for command, tool in CLI_TOOLS.items():
            named = command.split()
            if words[: len(named)] == named and tool in tools:
                return f"the `{tool}` tool"
        return match[0]

    return _COMMAND.sub(replace, message)


def domain_error(exc: DevflowError, tools: Collection[str]) -> str:
    """Return the text of a tool error for a domain error: `code: message`."""
    return f"{exc.code}: {for_agents(exc.message, tools)}"


def bad_arguments(tool: str, exc: ValidationError) -> str:
    """Return the text of a tool error for arguments that a schema refused, naming each field."""
    return f"invalid: {problems(exc)}. Correct the arguments and call {tool} again."


def unknown_tool(name: str, tools: Iterable[str]) -> str:
    """Return the text of a tool error for a tool this deployment does not offer."""
    offered = ", ".join(sorted(tools)) or "none"
    return f"Unknown tool: {name[:100]}. This server offers: {offered}."


def problems(exc: ValidationError) -> str:
    """Return each problem of `exc` as `field: what is wrong`, without the values sent."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {_plain(e['msg'])}" for e in exc.errors()
    )


# Pydantic prefixes the message a validator raises; the message itself says what to do.
_PREFIXES = ("Value error, ", "Assertion failed, ")


def _plain(message: str) -> str:
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def refusal(tool: str, text: str) -> mcp_types.CallToolResult:
    """Return a failed call's result (`isError: true`) with `text`, and log it as ordinary."""
    log.info("tool %r refused the call: %r", tool[:100], text)
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)], is_error=True
    )
