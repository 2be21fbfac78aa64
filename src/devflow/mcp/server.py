"""Build the MCP server from the domains' contributions (one definition for every transport)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import mcp_types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from devflow import __version__
from devflow.core import render
from devflow.core.db import unit_of_work
from devflow.core.errors import DevflowError, NotFound
from devflow.core.tools import Call, Contribution, ResourceDef, ToolDef
from devflow.mcp import errors
from devflow.mcp.registry import Runtime, enabled_tools

INSTRUCTIONS = (
    "DevFlow: project knowledge, jobs and project context. Search before reading whole "
    "documents; keep queries to a few keywords; follow `cursor` for more."
)


def build_server(runtime: Runtime, contributions: Sequence[Contribution]) -> MCPServer[Runtime]:
    """Return the MCP server offering the enabled tools and every contributed resource."""
    settings = runtime.services.settings.mcp
    limit = settings.max_output_chars
    enabled = enabled_tools(contributions, settings)
    names = frozenset(t.name for t in enabled)
    tools = [_bind_tool(t, limit, names) for t in enabled]

    @asynccontextmanager
    async def lifespan(_: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        yield runtime

    server = _Gateway(
        "devflow",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=tools,
        lifespan=lifespan,
        middleware=[_ResourceListing(contributions)],
    )
    server.tool_names = names
    for contribution in contributions:
        for resource in contribution.resources:
            fn = _bind_resource(resource, limit, names)
            server.resource(
                resource.template,
                name=resource.name,
                description=resource.description,
                mime_type=resource.mime_type,
            )(fn)
    return server


class _Gateway(MCPServer[Runtime]):
    """The SDK's server, with the gateway's words for the mistakes the SDK itself catches.

    The SDK reports arguments that fail the input schema as `Error executing tool <name>: <a
    pydantic dump>`, the words our docs keep for bugs; an agent reads `invalid: <field>: <what>`
    instead, and for an unknown tool the names of the tools there are.
    """

    tool_names: frozenset[str] = frozenset()

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        context: Context[Runtime, Any] | None = None,
    ) -> mcp_types.CallToolResult | mcp_types.InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise  # a bug: the SDK logs it and answers `Error executing tool <name>`
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                return errors.refusal(name, errors.bad_arguments(name, exc.__cause__))
            if name not in self.tool_names:
                return errors.refusal(name, errors.unknown_tool(name, self.tool_names))
            raise


@asynccontextmanager
async def _edge(ctx: Context[Runtime, Any]) -> AsyncIterator[Call]:
    """Open the call's unit of work and identify the caller (commits when the block succeeds)."""
    request_context = ctx.request_context
    runtime = request_context.lifespan_context
    async with unit_of_work(runtime.services.sessions) as session:
        principal = await runtime.identity.principal(session, request_context.request)
        yield Call(session=session, principal=principal, services=runtime.services)


def _bind_tool(tool: ToolDef, limit: int, names: frozenset[str]) -> Tool:
    """Wrap `tool.fn` as an SDK tool: context injection, error mapping, output cap."""

    async def handler(
        ctx: Context[Runtime, Any], **arguments: Any
    ) -> str | mcp_types.CallToolResult:
        # A refusal is returned, not raised: the SDK would put its bug prefix before it.
        try:
            async with _edge(ctx) as call:
                text = await tool.fn(call, **arguments)
        except DevflowError as exc:
            return errors.refusal(tool.name, errors.domain_error(exc, names))
        except ValidationError as exc:  # arguments a domain schema refused
            return errors.refusal(tool.name, errors.bad_arguments(tool.name, exc))
        return render.cap(text, limit)

    _adopt_signature(handler, tool.fn)
    sdk_tool = Tool.from_function(
        handler,
        name=tool.name,
        description=tool.description,
        annotations=mcp_types.ToolAnnotations(read_only_hint=True) if tool.read_only else None,
        structured_output=False,
    )
    return sdk_tool.model_copy(update={"parameters": compact_schema(sdk_tool.parameters)})


