"""HTTP routes of workflow definitions: a project's definitions and versions, imports from its
repositories, and (for anyone) the published JSON Schema and a check that needs no project.

A definition is sent as its YAML text (`Content-Type: application/yaml` or `text/yaml`) or as
JSON `{"source": "..."}`; any other body is refused with 415.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import ValidationError

from devflow.core.errors import DevflowError, Invalid
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.workflows.definitions import importing, service
from devflow.workflows.definitions.loader import published_schema
from devflow.workflows.definitions.schemas import (
    DefinitionApplied,
    DefinitionCheck,
    DefinitionRead,
    DefinitionSummary,
    ImportCreate,
    ImportRead,
    SourceBody,
)
from devflow.workflows.settings import WorkflowsSettings

project_router = APIRouter(
    prefix="/api/v1/projects/{project}/workflows",
    tags=["workflows"],
    responses=error_responses(),
)
public_router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])

ProjectPath = Annotated[str, Path(max_length=64, description="Project name.")]
NamePath = Annotated[
    str,
    Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="Definition name (`prd-to-code`)."),
]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=500)]
YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": SourceBody.model_json_schema()},
        },
    }
}
_UNSUPPORTED: dict[int | str, Any] = {
    415: {"description": 'The body is neither YAML nor JSON `{"source": ...}`.'}
}


class UnsupportedMedia(DevflowError):
    """A body in a media type the route does not read."""

    code = "unsupported_media_type"
    status = 415


def _max_bytes(services: ServicesDep) -> int:
    return services.settings.section(WorkflowsSettings).definition_max_bytes


async def _source(request: Request) -> tuple[str | bytes, str | None]:
    """The YAML a request carries, and the file name it gives (JSON bodies only)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if media in YAML_TYPES:
        return body, None
    if media == "application/json" or media.endswith("+json"):
        try:
            sent = SourceBody.model_validate_json(body)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
            raise Invalid(
                'the body must be JSON {"source": "<YAML>"}', details={"errors": problems}
            ) from None
        return sent.source, sent.file
    raise UnsupportedMedia(
        f"send the definition as YAML (Content-Type: {' or '.join(YAML_TYPES[:2])}) or as JSON "
        '{"source": "..."}; not as ' + (repr(media) if media else "a body without a type")
    )


@public_router.get("/schema", response_model=dict[str, Any])
async def workflow_schema() -> Response:
    """The JSON Schema of a workflow definition (public documentation: no token needed)."""
    return Response(
        content=_schema_bytes(),
        media_type="application/json",
        headers={"Cache-Control": "max-age=300"},
    )


def _schema_bytes() -> bytes:
    return json.dumps(published_schema(), indent=2).encode()


@public_router.post(
    "/validate",
    response_model=DefinitionCheck,
    responses={**error_responses(), **_UNSUPPORTED},
    openapi_extra=_BODY_DOC,
)
async def validate(
    request: Request, principal: PrincipalDep, services: ServicesDep
) -> DefinitionCheck:
    """Check a definition without storing it and without a project (any signed-in caller);
    422 lists each problem with its line, column and field."""
    del principal  # signed in: the check costs the server a parse
    source, file = await _source(request)
    return service.validate_definition(source, file=file, max_bytes=_max_bytes(services))


@project_router.get("", response_model=Page[DefinitionSummary])
async def list_definitions(
    project: ProjectPath,
    session: SessionDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DefinitionSummary]:
    """List the project's definitions by name: each one's latest version, and the built-ins."""
    items, total = await service.list_definitions(
        session, principal, project, offset=offset, limit=limit
    )
    return Page(items=items, total=total)


@project_router.post(
    "",
    response_model=DefinitionApplied | DefinitionCheck,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Unchanged (or a dry run)."}, **_UNSUPPORTED},
    openapi_extra=_BODY_DOC,
)
async def apply_definition(
    project: ProjectPath,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    dry_run: Annotated[bool, Query(description="Only check it; store nothing.")] = False,
) -> DefinitionApplied | DefinitionCheck:
    """Store a definition as its name's next version (write role): 201 when stored, 200 when
    its spec equals the latest version (returned as is) or with `dry_run`."""
    source, file = await _source(request)
    limit = _max_bytes(services)
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return await service.check_definition(
            session, principal, project, source, file=file, max_bytes=limit
        )
    applied = await service.apply_definition(
        session, principal, project, source, file=file, max_bytes=limit
    )
    if not applied.created:
        response.status_code = status.HTTP_200_OK
    return applied


@project_router.post("/import", response_model=ImportRead)
async def import_definitions(
    project: ProjectPath,
    data: ImportCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> ImportRead:
    """Apply every `.devflow/workflows/*.yml` of a DevFlow repository at a ref (write role);
    all or nothing: one invalid file applies none, and the errors name each file."""
    return await importing.import_from_repository(
        session, principal, project, data.repository, data.ref, settings=services.settings
    )


@project_router.get("/{name}", response_model=DefinitionRead)
async def show_definition(
    project: ProjectPath,
    name: NamePath,
    session: SessionDep,
    principal: PrincipalDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> DefinitionRead:
    """Show a definition's latest version (or `version`), with its YAML and normalised spec."""
    return await service.get_definition(session, principal, project, name, version)


@project_router.get("/{name}/versions", response_model=Page[DefinitionSummary])
async def list_versions(
    project: ProjectPath,
    name: NamePath,
    session: SessionDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DefinitionSummary]:
    """List a definition's stored versions, newest first."""
    items, total = await service.list_versions(
        session, principal, project, name, offset=offset, limit=limit
    )
    return Page(items=items, total=total)


ROUTERS = (public_router, project_router)
"""The routers of workflow definitions (`workflows.api.ROUTERS` includes them)."""
