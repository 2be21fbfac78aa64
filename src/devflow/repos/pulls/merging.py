"""Merging a pull request: by merge commit, squash, rebase or fast-forward, without a worktree.

The order keeps the served repository as it was until the very end, and a crash anywhere leaves
it as it was, or is undone by the merge journal:

0. Merges of this repository that a crash cut short are undone first
   (`recovery.recover_merges`).
1. The pull request's row is locked (two merges of one pull request wait for each other), its
   branches are read again, and the head must be the commit the caller saw (`sha`): else 409.
2. Branch protection says whether it may be merged (`_check_protection`, `check_merge`), so a
   refusal comes with its reasons before any work.
3. The new commit is built from objects only (`gitops`), in a temporary bare repository that
   borrows the served one's objects through alternates: nothing in the served one changes.
4. A journal row (base ref, old and new commit) is committed in its own short transaction.
5. It is pushed to the base branch with `--force-with-lease=<base>:<old>` inside protection's
   push gate with a `Merge`: the same pre-receive rules as any push (protected files, the push
   allowlist, approvals and required checks of the pull request), and a base that moved
   meanwhile refuses the push (409), changing nothing.
6. The rows (merged state, the push record, closed tasks, events) are written, and the journal
   row deleted, in the caller's transaction; a failure there puts the base branch back where it
   was. A process killed between 5 and the commit of 6 runs no handler: the journal row stays,
   and `recovery.recover_merges` puts the base back (at server start, or before the next merge
   of the repository).
"""

from __future__ import annotations

import logging
import re
import uuid

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock
from devflow.core.auth import Principal
from devflow.core.errors import Conflict
from devflow.core.services import Services
from devflow.core.task_links import TASK_CLOSER
from devflow.repos import service as repos
from devflow.repos.models import GitRepository
from devflow.repos.pulls import service
from devflow.repos.pulls.gitops import Git, Who, workspace
from devflow.repos.pulls.models import MergeJournal, PullRequest
from devflow.repos.pulls.recovery import recover_merges
from devflow.repos.pulls.schemas import MergeCreate, MergeMethod, MergeRead
from devflow.repos.storage import ZERO, Storage, write_hooks

log = logging.getLogger(__name__)

