"""Versions of a project's workflow definitions: apply, list, show, and the built-ins.

A definition is stored as a new version only when its normalised spec differs from the latest
version of its name in the project; applying the same spec again returns that version. Stored
versions are never changed or deleted: a run pins the id of the version it started with.
Versions of one name are numbered under a transaction-level advisory lock on (project, name),
so two applies at once get 1 and 2, not a unique violation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal, Role
from devflow.core.errors import NotFound
from devflow.identity import Project, User
from devflow.workflows.access import project_for
from devflow.workflows.definitions.builtins import builtins
from devflow.workflows.definitions.loader import DEFAULT_MAX_BYTES, parse
from devflow.workflows.definitions.schemas import (
    DefinitionApplied,
    DefinitionCheck,
    DefinitionRead,
    DefinitionSummary,
    Origin,
)
from devflow.workflows.definitions.spec import WorkflowSpec
from devflow.workflows.models import WorkflowDefinition as Definition

_SUMMARY = (
    Definition.id,
    Definition.name,
    Definition.version,
    Definition.description,
    Definition.origin,
    Definition.origin_ref,
    func.jsonb_path_query_array(
        Definition.spec, literal_column("'$.phases[*].id'::jsonpath")
    ).label("phases"),
    Definition.created_at,
    User.username,
)


def validate_definition(
    source: str | bytes, *, file: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> DefinitionCheck:
    """Check a definition's YAML without storing it (no project, no database).

    Raises:
        Invalid: `details.errors` lists each problem with its file, line, column and field.
    """
    spec = parse(source, file=file or "<upload>", max_bytes=max_bytes)
    return _check(spec, file)


async def check_definition(
    session: AsyncSession,
    principal: Principal,
    project: str | None,
    source: str | bytes,
    *,
    file: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DefinitionCheck:
    """Check a definition as `apply_definition` would (write role), and say whether applying it
    would store a new version; nothing is stored.

    Raises:
        NotFound, PermissionDenied: not a writer of the project.
        Invalid: the definition does not validate.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    spec = parse(source, file=file or "<upload>", max_bytes=max_bytes)
    latest = await _latest(session, found, spec.name)
    changed = latest is None or latest.spec != _normal(spec)
    version = (latest.version if latest else 0) + (1 if changed else 0)
    return _check(spec, file).model_copy(update={"changed": changed, "next_version": version})


