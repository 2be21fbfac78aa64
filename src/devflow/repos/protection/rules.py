"""Branch rules of a repository: list (readers), set and delete (project admins), and which
rule governs a branch.

A branch is governed by one rule: the rule naming it exactly, else the matching glob with the
longest pattern (the most specific), the older on a tie. Setting a rule replaces it whole.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal
from devflow.core.errors import Invalid, NotFound
from devflow.identity import Project, require_member
from devflow.repos import access
from devflow.repos.models import GitRepository
from devflow.repos.protection.globs import is_glob, matches
from devflow.repos.protection.models import BranchRule
from devflow.repos.protection.schemas import RuleRead, RuleSet
from devflow.repos.service import emit_repo_event, full_name, get_repository


def read_rule(rule: BranchRule) -> RuleRead:
    """Return the API view of a rule."""
    return RuleRead(
        pattern=rule.pattern,
        no_force_push=rule.no_force_push,
        no_delete=rule.no_delete,
        require_pull_request=rule.require_pull_request,
        required_approvals=rule.required_approvals,
        required_checks=list(rule.required_checks),
        push_allow=list(rule.push_allow),
        protected_files=list(rule.protected_files),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


async def rules_of(session: AsyncSession, repo_id: uuid.UUID) -> list[BranchRule]:
    """Return a repository's rules, by pattern."""
    rows = await session.scalars(
        select(BranchRule).where(BranchRule.repository_id == repo_id).order_by(BranchRule.pattern)
    )
    return list(rows)


def matching_rule(rules: list[BranchRule], branch: str) -> BranchRule | None:
    """Return the rule that governs `branch`: the exact one, else the most specific glob."""
    for rule in rules:
        if not is_glob(rule.pattern) and rule.pattern == branch:
            return rule
    globs = [r for r in rules if is_glob(r.pattern) and matches(r.pattern, branch)]
    globs.sort(key=lambda r: (-len(r.pattern), r.created_at))
    return globs[0] if globs else None


async def list_rules(
    session: AsyncSession, *, principal: Principal, project: str, name: str
) -> list[BranchRule]:
    """Return a repository's branch rules (readers: a refused push names the rule).

    Raises:
        NotFound, PermissionDenied: as `access.require_read`.
    """
    found = await get_repository(session, project=project, name=name)
    repo = access.require_read(principal, found, full_name(project, name))
    return await rules_of(session, repo.id)


async def _admin_repo(
    session: AsyncSession, principal: Principal, project: str, name: str
) -> GitRepository:
    found = await get_repository(session, project=project, name=name)
    return access.require_admin(principal, found, full_name(project, name))


async def set_rule(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    pattern: str,
    data: RuleSet,
) -> BranchRule:
    """Create or replace the rule for `pattern` (project admins) and emit `repo.protected`.

    Raises:
        NotFound, PermissionDenied: as `access.require_admin`.
        Invalid: a user of the push allowlist who is not in the project.
    """
    repo = await _admin_repo(session, principal, project, name)
    owner = await session.get_one(Project, repo.project_id)
    allowed = []
    for username in dict.fromkeys(data.push_allow):
        try:
            allowed.append(
                (await require_member(session, project=owner, username=username)).username
            )
        except NotFound as exc:
            raise Invalid(exc.message, details={"field": "push_allow"}) from exc
    rule = await session.scalar(
        select(BranchRule).where(BranchRule.repository_id == repo.id, BranchRule.pattern == pattern)
    )
    if rule is None:
        rule = BranchRule(id=uuid.uuid4(), repository_id=repo.id, pattern=pattern)
        session.add(rule)
    rule.no_force_push = data.no_force_push
    rule.no_delete = data.no_delete
    rule.require_pull_request = data.require_pull_request
    rule.required_approvals = data.required_approvals
    rule.required_checks = list(dict.fromkeys(data.required_checks))
    rule.push_allow = allowed
    rule.protected_files = list(dict.fromkeys(data.protected_files))
    rule.updated_at = clock.now()
    await session.flush()
    shown = read_rule(rule).model_dump(mode="json", exclude={"created_at", "updated_at"})
    await emit_repo_event(
        session, "repo.protected", repo, project=project, actor=_who(principal), rule=shown
    )
    return rule


async def delete_rule(
    session: AsyncSession, *, principal: Principal, project: str, name: str, pattern: str
) -> None:
    """Delete the rule for `pattern` (project admins) and emit `repo.unprotected`.

    Raises:
        NotFound: no such rule; or as `access.require_admin`.
        PermissionDenied: as `access.require_admin`.
    """
    repo = await _admin_repo(session, principal, project, name)
    rule = await session.scalar(
        select(BranchRule).where(BranchRule.repository_id == repo.id, BranchRule.pattern == pattern)
    )
    if rule is None:
        raise NotFound(f"{full_name(project, name)} has no rule for {pattern[:255]!r}")
    await session.delete(rule)
    await session.flush()
    await emit_repo_event(
        session, "repo.unprotected", repo, project=project, actor=_who(principal), pattern=pattern
    )


def _who(principal: Principal) -> tuple[uuid.UUID, str]:
    return principal.user_id, principal.username


__all__ = [
    "delete_rule",
    "list_rules",
    "matching_rule",
    "read_rule",
    "rules_of",
    "set_rule",
]
