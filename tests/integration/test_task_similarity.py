"""Duplicate flags and hybrid search over tasks, with the real local embedder on real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import procrastinate
import pytest
from sqlalchemy import func, select

from devflow.core.db import unit_of_work
from devflow.core.errors import Invalid, NotFound
from devflow.core.events import Event
from devflow.core.jobs import job_context
from devflow.identity import Project
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.settings import load_settings
from devflow.workflows import TaskCreate, TaskUpdate, add_comment, create_task, update_task
from devflow.workflows.models import (
    Task,
    TaskChange,
    TaskComment,
    TaskCommentEmbedding,
    TaskEmbedding,
)
from devflow.workflows.settings import WorkflowsSettings
from devflow.workflows.similar import (
    MAX_QUERY_CHARS,
    embed_comment,
    embed_missing,
    flag_duplicates,
    jobs,
    refresh_task,
    search_tasks,
)
from tests.factories import make_user, services_on
from tests.knowledge_site.embedder import BrokenEmbedder, shared_local

LEASE = timedelta(minutes=15)
P = "web"
THRESHOLD = WorkflowsSettings().duplicate_threshold


@pytest.fixture(scope="module")
def embedder():
    return shared_local()


@pytest.fixture
async def owner(sessions):
    async with unit_of_work(sessions) as session:
        principal, _ = await make_user(session, "olga")
        await identity.create_project(session, principal=principal, data=ProjectCreate(name=P))
        await identity.create_project(session, principal=principal, data=ProjectCreate(name="api"))
    return principal


async def _create(sessions, principal, embedder, title, body="", project=P, **fields):
    """Create a task and flag it, as `service.create_task` does once wired; return the flag."""
    async with unit_of_work(sessions) as session:
        made = await create_task(
            session,
            principal=principal,
            project=project,
            data=TaskCreate(title=title, body=body, **fields),
        )
        task = await _row(session, project, made.number)
        return await flag_duplicates(
            session, embedder=embedder, task=task, threshold=THRESHOLD, principal=principal
        )


async def _row(session, project, number):
    return await session.scalar(
        select(Task)
        .join(Project, Project.id == Task.project_id)
        .where(Project.name == project, Task.number == number)
    )


async def _comment(sessions, principal, embedder, number, body, project=P):
    async with unit_of_work(sessions) as session:
        made = await add_comment(
            session, principal=principal, project=project, number=number, body=body, lease=LEASE
        )
        comment = await session.get(TaskComment, made.id)
        assert await embed_comment(session, embedder=embedder, comment=comment)


async def _search(sessions, principal, query, embedder=None, project=P, **options):
    async with unit_of_work(sessions) as session:
        return await search_tasks(
            session,
            principal=principal,
            project=project,
            query=query,
            embedder=embedder,
            **options,
        )


LOGIN = (
    "Login fails after password reset",
    "Users who reset their password get 'invalid credentials' on the next sign-in.",
)
LOGIN_AGAIN = (
    "Cannot log in after resetting password",
    "After a password reset the new password is rejected at login.",
)


class TestDuplicates:
    async def test_a_paraphrase_is_flagged_on_the_task_in_its_history_and_as_an_event(
        self, sessions, owner, embedder
    ):
        assert await _create(sessions, owner, embedder, *LOGIN) is None
        await _create(sessions, owner, embedder, "Add CSV export to the task list")
        flag = await _create(sessions, owner, embedder, *LOGIN_AGAIN)
        assert flag is not None
        assert (flag.number, flag.title) == (1, LOGIN[0])
        assert THRESHOLD <= flag.score <= 1
        assert str(flag).startswith("possible duplicate of #1")
        async with unit_of_work(sessions) as session:
            task = await _row(session, P, 3)
            assert (task.duplicate_of, task.duplicate_score) == (1, flag.score)
            assert task.version == 1  # the system's note, not an edit
            change = await session.scalar(
                select(TaskChange).where(
                    TaskChange.task_id == task.id, TaskChange.field == "duplicate_of"
                )
            )
            assert (change.old, change.new, change.actor_id) == (None, 1, None)
            event = await session.scalar(
                select(Event).where(Event.type == "task.updated").order_by(Event.id.desc())
            )
            assert event.payload["fields"] == ["duplicate_of"]
            assert (event.payload["number"], event.payload["duplicate_of"]) == (3, 1)

    async def test_an_unrelated_task_is_not_flagged(self, sessions, owner, embedder):
        await _create(sessions, owner, embedder, *LOGIN)
        flag = await _create(
            sessions, owner, embedder, "Docker image runs as root", "Use an unprivileged user."
        )
        assert flag is None
        async with unit_of_work(sessions) as session:
            task = await _row(session, P, 2)
            assert (task.duplicate_of, task.duplicate_score) == (None, None)
            assert await session.get(TaskEmbedding, task.id) is not None  # stored all the same

    async def test_a_done_task_is_not_a_candidate(self, sessions, owner, embedder):
        await _create(sessions, owner, embedder, *LOGIN)
        async with unit_of_work(sessions) as session:
            await update_task(
                session,
                principal=owner,
                project=P,
                number=1,
                data=TaskUpdate(version=1, column="Done"),
                lease=LEASE,
            )
        assert await _create(sessions, owner, embedder, *LOGIN_AGAIN) is None

    async def test_another_projects_task_never_matches_even_with_the_same_text(
        self, sessions, owner, embedder
    ):
        await _create(sessions, owner, embedder, *LOGIN, project="api")
        async with unit_of_work(sessions) as session:
            made = await create_task(
                session, principal=owner, project=P, data=TaskCreate(title=LOGIN[0], body=LOGIN[1])
            )
            task = await _row(session, P, made.number)
            flag = await flag_duplicates(session, embedder=embedder, task=task, threshold=0.0)
        assert flag is None

    async def test_a_sub_task_is_not_a_duplicate_of_its_parent(self, sessions, owner, embedder):
        await _create(sessions, owner, embedder, *LOGIN, type="epic")
        assert await _create(sessions, owner, embedder, *LOGIN, parent=1) is None
        # …while a third copy, outside that family, is one.
        flag = await _create(sessions, owner, embedder, *LOGIN)
        assert flag is not None
        assert flag.number in {1, 2}

    async def test_a_failing_embedder_flags_nothing_and_the_backfill_embeds_later(
        self, sessions, owner, embedder
    ):
        await _create(sessions, owner, embedder, *LOGIN)
        assert await _create(sessions, owner, BrokenEmbedder(), *LOGIN_AGAIN) is None
        await _comment(sessions, owner, embedder, 1, "Seen on staging too.")
        async with unit_of_work(sessions) as session:
            counted = select(func.count()).select_from(TaskEmbedding)
            assert await session.scalar(counted) == 1
            assert await embed_missing(session, embedder=embedder) == 1
            assert await session.scalar(counted) == 2
            assert await embed_missing(session, embedder=embedder) == 0

    async def test_an_embedder_of_another_model_re_embeds_everything(
        self, sessions, owner, embedder
    ):
        from tests.knowledge_site.embedder import SmallHashingEmbedder

        await _create(sessions, owner, embedder, *LOGIN)
        await _comment(sessions, owner, embedder, 1, "Seen on staging too.")
        async with unit_of_work(sessions) as session:
            assert await embed_missing(session, embedder=SmallHashingEmbedder()) == 2
            models = set(await session.scalars(select(TaskCommentEmbedding.model)))
            assert models == {"test:hashing-64"}


class TestBackfillJob:
    async def test_the_job_embeds_what_is_missing_with_the_process_embedder(
        self, sessions, owner, embedder, monkeypatch
    ):
        monkeypatch.setenv(
            "DEVFLOW_KNOWLEDGE__EMBEDDER", "python:tests.knowledge_site.embedder:shared_local"
        )
        await _create(sessions, owner, None, *LOGIN)  # created while no embedder answered
        await _create(sessions, owner, None, *LOGIN_AGAIN)
        context = SimpleNamespace(
            additional_context=job_context(services_on(sessions, load_settings()))
        )
        assert await jobs.embed_tasks(context, 0) == 2  # type: ignore[arg-type]
        assert await jobs.embed_tasks(context, 0) == 0  # type: ignore[arg-type]

    def test_it_runs_every_five_minutes_one_at_a_time(self):
        blueprint = procrastinate.Blueprint()
        jobs.register(blueprint)
        task = blueprint.tasks[jobs.JOB]
        assert task.queueing_lock == jobs.JOB
        assert [p.cron for p in blueprint.periodic_registry.periodic_tasks.values()] == [
            "*/5 * * * *"
        ]


class TestFreshness:
    async def test_an_update_re_embeds_only_a_changed_text(self, sessions, owner, embedder):
        await _create(sessions, owner, embedder, *LOGIN)
        async with unit_of_work(sessions) as session:
            task = await _row(session, P, 1)
            before = (await session.get(TaskEmbedding, task.id)).text_hash
            assert not await refresh_task(session, embedder=embedder, task=task)
            task.priority = 3  # not part of the text
            assert not await refresh_task(session, embedder=embedder, task=task)
            task.body = "Only with SSO accounts."
            assert await refresh_task(session, embedder=embedder, task=task)
            after = await session.scalar(
                select(TaskEmbedding.text_hash).where(TaskEmbedding.task_id == task.id)
            )
            assert after != before
            assert not await refresh_task(session, embedder=None, task=task)

    async def test_a_failed_re_embedding_leaves_no_stale_vector_for_the_backfill_to_miss(
        self, sessions, owner, embedder
    ):
        await _create(sessions, owner, embedder, *LOGIN)
        async with unit_of_work(sessions) as session:
            task = await _row(session, P, 1)
            task.title = "Something else entirely"
            assert not await refresh_task(session, embedder=BrokenEmbedder(), task=task)
            assert await session.get(TaskEmbedding, task.id) is None
            assert await embed_missing(session, embedder=embedder) == 1


class TestSearch:
    @pytest.fixture
    async def board(self, sessions, owner, embedder):
        await _create(
            sessions, owner, embedder, "Users cannot sign in once they reset their password"
        )
        await _create(sessions, owner, embedder, "Add CSV export to the task list")
        await _create(sessions, owner, embedder, "Dark theme for the web dashboard")
        await _create(sessions, owner, embedder, "Improve onboarding", "Make the first run easy.")
        await _comment(
            sessions, owner, embedder, 4, "The zebra-striped table in step two is unreadable."
        )
        return owner

    async def test_a_comments_words_find_its_task_naming_the_comment(
        self, sessions, board, embedder
    ):
        hits = await _search(sessions, board, "zebra striped", embedder)
        assert hits[0].number == 4
        assert hits[0].comment is not None
        assert "zebra-striped" in hits[0].comment
        assert hits[0].comment_id is not None
        assert hits[0].keyword_rank == 1

    async def test_meaning_finds_a_task_that_shares_no_word_with_the_query(
        self, sessions, board, embedder
    ):
        query = "authentication broken after credential change"
        assert await _search(sessions, board, query) == []  # keywords alone: nothing
        hits = await _search(sessions, board, query, embedder)
        assert [h.number for h in hits][:1] == [1]
        assert hits[0].semantic_rank == 1
        assert hits[0].keyword_rank is None
        night = await _search(sessions, board, "night colour scheme for the UI", embedder)
        assert night[0].number == 3

    async def test_a_query_about_nothing_here_finds_nothing(self, sessions, board, embedder):
        assert await _search(sessions, board, "kubernetes helm chart", embedder) == []

    async def test_filters_by_state_and_run(self, sessions, board, embedder):
        async with unit_of_work(sessions) as session:
            await update_task(
                session,
                principal=board,
                project=P,
                number=1,
                data=TaskUpdate(version=1, column="Done"),
                lease=LEASE,
            )
        query = "password reset sign in"
        assert [h.number for h in await _search(sessions, board, query, embedder)][:1] == [1]
        assert [h.state for h in await _search(sessions, board, query, state="done")] == ["done"]
        still_open = await _search(sessions, board, query, embedder, state="open")
        assert 1 not in {h.number for h in still_open}
        assert await _search(sessions, board, query, embedder, run=7) == []

    async def test_a_number_finds_that_task(self, sessions, board):
        hits = await _search(sessions, board, "#3")
        assert [(h.number, h.score) for h in hits] == [(3, 1.0)]
        assert await _search(sessions, board, "#99") == []

    async def test_another_projects_tasks_are_never_found(self, sessions, board, embedder):
        assert await _search(sessions, board, "zebra striped", embedder, project="api") == []

    async def test_a_project_the_caller_cannot_see_is_not_found(self, sessions, board, embedder):
        async with unit_of_work(sessions) as session:
            stranger, _ = await make_user(session, "sam")
        with pytest.raises(NotFound):
            await _search(sessions, stranger, "zebra", embedder)


class TestHostileQueries:
    @pytest.mark.parametrize("query", ["", "   ", "\x00", "\n\t"])
    async def test_an_empty_query_is_refused(self, sessions, owner, embedder, query):
        with pytest.raises(Invalid, match="empty"):
            await _search(sessions, owner, query, embedder)

    async def test_a_huge_query_is_refused_and_the_longest_allowed_one_runs(
        self, sessions, owner, embedder
    ):
        await _create(sessions, owner, embedder, *LOGIN)
        with pytest.raises(Invalid, match="limit is 2000"):
            await _search(sessions, owner, "password " * 1000, embedder)
        longest = ("password reset login " * 200)[:MAX_QUERY_CHARS]
        hits = await _search(sessions, owner, longest, embedder)
        assert [h.number for h in hits] == [1]

    async def test_nul_and_markup_are_only_text(self, sessions, owner, embedder):
        await _create(sessions, owner, embedder, *LOGIN)
        hits = await _search(sessions, owner, "password\x00reset", embedder)
        assert [h.number for h in hits] == [1]
        for query in ["'); DROP TABLE task; --", "a & | ! ( ) :* <->", "the of a", "#", "#-1"]:
            await _search(sessions, owner, query, embedder)  # no error
        async with unit_of_work(sessions) as session:
            assert await session.scalar(select(func.count()).select_from(Task)) == 1

    async def test_a_huge_task_and_comment_are_embedded_from_their_start(
        self, sessions, owner, embedder
    ):
        await _create(sessions, owner, embedder, "Title", "x" * 100_000)
        await _comment(sessions, owner, embedder, 1, "y" * 20_000)
        hits = await _search(sessions, owner, "title", embedder)
        assert [h.number for h in hits] == [1]