def _bind_resource(
    resource: ResourceDef, limit: int, names: frozenset[str]
) -> Callable[..., Awaitable[str]]:
    async def handler(ctx: Context[Runtime, Any], **variables: Any) -> str:
        try:
            async with _edge(ctx) as call:
                text = await resource.read(call, **variables)
        except NotFound as exc:
            raise ResourceNotFoundError(errors.for_agents(exc.message, names)) from None
        except DevflowError as exc:
            raise ResourceError(errors.domain_error(exc, names)) from None
        return render.cap(text, limit)

    _adopt_signature(handler, resource.read)
    return handler


def _adopt_signature(handler: Callable[..., Any], fn: Callable[..., Any]) -> None:
    """Give `handler` the parameters of `fn` after its first (`call`), plus `ctx: Context`.

    The SDK builds the input schema and validates arguments from this signature.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())[1:]
    ctx = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)
    params = [p.replace(annotation=hints[p.name]) for p in params]
    handler.__signature__ = inspect.Signature([ctx, *params], return_annotation=str)  # type: ignore[attr-defined]
    handler.__annotations__ = {"ctx": Context, **{p.name: p.annotation for p in params}}
    handler.__annotations__["return"] = str
    handler.__doc__ = fn.__doc__


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop what costs tokens and tells an agent nothing: titles and `null` alternatives."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _compact_property(prop) for name, prop in value.items()}
        else:
            out[key] = value
    return out


def _compact_property(prop: dict[str, Any]) -> dict[str, Any]:
    prop = {k: v for k, v in prop.items() if k != "title"}
    variants = prop.get("anyOf")
    if isinstance(variants, list):
        concrete = [v for v in variants if v != {"type": "null"}]
        if len(concrete) == 1 and prop.get("default") is None:
            prop.pop("anyOf")
            prop.pop("default", None)
            prop = {**concrete[0], **prop}
    return prop


class _ResourceListing:
    """Answer `resources/list` per caller: each domain lists what the caller may read.

    The SDK's own listing is static; knowledge sources differ per principal, so this middleware
    answers the method itself and pages across domains with one cursor.
    """

    def __init__(self, contributions: Sequence[Contribution]) -> None:
        self._listers = [c.list_resources for c in contributions if c.list_resources]

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "resources/list":
            return await call_next(ctx)
        cursor = (ctx.params or {}).get("cursor")
        runtime: Runtime = ctx.lifespan_context
        try:
            position = render.decode_cursor(cursor if isinstance(cursor, str) else None)
            async with unit_of_work(runtime.services.sessions) as session:
                principal = await runtime.identity.principal(session, ctx.request)
                call = Call(session=session, principal=principal, services=runtime.services)
                return await self._page(call, position)
        except DevflowError as exc:
            raise MCPError(code=mcp_types.INVALID_PARAMS, message=exc.message) from None

    async def _page(self, call: Call, position: int) -> mcp_types.ListResourcesResult:
        # A position is lister_index * 1e9 + offset within that lister.
        span = 1_000_000_000
        index, offset = divmod(position, span)
        size = call.page_size
        found: list[mcp_types.Resource] = []
        while index < len(self._listers) and len(found) < size:
            want = size - len(found)
            batch = await self._listers[index](call, offset, want + 1)
            found.extend(batch[:want])
            if len(batch) > want:
                return _resources(found, index * span + offset + want)
            index, offset = index + 1, 0
        return _resources(found, None)


def _resources(
    items: list[mcp_types.Resource], position: int | None
) -> mcp_types.ListResourcesResult:
    cursor = render.encode_cursor(position) if position is not None else None
    return mcp_types.ListResourcesResult(resources=items, next_cursor=cursor)


__all__ = ["INSTRUCTIONS", "build_server", "compact_schema"]
