"""Tasks, the board and claiming, through the workflows services on real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from devflow.core import clock
from devflow.core.auth import Role
from devflow.core.db import unit_of_work
from devflow.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from devflow.core.events import Event
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.workflows import (
    ColumnCreate,
    ColumnUpdate,
    TaskCreate,
    TaskFilter,
    TaskUpdate,
    add_comment,
    claim_next,
    create_column,
    create_task,
    get_task,
    history,
    list_tasks,
    release_expired,
    show_board,
    update_column,
    update_task,
)
from tests.factories import make_user

LEASE = timedelta(minutes=15)
P = "web"


@pytest.fixture
async def owner(sessions):
    async with unit_of_work(sessions) as session:
        principal, _ = await make_user(session, "olga")
        await identity.create_project(session, principal=principal, data=ProjectCreate(name=P))
    return principal


async def _create(sessions, principal, title, **fields):
    async with unit_of_work(sessions) as session:
        return await create_task(
            session, principal=principal, project=P, data=TaskCreate(title=title, **fields)
        )


async def _update(sessions, principal, number, **fields):
    async with unit_of_work(sessions) as session:
        return await update_task(
            session,
            principal=principal,
            project=P,
            number=number,
            data=TaskUpdate(**fields),
            lease=LEASE,
        )


async def _get(sessions, principal, number):
    async with unit_of_work(sessions) as session:
        return await get_task(session, principal=principal, project=P, number=number)


async def _claim(sessions, principal, lease=LEASE):
    async with unit_of_work(sessions) as session:
        return await claim_next(session, principal=principal, project=P, lease=lease)


async def _member(sessions, owner, username, role=Role.WRITE):
    async with unit_of_work(sessions) as session:
        _, token = await make_user(session, username)
        await identity.set_membership(
            session, principal=owner, project_name=P, username=username, role=role
        )
        return await identity.authenticate(session, token=token)


class TestNumbering:
    async def test_numbers_count_up_per_project_from_one(self, sessions, owner):
        first = await _create(sessions, owner, "first")
        second = await _create(sessions, owner, "second")
        assert (first.number, second.number) == (1, 2)
        assert (first.column, first.state, first.version) == ("Backlog", "open", 1)

    async def test_concurrent_creations_get_every_number_once_without_gaps(self, sessions, owner):
        made = await asyncio.gather(*(_create(sessions, owner, f"t{i}") for i in range(20)))
        assert sorted(t.number for t in made) == list(range(1, 21))

    async def test_a_refused_creation_writes_nothing_and_leaves_no_gap(self, sessions, owner):
        await _create(sessions, owner, "one")
        with pytest.raises(NotFound, match="no task #99"):
            await _create(sessions, owner, "blocked by a ghost", blocked_by=[99])
        assert (await _create(sessions, owner, "two")).number == 2
        async with unit_of_work(sessions) as session:
            _, total = await list_tasks(session, principal=owner, project=P, filters=TaskFilter())
        assert total == 2


class TestUpdates:
    async def test_a_stale_version_is_refused_with_the_current_one(self, sessions, owner):
        await _create(sessions, owner, "title")
        await _update(sessions, owner, 1, version=1, title="by alice")
        with pytest.raises(Conflict, match="version 2") as refused:
            await _update(sessions, owner, 1, version=1, title="by bob")
        assert refused.value.details["current_version"] == 2
        assert (await _get(sessions, owner, 1)).title == "by alice"

    async def test_history_records_who_when_field_old_and_new(self, sessions, owner):
        await _create(sessions, owner, "old title", labels=["a"])
        await _update(
            sessions, owner, 1, version=1, title="new title", priority="urgent", labels=["a", "b"]
        )
        async with unit_of_work(sessions) as session:
            changes, total = await history(session, principal=owner, project=P, number=1)
        seen = {c.field: (c.old, c.new, c.actor) for c in changes}
        assert seen["title"] == ("old title", "new title", "olga")
        assert seen["priority"] == ("medium", "urgent", "olga")
        assert seen["labels"] == (["a"], ["a", "b"], "olga")
        assert total == 4  # created, then three fields

    async def test_a_failed_update_changes_nothing(self, sessions, owner):
        await _create(sessions, owner, "keep me")
        with pytest.raises(NotFound):
            await _update(sessions, owner, 1, version=1, title="lost", blocked_by=[42])
        task = await _get(sessions, owner, 1)
        assert (task.title, task.version, task.blocked_by) == ("keep me", 1, [])

    async def test_an_update_that_changes_nothing_keeps_the_version(self, sessions, owner):
        await _create(sessions, owner, "same")
        assert (await _update(sessions, owner, 1, version=1, title="same")).version == 1

    async def test_every_change_is_an_event(self, sessions, owner):
        await _create(sessions, owner, "eventful")
        await _update(sessions, owner, 1, version=1, column="Todo")
        async with unit_of_work(sessions) as session:
            kinds = list(await session.scalars(select(Event.type).order_by(Event.id)))
        assert kinds[-2:] == ["task.created", "task.updated"]


class TestDependencies:
    async def test_a_cycle_is_refused_naming_it(self, sessions, owner):
        for title in "abc":
            await _create(sessions, owner, title)
        await _update(sessions, owner, 2, version=1, blocked_by=[1])
        await _update(sessions, owner, 3, version=1, blocked_by=[2])
        with pytest.raises(Conflict, match=r"#1 → #3 → #2 → #1") as refused:
            await _update(sessions, owner, 1, version=1, blocked_by=[3])
        assert refused.value.details["cycle"] == [1, 3, 2, 1]
        assert (await _get(sessions, owner, 1)).blocked_by == []

    async def test_a_task_cannot_block_itself_or_be_its_own_parent(self, sessions, owner):
        await _create(sessions, owner, "selfish")
        with pytest.raises(Invalid, match="cannot block itself"):
            await _update(sessions, owner, 1, version=1, blocked_by=[1])
        with pytest.raises(Invalid, match="its own parent"):
            await _update(sessions, owner, 1, version=1, parent=1)

    async def test_a_parent_loop_is_refused(self, sessions, owner):
        await _create(sessions, owner, "epic", type="epic")
        await _create(sessions, owner, "story", parent=1)
        with pytest.raises(Conflict, match="sub-task of #1"):
            await _update(sessions, owner, 1, version=1, parent=2)
        assert (await _get(sessions, owner, 1)).children == [2]
        assert (await _update(sessions, owner, 2, version=1, parent=0)).parent is None

    async def test_blocked_is_true_until_every_blocker_is_done(self, sessions, owner):
        await _create(sessions, owner, "blocker")
        await _create(sessions, owner, "blocked", blocked_by=[1])
        assert (await _get(sessions, owner, 2)).blocked
        await _update(sessions, owner, 1, version=1, column="Done")
        task = await _get(sessions, owner, 2)
        assert (task.blocked, task.blocked_by) == (False, [1])


class TestBoard:
    async def test_the_default_columns_are_made_on_first_use(self, sessions, owner):
        async with unit_of_work(sessions) as session:
            board = await show_board(session, principal=owner, project=P)
        assert [(c.name, c.state, c.wip_limit) for c in board.columns] == [
            ("Backlog", "open", None),
            ("Todo", "open", None),
            ("In progress", "in_progress", None),
            ("In review", "review", None),
            ("Done", "done", None),
        ]

    async def test_two_first_uses_at_once_make_one_set(self, sessions, owner):
        async def look():
            async with unit_of_work(sessions) as session:
                return await show_board(session, principal=owner, project=P)

        boards = await asyncio.gather(*(look() for _ in range(5)))
        assert {len(b.columns) for b in boards} == {5}

    async def test_a_move_past_a_wip_limit_is_refused_naming_it(self, sessions, owner):
        for title in "ab":
            await _create(sessions, owner, title)
        async with unit_of_work(sessions) as session:
            await update_column(
                session,
                principal=owner,
                project=P,
                ref="in progress",
                data=ColumnUpdate(wip_limit=1),
            )
        await _update(sessions, owner, 1, version=1, column="In progress")
        with pytest.raises(Conflict, match=r"'In progress' is at its WIP limit of 1") as refused:
            await _update(sessions, owner, 2, version=1, column="In progress")
        assert refused.value.details == {"column": "In progress", "wip_limit": 1, "count": 1}

    async def test_tasks_can_be_placed_between_others(self, sessions, owner):
        for title in "abcd":
            await _create(sessions, owner, title)
        await _update(sessions, owner, 4, version=1, before=2)
        await _update(sessions, owner, 3, version=1, after=1)
        for _ in range(30):  # again and again into the same gap
            current = await _get(sessions, owner, 2)
            await _update(sessions, owner, 2, version=current.version, after=3)
        async with unit_of_work(sessions) as session:
            board = await show_board(session, principal=owner, project=P)
        assert [t.title for t in board.columns[0].tasks] == ["a", "c", "b", "d"]

    async def test_an_unknown_column_is_named_with_the_ones_there_are(self, sessions, owner):
        await _create(sessions, owner, "a")
        with pytest.raises(NotFound, match=r"no column 'Doing'.*'In review'"):
            await _update(sessions, owner, 1, version=1, column="Doing")

    async def test_only_project_admins_edit_columns(self, sessions, owner):
        writer = await _member(sessions, owner, "wendy")
        async with unit_of_work(sessions) as session:
            with pytest.raises(PermissionDenied, match="needs admin"):
                await create_column(
                    session,
                    principal=writer,
                    project=P,
                    data=ColumnCreate(name="QA", state="review"),
                )
            made = await create_column(
                session,
                principal=owner,
                project=P,
                data=ColumnCreate(name="QA", state="review", wip_limit=2, position=3),
            )
        assert (made.name, made.position, made.wip_limit) == ("QA", 3, 2)

    async def test_a_column_state_change_moves_its_tasks_state(self, sessions, owner):
        await _create(sessions, owner, "a", column="In review")
        async with unit_of_work(sessions) as session:
            await update_column(
                session,
                principal=owner,
                project=P,
                ref="In review",
                data=ColumnUpdate(state="in_progress"),
            )
        assert (await _get(sessions, owner, 1)).state == "in_progress"


class TestClaiming:
    async def test_the_highest_priority_unblocked_task_is_claimed_first(self, sessions, owner):
        await _create(sessions, owner, "low", priority="low")
        await _create(sessions, owner, "urgent but blocked", priority="urgent", blocked_by=[1])
        await _create(sessions, owner, "an epic", priority="urgent", type="epic")
        await _create(sessions, owner, "high", priority="high")
        claimed = await _claim(sessions, owner)
        assert (claimed.number, claimed.assignee, claimed.column) == (4, "olga", "In progress")
        assert claimed.lease_expires_at is not None
        assert (await _claim(sessions, owner)).number == 1
        assert await _claim(sessions, owner) is None  # 2 is blocked by 1, in progress

    async def test_a_task_assigned_to_someone_else_is_not_claimed(self, sessions, owner):
        await _member(sessions, owner, "bob")
        await _create(sessions, owner, "bob's", assignee="bob")
        assert await _claim(sessions, owner) is None

    async def test_only_a_member_of_the_project_can_be_assigned(self, sessions, owner):
        async with unit_of_work(sessions) as session:
            await make_user(session, "stranger")  # a user of the instance, not of the project
        for name in ("stranger", "nobody"):  # the same answer: no user is revealed
            with pytest.raises(NotFound, match=f"no user '{name}' in project"):
                await _create(sessions, owner, "theirs", assignee=name)
        task = await _create(sessions, owner, "mine")
        with pytest.raises(NotFound, match="devflow project add-member"):
            await _update(sessions, owner, task.number, version=task.version, assignee="stranger")
        async with unit_of_work(sessions) as session:
            await identity.set_membership(
                session, principal=owner, project_name=P, username="stranger", role=Role.READ
            )
        assigned = await _update(
            sessions, owner, task.number, version=task.version, assignee="stranger"
        )
        assert assigned.assignee == "stranger"

    async def test_claims_respect_the_wip_limit(self, sessions, owner):
        for title in "ab":
            await _create(sessions, owner, title)
        async with unit_of_work(sessions) as session:
            await update_column(
                session,
                principal=owner,
                project=P,
                ref="In progress",
                data=ColumnUpdate(wip_limit=1),
            )
        await _claim(sessions, owner)
        with pytest.raises(Conflict, match="WIP limit of 1"):
            await _claim(sessions, owner)

    async def test_a_reader_cannot_claim(self, sessions, owner):
        reader = await _member(sessions, owner, "rita", Role.READ)
        await _create(sessions, owner, "a")
        with pytest.raises(PermissionDenied):
            await _claim(sessions, reader)

    async def test_each_task_goes_to_one_claimant_and_never_while_blocked(self, sessions, owner):
        """20 claimants over real connections against 100 tasks with dependencies: each claims,
        then closes what it claimed, until nothing is left."""
        rng = random.Random(16)  # noqa: S311 - a reproducible shape, not a secret
        for n in range(1, 101):
            blockers = sorted(rng.sample(range(1, n), k=min(n - 1, rng.randint(0, 2))))
            await _create(
                sessions,
                owner,
                f"task {n}",
                priority=rng.choice(["low", "high"]),
                blocked_by=blockers,
            )
        claimants = [await _member(sessions, owner, f"agent{i}") for i in range(20)]
        claimed: list[tuple[int, str]] = []
        blocked_when_claimed: list[int] = []

        async def work(principal):
            while True:
                task = await _claim(sessions, principal)
                if task is None:
                    return
                claimed.append((task.number, principal.username))
                if task.blocked:
                    blocked_when_claimed.append(task.number)
                await _update(sessions, principal, task.number, version=task.version, column="Done")

        # Claimants that find nothing while others still hold blockers come back for more.
        for _ in range(100):
            await asyncio.gather(*(work(p) for p in claimants))
            async with unit_of_work(sessions) as session:
                _, left = await list_tasks(
                    session, principal=owner, project=P, filters=TaskFilter(state="open")
                )
            if not left:
                break
        numbers = [n for n, _ in claimed]
        assert sorted(numbers) == list(range(1, 101))  # every task once: no double assignment
        assert blocked_when_claimed == []
        async with unit_of_work(sessions) as session:
            claims = await session.scalar(
                select(func.count()).select_from(Event).where(Event.type == "task.claimed")
            )
        assert claims == 100

    async def test_an_expired_lease_returns_the_task_to_the_queue(
        self, sessions, owner, monkeypatch
    ):
        bob = await _member(sessions, owner, "bob")
        await _create(sessions, owner, "abandoned")
        taken = await _claim(sessions, owner)
        assert taken.assignee == "olga"
        assert await _claim(sessions, bob) is None
        later = clock.now() + LEASE + timedelta(seconds=1)
        monkeypatch.setattr(clock, "now", lambda: later)
        again = await _claim(sessions, bob)
        assert (again.number, again.assignee) == (1, "bob")
        async with unit_of_work(sessions) as session:
            changes, _ = await history(session, principal=owner, project=P, number=1)
        notes = [(c.field, c.old, c.new) for c in changes if c.note and "lease expired" in c.note]
        assert ("assignee", "olga", None) in notes

    async def test_an_update_by_the_claimant_renews_the_lease(self, sessions, owner, monkeypatch):
        bob = await _member(sessions, owner, "bob")
        await _create(sessions, owner, "kept alive")
        taken = await _claim(sessions, owner)
        start = clock.now()
        monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=10))
        async with unit_of_work(sessions) as session:
            await add_comment(
                session, principal=owner, project=P, number=1, body="still on it", lease=LEASE
            )
        monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=20))
        assert await _claim(sessions, bob) is None  # renewed at minute 10, until 25
        monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=26))
        async with unit_of_work(sessions) as session:
            assert await release_expired(session) == 1
        task = await _get(sessions, owner, 1)
        assert (task.assignee, task.column, task.version) == (None, "Todo", taken.version + 1)


class TestSearch:
    async def test_keywords_find_tasks_by_their_text_and_their_comments(self, sessions, owner):
        await _create(sessions, owner, "Login redirect loops", body="after the OAuth callback")
        await _create(sessions, owner, "Unrelated")
        async with unit_of_work(sessions) as session:
            await add_comment(
                session, principal=owner, project=P, number=2, body="zebracorn found", lease=LEASE
            )

        async def search(q):
            async with unit_of_work(sessions) as session:
                items, _ = await list_tasks(
                    session, principal=owner, project=P, filters=TaskFilter(q=q)
                )
            return [t.number for t in items]

        assert await search("oauth") == [1]
        assert await search("zebracorn") == [2]
        assert await search("#2") == [2]
