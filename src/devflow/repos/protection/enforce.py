"""What a push may do to protected branches, decided in Gitea's order.

For each branch a push moves: (1) the pusher may write to the repository (checked before git
runs, `access.require_push`); (2) the default branch is never deleted; (3) the rule governing
the branch (`rules.matching_rule`), none: allowed; (4) no deletion; (5) no force push (the old
tip is not an ancestor of the new one: `git merge-base --is-ancestor`); (6) the push allowlist;
(7) a required pull request refuses direct pushes; (8) required approvals, for merges of pull
requests; (9) required status checks, on the pull request's head for a merge and on the new tip
for a direct push; (10) protected files (`git diff --name-only old new`). Before all of these,
and whoever pushes (admins too), `refs/pull/*` are refused: DevFlow's pull requests move them.
A push is all or nothing: one refused branch refuses it whole, with every reason found.

A merge of a pull request pushes through the same checks as a `Merge`, which the merge code
hands to `gate.push_gate`: it passes the required pull request, and its approvals and its head's
statuses are checked instead (`check_merge`, which the merge code also calls beforehand to say
whether a pull request may be merged).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.repos.models import GitRepository
from devflow.repos.protection.gitview import GitView
from devflow.repos.protection.globs import matches
from devflow.repos.protection.models import BranchRule
from devflow.repos.protection.rules import matching_rule, rules_of
from devflow.repos.protection.schemas import StatusState
from devflow.repos.protection.statuses import combined_status
from devflow.repos.storage import ZERO

HEADS = "refs/heads/"
PULLS = "refs/pull/"
PULLS_READ_ONLY = "refs/pull/ are managed by DevFlow's pull requests"
_SHOWN_FILES = 10  # a refusal names this many changed protected files, then counts


@dataclass(frozen=True)
class RefMove:
    """One ref a push moves: created (old is zeros), updated, or deleted (new is zeros)."""

    old: str
    new: str
    ref: str


@dataclass(frozen=True)
class Merge:
    """A push that merges a pull request: it may update a branch that requires one.

    Attributes:
        pull_request: its number (shown in messages).
        head_sha: the pull request's head commit, whose statuses are required.
        approvals: how many approving reviews it holds (without a later change request).
    """

    pull_request: int
    head_sha: str
    approvals: int


async def check_statuses(
    session: AsyncSession, repo: GitRepository, rule: BranchRule, sha: str
) -> list[str]:
    """Return why `sha` lacks the rule's required checks (empty: it has them all)."""
    if not rule.required_checks:
        return []
    combined = await combined_status(session, repo, sha)
    latest = {s.context: s.state for s in combined.statuses}
    problems = []
    for context in rule.required_checks:
        state = latest.get(context)
        if state is None:
            problems.append(f"required check {context!r} has not reported on {sha[:12]}")
        elif state is not StatusState.SUCCESS:
            problems.append(f"required check {context!r} is {state.value} on {sha[:12]}")
    return problems


async def check_merge(
    session: AsyncSession, repo: GitRepository, branch: str, head_sha: str, approvals: int
) -> list[str]:
    """Return why a pull request with head `head_sha` and `approvals` approving reviews may not
    be merged into `branch` (empty: the branch's rule allows it).

    The pull requests' code calls this to show whether a merge is possible; the pre-receive
    check calls it again when the merge is pushed.
    """
    rule = matching_rule(await rules_of(session, repo.id), branch)
    if rule is None:
        return []
    problems = []
    if approvals < rule.required_approvals:
        problems.append(
            f"{branch} needs {rule.required_approvals} approving review(s); "
            f"this pull request has {approvals}"
        )
    return problems + await check_statuses(session, repo, rule, head_sha)


async def check_push(
    session: AsyncSession,
    *,
    repo: GitRepository,
    pusher: Principal,
    moves: list[RefMove],
    git: GitView,
    merge: Merge | None = None,
) -> list[str]:
    """Return why a push may not move `moves` (empty: allowed), each reason naming its branch.

    Raises:
        GitQuestionFailed: git could not answer (the caller refuses the push).
    """
    rules = await rules_of(session, repo.id)
    problems: list[str] = []
    for move in moves:
        if move.ref.startswith(PULLS):
            # Each follows its pull request's head (`pulls.service._pin_head`): a pushed one
            # would show reviewers commits that are not the pull request's.
            problems.append(f"{move.ref}: {PULLS_READ_ONLY}; push a branch instead")
        elif move.ref.startswith(HEADS):
            found = await _check_branch(session, repo, pusher, move, git, merge, rules)
            problems += [f"{move.ref.removeprefix(HEADS)}: {p}" for p in found]
    return problems


async def _check_branch(  # noqa: PLR0911 - one refusal per rule, in order
    session: AsyncSession,
    repo: GitRepository,
    pusher: Principal,
    move: RefMove,
    git: GitView,
    merge: Merge | None,
    rules: list[BranchRule],
) -> list[str]:
    branch = move.ref.removeprefix(HEADS)
    deleting = move.new == ZERO
    if deleting and branch == repo.default_branch:
        return ["the default branch cannot be deleted; make another branch the default first"]
    rule = matching_rule(rules, branch)
    if rule is None:
        return []
    named = f"protected by rule {rule.pattern!r}"
    if deleting:
        return [f"{named}: it cannot be deleted"] if rule.no_delete else []
    if rule.no_force_push and move.old != ZERO and not await git.is_ancestor(move.old, move.new):
        return [f"{named}: force pushes are refused (the new tip does not contain the old one)"]
    if merge is None:
        allow = {u.lower() for u in rule.push_allow}
        if allow and pusher.username.lower() not in allow:
            return [f"{named}: only {', '.join(rule.push_allow)} may push to it"]
        if rule.require_pull_request:
            return [
                (
                    f"{named}: changes arrive through a pull request; push another branch and "
                    "open one (devflow pr create)"
                )
            ]
        problems = await check_statuses(session, repo, rule, move.new)
    else:
        problems = await check_merge(session, repo, branch, merge.head_sha, merge.approvals)
    if problems:
        return [f"{named}: {p}" for p in problems]
    return await _check_files(rule, move, git, named)


async def _check_files(rule: BranchRule, move: RefMove, git: GitView, named: str) -> list[str]:
    if not rule.protected_files or move.old == ZERO:
        return []  # a new branch changes nothing that the branch had
    touched = [
        path
        for path in await git.changed_files(move.old, move.new)
        if any(matches(glob, path) for glob in rule.protected_files)
    ]
    if not touched:
        return []
    shown = ", ".join(touched[:_SHOWN_FILES])
    if len(touched) > _SHOWN_FILES:
        shown += f" and {len(touched) - _SHOWN_FILES} more"
    return [f"{named}: it protects {', '.join(rule.protected_files)}; this push changes {shown}"]


__all__ = ["PULLS_READ_ONLY", "Merge", "RefMove", "check_merge", "check_push", "check_statuses"]
