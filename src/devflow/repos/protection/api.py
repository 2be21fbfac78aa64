"""REST routes of branch rules and commit statuses, beside the repository's own
(`/api/v1/projects/{project}/repos/{name}/…`)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from devflow.core.errors import Invalid
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.repos.protection import rules, statuses
from devflow.repos.protection.schemas import (
    CombinedStatus,
    RuleRead,
    RuleSet,
    StatusCreate,
    StatusRead,
    check_pattern,
)
from devflow.repos.storage import Storage

api = APIRouter(
    prefix="/api/v1/projects/{project}/repos/{name}",
    tags=["repos"],
    responses=error_responses(),
)


def _pattern(pattern: str) -> str:
    try:
        return check_pattern(pattern)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


@api.get("/protections", response_model=Page[RuleRead])
async def list_rules(
    project: str, name: str, session: SessionDep, principal: PrincipalDep
) -> Page[RuleRead]:
    """List a repository's branch rules (readers)."""
    found = await rules.list_rules(session, principal=principal, project=project, name=name)
    return Page(items=[rules.read_rule(r) for r in found], total=len(found))


@api.put("/protections/{pattern:path}", response_model=RuleRead)
async def set_rule(
    project: str,
    name: str,
    pattern: str,
    data: RuleSet,
    session: SessionDep,
    principal: PrincipalDep,
) -> RuleRead:
    """Protect the branches matching a name or glob, replacing its rule whole (project admins)."""
    rule = await rules.set_rule(
        session,
        principal=principal,
        project=project,
        name=name,
        pattern=_pattern(pattern),
        data=data,
    )
    return rules.read_rule(rule)


@api.delete("/protections/{pattern:path}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(
    project: str, name: str, pattern: str, session: SessionDep, principal: PrincipalDep
) -> None:
    """Remove a branch rule (project admins)."""
    await rules.delete_rule(
        session, principal=principal, project=project, name=name, pattern=_pattern(pattern)
    )


@api.post("/statuses/{sha}", response_model=StatusRead, status_code=status.HTTP_201_CREATED)
async def create_status(
    project: str,
    name: str,
    sha: str,
    data: StatusCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> StatusRead:
    """Report a status of a commit, by its full sha (writers; GitHub's statuses API)."""
    return await statuses.create_status(
        session,
        principal=principal,
        project=project,
        name=name,
        sha=sha,
        data=data,
        storage=Storage.of(services.settings),
    )


@api.get("/commits/{ref:path}/statuses", response_model=Page[StatusRead])
async def list_statuses(
    project: str,
    name: str,
    ref: str,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=500, description="At most this many."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Skip this many first."),
) -> Page[StatusRead]:
    """List every status of the commit a branch, tag or sha names, newest first (readers)."""
    items, total = await statuses.list_statuses(
        session,
        principal=principal,
        project=project,
        name=name,
        ref=ref,
        storage=Storage.of(services.settings),
        limit=limit,
        offset=offset,
    )
    return Page(items=items, total=total)


@api.get("/commits/{ref:path}/status", response_model=CombinedStatus)
async def combined_status(
    project: str, name: str, ref: str, session: SessionDep, principal: PrincipalDep,
    services: ServicesDep,
) -> CombinedStatus:  # fmt: skip
    """The latest status per context of a commit and their combined state (readers)."""
    return await statuses.combined_status_of_ref(
        session,
        principal=principal,
        project=project,
        name=name,
        ref=ref,
        storage=Storage.of(services.settings),
    )


router = api
