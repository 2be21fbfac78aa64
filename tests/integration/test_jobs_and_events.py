import asyncio

import pytest
from sqlalchemy import text

from devflow.core.config import JobSettings
from devflow.core.db import libpq_url, unit_of_work
from devflow.core.events import EventBus, emit, visible_events
from devflow.core.jobs import create_job_app, defer, get_job, requeue_stalled_jobs
from tests import jobs_plugin
from tests.factories import run_jobs


def job_app(db_url):
    return create_job_app(
        libpq_url(db_url), blueprints=[jobs_plugin.blueprint], settings=JobSettings()
    )


async def run_until_idle(db_url) -> None:
    await run_jobs(db_url, [jobs_plugin.blueprint])


class TestDefer:
    async def test_a_job_exists_only_if_its_transaction_commits(self, sessions):
        async def defer_then_fail() -> None:
            async with unit_of_work(sessions) as session:
                await defer(session, task="tests:count_to", args={"n": 1})
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await defer_then_fail()
        async with unit_of_work(sessions) as session:
            count = await session.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
        assert count == 0

    async def test_a_queueing_lock_keeps_one_waiting_job(self, sessions):
        async with unit_of_work(sessions) as session:
            first = await defer(session, task="tests:count_to", args={"n": 1}, queueing_lock="x")
            second = await defer(session, task="tests:count_to", args={"n": 1}, queueing_lock="x")
        assert first == second


class TestWorker:
    async def test_progress_is_readable_and_success_recorded(self, db_url, sessions):
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:count_to", args={"n": 3})
            queued = await get_job(session, job_id=job_id)
        assert (queued.status, queued.message) == ("todo", "queued")
        await run_until_idle(db_url)
        async with unit_of_work(sessions) as session:
            job = await get_job(session, job_id=job_id)
        assert (job.status, job.done, job.total, job.attempts) == ("succeeded", 3, 3, 1)
        assert job.error is None

    async def test_each_phase_has_its_own_clock_unit_and_counts(self, db_url, sessions):
        pause = 0.2
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:two_phases", args={"pause": pause})
        await run_until_idle(db_url)
        async with unit_of_work(sessions) as session:
            job = await get_job(session, job_id=job_id)
            started = await session.scalar(
                text(
                    "SELECT min(at) FROM procrastinate_events "
                    "WHERE job_id = :id AND type = 'started'"
                ),
                {"id": job_id},
            )
        assert (job.status, job.phase, job.unit, job.done, job.total) == (
            "succeeded",
            "second",
            "chunks",
            4,
            4,
        )
        assert job.counts == {"embedded": 4}
        assert job.phase_started_at is not None
        assert job.updated_at is not None
        # The clock started again when the phase changed, and not again when it went on.
        assert (job.phase_started_at - started).total_seconds() >= pause
        assert (job.updated_at - job.phase_started_at).total_seconds() >= pause
        assert job.rate is not None
        assert job.rate > 0
        assert job.eta_seconds == 0

    async def test_a_failure_keeps_its_error_and_is_retried_later(self, db_url, sessions):
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:fail_always", args={"reason": "bad input"})
        await run_until_idle(db_url)
        async with unit_of_work(sessions) as session:
            job = await get_job(session, job_id=job_id)
        assert job.status == "todo"  # scheduled for a retry an hour later
        assert job.attempts == 1
        assert job.error == "ValueError: bad input"  # not DevFlow's own: the class says more
        assert job.message == "attempt 1 failed; it will be retried"

    async def test_a_last_failure_says_failed_with_devflows_own_message(self, db_url, sessions):
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:fail_for_good", args={"reason": "no pages"})
        await run_until_idle(db_url)
        async with unit_of_work(sessions) as session:
            job = await get_job(session, job_id=job_id)
        assert (job.status, job.message, job.error) == ("failed", "failed", "no pages")

    async def test_jobs_of_a_dead_worker_are_requeued(self, db_url, sessions):
        async with unit_of_work(sessions) as session:
            job_id = await defer(session, task="tests:count_to", args={"n": 1})
            dead = await session.scalar(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '1 hour') RETURNING id"
                )
            )
            await session.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"
                ),
                {"w": dead, "j": job_id},
            )
        app = job_app(db_url)
        async with app.open_async():
            assert await requeue_stalled_jobs(app, stalled_after=30) == 1
            assert await requeue_stalled_jobs(app, stalled_after=30) == 0
        await run_until_idle(db_url)
        async with unit_of_work(sessions) as session:
            assert (await get_job(session, job_id=job_id)).status == "succeeded"


class TestEvents:
    async def test_listeners_hear_of_an_event_only_after_commit(self, db_url, sessions):
        bus = EventBus(libpq_url(db_url))
        await bus.start()
        try:
            async with bus.subscribe() as queue:
                await asyncio.sleep(0.3)  # let the LISTEN connection settle
                async with unit_of_work(sessions) as session:
                    event = await emit(session, type="test.happened", payload={"n": 1})
                    await asyncio.sleep(0.1)
                    assert queue.empty()
                delivered = await asyncio.wait_for(queue.get(), 10)
        finally:
            await bus.stop()
        assert delivered == event.id

    async def test_type_filters_match_exactly_or_by_prefix(self, sessions):
        async with unit_of_work(sessions) as session:
            for kind in ("knowledge.crawl.done", "knowledge.source.added", "project.created"):
                await emit(session, type=kind, payload={})
        async with unit_of_work(sessions) as session:
            prefix = await session.scalars(visible_events(project_ids=None, types=["knowledge.*"]))
            exact = await session.scalars(
                visible_events(project_ids=None, types=["project.created"])
            )
            none = await session.scalars(visible_events(project_ids=[], types=[]))
            assert sorted(e.type for e in prefix) == [
                "knowledge.crawl.done",
                "knowledge.source.added",
            ]
            assert [e.type for e in exact] == ["project.created"]
            assert list(none) == []