MAX_REBASE_COMMITS = 250
# "Fixes #12", "closes #3", "Resolved: #7" — GitHub's closing keywords.
_CLOSES = re.compile(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+#(\d{1,9})\b")


def closing_references(*texts: str) -> list[int]:
    """Return the task numbers that "Fixes #N" (and its kin) name, in order, once each."""
    found: list[int] = []
    for text in texts:
        for match in _CLOSES.finditer(text):
            number = int(match[1])
            if number not in found:
                found.append(number)
    return found


async def merge_pull(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str,
    name: str,
    number: int,
    data: MergeCreate,
    services: Services,
) -> MergeRead:
    """Merge an open pull request into its base branch by `data.method`.

    Args:
        services: the process's services (protection's push gate serves the merge's push).

    Raises:
        NotFound, PermissionDenied: no push access to the repository.
        Conflict: it is not open, a draft, its head moved since `data.sha`, conflicts (with the
            paths in `details.conflicts`), unrelated histories, a base that cannot be
            fast-forwarded, nothing to merge, a base that moved meanwhile, or branch protection
            refuses (its reasons in `details.protection`).
    """
    repo = await service.repository(
        session, principal=principal, project=project, name=name, write=True
    )
    await recover_merges(services, repository_id=repo.id)
    pr = await service.find_pull(session, repo, number, lock=True)
    if pr.state != "open":
        raise Conflict(f"pull request #{number} is {pr.state}: only open ones are merged")
    if pr.draft:
        raise Conflict(f"pull request #{number} is a draft: mark it ready for review first")
    storage = Storage.of(services.settings)
    git = service.git_of(storage, repo)
    await service.refresh(pr, git)
    if pr.head_sha != data.sha:
        raise Conflict(
            f"the head of #{number} moved to {pr.head_sha[:12]} since you saw {data.sha[:12]}: "
            "look at the new commits, then merge again with the new sha",
            details={"expected": data.sha, "head_sha": pr.head_sha},
        )
    approvals, _ = (await service.verdicts(session, [pr.id])).get(pr.id, (0, 0))
    await _check_protection(session, repo, pr, approvals)
    old = pr.base_sha
    async with workspace(storage, git.path) as work:
        new = await _build(work, pr, data, principal)
        journal = await _journal(services, repo, pr, old, new)
        try:
            await _push(services, repo, pr, principal, work, approvals, old, new)
        except Conflict:
            await _forget(services, journal)  # nothing moved
            raise
        try:
            deleted = data.delete_branch and await _delete_head(services, repo, pr, principal, work)
            await session.execute(delete(MergeJournal).where(MergeJournal.id == journal))
            return await _record(session, repo, pr, data, principal, old, new, deleted, services)
        except BaseException:
            await _put_back(git, repo, pr, old, new)
            raise


async def _journal(
    services: Services, repo: GitRepository, pr: PullRequest, old: str, new: str
) -> uuid.UUID:
    """Commit the journal row of a merge about to push (in its own transaction: it must
    outlive a crash of the caller's); return its id."""
    row = MergeJournal(
        repository_id=repo.id,
        pull_number=pr.number,
        base_ref=f"refs/heads/{pr.base_branch}",
        old_sha=old,
        new_sha=new,
    )
    async with services.sessions() as session, session.begin():
        session.add(row)
    return row.id


async def _forget(services: Services, journal: uuid.UUID) -> None:
    """Delete the journal row of a merge whose push did not happen."""
    async with services.sessions() as session, session.begin():
        await session.execute(delete(MergeJournal).where(MergeJournal.id == journal))


async def _put_back(git: Git, repo: GitRepository, pr: PullRequest, old: str, new: str) -> None:
    """The rows cannot say what happened: put the base branch back where it was (its journal
    row, left in place, is settled by the next recovery)."""
    if not await git.update_ref(f"refs/heads/{pr.base_branch}", old, new):
        log.error(
            "merge of %s #%s: could not restore %s to %s", repo.id, pr.number, pr.base_branch, old
        )


async def _push(
    services: Services,
    repo: GitRepository,
    pr: PullRequest,
    principal: Principal,
    work: Git,
    approvals: int,
    old: str,
    new: str,
) -> None:
    """Push `new` to the base branch if it is still at `old`, through protection's gate.

    Raises:
        Conflict: the base moved meanwhile, or the branch rules refuse (with their reasons).
    """
    from devflow.repos.protection.enforce import Merge
    from devflow.repos.protection.gate import push_gate

    target = Storage.of(services.settings).path(repo.id)
    write_hooks(target)
    ref = f"refs/heads/{pr.base_branch}"
    merge = Merge(pull_request=pr.number, head_sha=pr.head_sha, approvals=approvals)
    async with push_gate(services, repo_id=repo.id, pusher=principal, merge=merge) as env:
        done = await work.run("push", "--quiet", "--no-verify", f"--force-with-lease={ref}:{old}",
                              str(target), f"{new}:{ref}", env=env)  # fmt: skip
    if done.rc == 0:
        return
    if "stale info" in done.err or "fetch first" in done.err or "non-fast-forward" in done.err:
        raise Conflict(
            f"{pr.base_branch} moved while #{pr.number} was being merged; nothing changed: "
            "try again"
        )
    reasons = [
        line.removeprefix("remote:").strip()
        for line in done.err.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    ]
    if not reasons:
        log.error("merge push of %s #%s failed: %s", repo.id, pr.number, done.err[-2000:])
    raise Conflict(
        f"{pr.base_branch} refused the merge of #{pr.number}: "
        + ("; ".join(reasons) or "the server log says why"),
        details={"protection": reasons},
    )


async def _build(git: Git, pr: PullRequest, data: MergeCreate, principal: Principal) -> str:
    """Return the commit the base branch will point at, built from objects only."""
    base, head = pr.base_sha, pr.head_sha
    if await git.is_ancestor(head, base):
        raise Conflict(
            f"{pr.base_branch} already has every commit of #{pr.number}: nothing to merge"
        )
    merger = Who(principal.username, f"{principal.username}@devflow.invalid")
    if data.method == MergeMethod.FF:
        if not await git.is_ancestor(base, head):
            raise Conflict(
                f"{pr.base_branch} has commits {pr.head_branch} lacks: it cannot be "
                "fast-forwarded; rebase the branch, or merge another way",
                details={"method": "ff"},
            )
        return head
    if data.method == MergeMethod.REBASE:
        if await git.is_ancestor(base, head):
            return head  # already on top of the base: replaying would change nothing
        return await git.replay(base, head, committer=merger, limit=MAX_REBASE_COMMITS)
    merged = await git.merge_tree(base, head)
    if merged.unrelated:
        raise Conflict(
            f"{pr.head_branch} and {pr.base_branch} share no history: there is nothing to merge "
            "them from",
            details={"conflicts": []},
        )
    if not merged.clean or merged.tree is None:
        raise Conflict(
            f"#{pr.number} conflicts with {pr.base_branch} in {', '.join(merged.conflicts)}: "
            "merge the base into the branch and resolve them, then push",
            details={"conflicts": merged.conflicts},
        )
    if data.method == MergeMethod.SQUASH:
        _, author, _ = await git.read_commit(head)
        message = data.message or f"{pr.title} (#{pr.number})\n\n{pr.body}".rstrip() + "\n"
        return await git.commit_tree(
            merged.tree, [base], message, author=Who(author.name, author.email), committer=merger
        )
    message = data.message or (
        f"Merge pull request #{pr.number} from {pr.head_branch}\n\n{pr.title}\n"
    )
    return await git.commit_tree(merged.tree, [base, head], message, author=merger,
                                 committer=merger)  # fmt: skip


async def _check_protection(
    session: AsyncSession, repo: GitRepository, pr: PullRequest, approvals: int
) -> None:
    """Ask branch protection whether this merge may land (`check_merge`: required approvals
    and required checks on the head), before any work; the push gate asks again, with every
    other rule, when the merge is pushed.

    Raises:
        Conflict: the rules refuse, with their reasons in `details.protection`.
    """
    from devflow.repos.protection.enforce import check_merge

    problems = await check_merge(session, repo, pr.base_branch, pr.head_sha, approvals)
    if problems:
        raise Conflict(
            f"{pr.base_branch} is protected: " + "; ".join(problems),
            details={"protection": problems},
        )


async def _delete_head(
    services: Services, repo: GitRepository, pr: PullRequest, principal: Principal, work: Git
) -> bool:
    """Delete the merged head branch if it is still at the merged head, through the push gate
    (a rule that forbids deleting it keeps it); never the default or the base branch."""
    from devflow.repos.protection.gate import push_gate

    if pr.head_branch in {repo.default_branch, pr.base_branch}:
        return False
    if pr.head_repository_id != repo.id:  # a fork's branch is its owners' to delete
        return False
    target = Storage.of(services.settings).path(repo.id)
    ref = f"refs/heads/{pr.head_branch}"
    async with push_gate(services, repo_id=repo.id, pusher=principal) as env:
        done = await work.run("push", "--quiet", "--no-verify",
                              f"--force-with-lease={ref}:{pr.head_sha}", str(target), f":{ref}",
                              env=env)  # fmt: skip
    if done.rc != 0:
        log.info("the head branch of %s #%s stays: %s", repo.id, pr.number, done.err[-500:])
    return done.rc == 0


async def _record(
    session: AsyncSession,
    repo: GitRepository,
    pr: PullRequest,
    data: MergeCreate,
    principal: Principal,
    old: str,
    new: str,
    deleted: bool,
    services: Services,
) -> MergeRead:
    now = clock.now()
    pr.state, pr.merged_at, pr.closed_at, pr.updated_at = "merged", now, now, now
    pr.merged_by, pr.merge_method, pr.merge_commit_sha = principal.user_id, data.method.value, new
    moved = [{"ref": f"refs/heads/{pr.base_branch}", "old": old, "new": new}]
    if deleted:
        moved.append({"ref": f"refs/heads/{pr.head_branch}", "old": pr.head_sha, "new": ZERO})
    await session.flush()
    # The merge is a push to the base branch: on record like one, and other pull requests on
    # that base follow it.
    storage = Storage.of(services.settings)
    size = storage.size(repo.id)
    await repos.record_push(session, repo_id=repo.id, pusher=principal, refs=moved, size_bytes=size)
    await service.on_push(session, repo_id=repo.id, pusher=principal, refs=moved, storage=storage)
    project = await _project_name(session, repo)
    closed = await services.get(TASK_CLOSER).close(
        session,
        principal=principal,
        project=project,
        numbers=closing_references(pr.title, pr.body),
        note=f"pull request #{pr.number}",
    )
    await service.emit(
        session, "pull_request.merged", repo, pr, principal, method=data.method.value,
        merge_commit_sha=new, closed_tasks=closed,
    )  # fmt: skip
    return MergeRead(
        pull=await service.read_pull(session, repo, pr),
        sha=new,
        closed_tasks=closed,
        branch_deleted=deleted,
    )


async def _project_name(session: AsyncSession, repo: GitRepository) -> str:
    from devflow.identity import Project

    return (await session.get_one(Project, repo.project_id)).name


__all__ = ["closing_references", "merge_pull"]
