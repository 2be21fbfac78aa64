"""Undoing merges a crash cut short: the merge journal (`models.MergeJournal`).

A merge commits a journal row (repository, pull request, base ref, old and new commit) in its
own short transaction before it pushes, and deletes it in the transaction that writes the
merged rows. A row left behind whose pull request is not merged is a merge whose process died
between the push and that commit: the base branch may have moved with nothing on record.

`recover_merges` looks at each such row:

- the base ref is at `new`: it is put back to `old` with `git update-ref <ref> <old> <new>`, a
  compare-and-swap, so a push landing meanwhile is never overwritten; the row goes.
- it is at `old` (the push never happened, or was already undone): the row goes.
- it is anywhere else: someone pushed on top of the merge (another server, or a push between
  the crash and this recovery). Putting it back would throw their commits away, so the base
  stays, the problem is logged and the row goes. The pull request is not marked merged either:
  the rows of a merge (who merged, how, the tasks it closes, its events) would be invented for
  a request that never answered. Its next refresh finds its head inside the base branch, and a
  person closes it.

A merge in flight holds its pull request's row lock from before its journal row is written to
its commit, so recovery takes that lock with `SKIP LOCKED` and leaves a locked pull request's
rows alone: it never undoes a merge that is still running, in this process or another. A killed
process's connection ends, and its locks with it.

It runs when the HTTP server starts (`repos.serving`) and before each merge, for that
repository (`merging.merge_pull`).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.services import Services
from devflow.repos.pulls.gitops import Git
from devflow.repos.pulls.models import MergeJournal, PullRequest
from devflow.repos.storage import Storage

log = logging.getLogger(__name__)


async def recover_merges(services: Services, *, repository_id: uuid.UUID | None = None) -> int:
    """Undo the pushes of merges whose rows were never written (of one repository, or all);
    return how many journal rows were settled."""
    storage = Storage.of(services.settings)
    settled = 0
    async with services.sessions() as session, session.begin():
        query = select(MergeJournal).order_by(MergeJournal.created_at)
        if repository_id is not None:
            query = query.where(MergeJournal.repository_id == repository_id)
        for row in list(await session.scalars(query)):
            pr = await session.scalar(
                select(PullRequest)
                .where(
                    PullRequest.repository_id == row.repository_id,
                    PullRequest.number == row.pull_number,
                )
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
            if pr is None and await _exists(session, row):
                continue  # locked: its merge is in flight
            if pr is None or pr.state != "merged":
                await _undo(storage, row)
            await session.execute(delete(MergeJournal).where(MergeJournal.id == row.id))
            settled += 1
    return settled


async def _exists(session: AsyncSession, row: MergeJournal) -> bool:
    found = await session.scalar(
        select(PullRequest.id).where(
            PullRequest.repository_id == row.repository_id, PullRequest.number == row.pull_number
        )
    )
    return found is not None


async def _undo(storage: Storage, row: MergeJournal) -> None:
    """Put the base ref back at `old` if it is at `new`; log it if it is elsewhere."""
    path = storage.path(row.repository_id)
    if not path.exists():
        return
    git = Git(storage, path)
    at = await git.resolve(row.base_ref)
    if at == row.old_sha:
        return
    if at == row.new_sha and await git.update_ref(row.base_ref, row.old_sha, row.new_sha):
        log.warning(
            "the merge of %s #%s was cut short before its rows were written: %s is back at %s",
            row.repository_id, row.pull_number, row.base_ref, row.old_sha,
        )  # fmt: skip
        return
    log.error(
        "the merge of %s #%s was cut short before its rows were written, and %s has moved on "
        "to %s since (from the merge's %s): it stays; the pull request stays open",
        row.repository_id, row.pull_number, row.base_ref, at, row.new_sha,
    )  # fmt: skip


__all__ = ["recover_merges"]