async def apply_definition(
    session: AsyncSession,
    principal: Principal,
    project: str | None,
    source: str | bytes,
    *,
    file: str | None = None,
    origin: Origin = "upload",
    origin_ref: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DefinitionApplied:
    """Store a definition as the next version of its name, unless its spec equals the latest.

    Args:
        source: the YAML text.
        file: the name errors give, and the result's `file`.
        origin: `upload`, `repository` or `builtin`; origin_ref: `repo@commit:path`.

    Raises:
        NotFound, PermissionDenied: not a writer of the project.
        Invalid: the definition does not validate (`details.errors`).
    """
    found = await project_for(session, principal=principal, project=project, role=Role.WRITE)
    spec = parse(source, file=file or "<upload>", max_bytes=max_bytes)
    text = source if isinstance(source, str) else source.decode("utf-8")
    row, created = await _store(
        session, found, spec, text, origin=origin, origin_ref=origin_ref, actor=principal
    )
    read = _read(row, principal.username if created else await _username(session, row))
    return DefinitionApplied(**read.model_dump(), created=created, file=file)


async def list_definitions(
    session: AsyncSession,
    principal: Principal,
    project: str | None,
    *,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DefinitionSummary], int]:
    """Return a page of the project's definitions by name (each one's latest version, and the
    built-ins it has not stored), and how many there are.

    Raises:
        NotFound, PermissionDenied: not a reader of the project.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.READ)
    rows = await session.execute(
        select(*_SUMMARY)
        .outerjoin(User, User.id == Definition.created_by)
        .where(Definition.project_id == found.id)
        .ext(distinct_on(Definition.name))
        .order_by(Definition.name, Definition.version.desc())
    )
    items = {row.name: _summary(row) for row in rows}
    for name, (_, spec) in builtins().items():
        items.setdefault(name, _unstored(spec))
    ordered = [items[name] for name in sorted(items)]
    return ordered[offset : offset + limit], len(ordered)


async def list_versions(
    session: AsyncSession,
    principal: Principal,
    project: str | None,
    name: str,
    *,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DefinitionSummary], int]:
    """Return a page of a definition's stored versions, newest first, and how many there are.

    Raises:
        NotFound: not a reader of the project, or no definition of that name (a built-in not
            yet used has no versions: an empty page).
    """
    found = await project_for(session, principal=principal, project=project, role=Role.READ)
    where = (Definition.project_id == found.id, Definition.name == name)
    total = await session.scalar(select(func.count()).select_from(Definition).where(*where)) or 0
    if total == 0 and name not in builtins():
        raise _missing(found, name)
    rows = await session.execute(
        select(*_SUMMARY)
        .outerjoin(User, User.id == Definition.created_by)
        .where(*where)
        .order_by(Definition.version.desc())
        .offset(offset)
        .limit(limit)
    )
    return [_summary(row) for row in rows], total


async def get_definition(
    session: AsyncSession,
    principal: Principal,
    project: str | None,
    name: str,
    version: int | None = None,
) -> DefinitionRead:
    """Return a version of a definition (the latest, or a built-in not yet stored, by default).

    Raises:
        NotFound: not a reader of the project, or no such definition or version.
    """
    found = await project_for(session, principal=principal, project=project, role=Role.READ)
    query = select(Definition).where(Definition.project_id == found.id, Definition.name == name)
    if version is not None:
        query = query.where(Definition.version == version)
    row = await session.scalar(query.order_by(Definition.version.desc()).limit(1))
    if row is not None:
        return _read(row, await _username(session, row))
    if version is None and name in builtins():
        source, spec = builtins()[name]
        return DefinitionRead(**_unstored(spec).model_dump(), source=source, spec=_normal(spec))
    if version is not None:
        raise NotFound(
            f"{name!r} has no version {version} in project {found.name!r}; "
            f"`devflow workflow show {name}` shows the latest",
            details={"name": name, "version": version},
        )
    raise _missing(found, name)


async def ensure_definition(session: AsyncSession, project: Project, name: str) -> Definition:
    """Return the latest stored version of `name` in the project, storing the built-in of that
    name as version 1 (origin `builtin`) the first time it is used. For the run engine: the
    caller has checked the caller's role already.

    Raises:
        NotFound: the project has no definition of that name and DevFlow none built in.
    """
    latest = await _latest(session, project, name)
    if latest is not None:
        return latest
    if name not in builtins():
        raise _missing(project, name)
    source, spec = builtins()[name]
    row, _ = await _store(session, project, spec, source, origin="builtin", origin_ref=None)
    return row


# -- storing --------------------------------------------------------------------------------------


async def _lock(session: AsyncSession, project: Project, name: str) -> None:
    key = f"workflow_definition:{project.id}:{name}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def _latest(session: AsyncSession, project: Project, name: str) -> Definition | None:
    """The latest version of `name`, read under the (project, name) lock."""
    await _lock(session, project, name)
    return await session.scalar(
        select(Definition)
        .where(Definition.project_id == project.id, Definition.name == name)
        .order_by(Definition.version.desc())
        .limit(1)
    )


async def _store(
    session: AsyncSession,
    project: Project,
    spec: WorkflowSpec,
    source: str,
    *,
    origin: Origin,
    origin_ref: str | None,
    actor: Principal | None = None,
) -> tuple[Definition, bool]:
    normal = _normal(spec)
    latest = await _latest(session, project, spec.name)
    if latest is not None and latest.spec == normal:
        return latest, False
    row = Definition(
        project_id=project.id,
        name=spec.name,
        version=(latest.version if latest else 0) + 1,
        description=spec.description,
        source=source,
        spec=normal,
        origin=origin,
        origin_ref=origin_ref,
        created_by=actor.user_id if actor else None,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    await events.emit(
        session,
        type="definition.created",
        project_id=project.id,
        actor_id=actor.user_id if actor else None,
        payload={
            "name": row.name,
            "version": row.version,
            "id": str(row.id),
            "origin": origin,
            "origin_ref": origin_ref,
        },
    )
    return row, True


# -- reading --------------------------------------------------------------------------------------


def _normal(spec: WorkflowSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def _check(spec: WorkflowSpec, file: str | None) -> DefinitionCheck:
    return DefinitionCheck(
        file=file,
        name=spec.name,
        description=spec.description,
        phases=[p.id for p in spec.phases],
        parameters=[p.name for p in spec.parameters],
    )


def _missing(project: Project, name: str) -> NotFound:
    return NotFound(
        f"no workflow definition {name!r} in project {project.name!r}; "
        "`devflow workflow list` shows them",
        details={"name": name},
    )


async def _username(session: AsyncSession, row: Definition) -> str | None:
    if row.created_by is None:
        return None
    return await session.scalar(select(User.username).where(User.id == row.created_by))


def _summary(row: Any) -> DefinitionSummary:
    return DefinitionSummary(
        id=row.id,
        name=row.name,
        version=row.version,
        description=row.description,
        origin=row.origin,
        origin_ref=row.origin_ref,
        builtin=row.origin == "builtin",
        phases=list(row.phases or []),
        created_by=row.username,
        created_at=row.created_at,
    )


def _read(row: Definition, username: str | None) -> DefinitionRead:
    return DefinitionRead(
        id=row.id,
        name=row.name,
        version=row.version,
        description=row.description,
        origin=row.origin,
        origin_ref=row.origin_ref,
        builtin=row.origin == "builtin",
        phases=[p["id"] for p in row.spec["phases"]],
        created_by=username,
        created_at=row.created_at,
        source=row.source,
        spec=row.spec,
    )


def _unstored(spec: WorkflowSpec) -> DefinitionSummary:
    return DefinitionSummary(
        id=None,
        name=spec.name,
        version=None,
        description=spec.description,
        origin="builtin",
        builtin=True,
        phases=[p.id for p in spec.phases],
    )


__all__ = [
    "apply_definition",
    "check_definition",
    "ensure_definition",
    "get_definition",
    "list_definitions",
    "list_versions",
    "validate_definition",
]
