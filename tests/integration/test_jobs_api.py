"""Jobs over HTTP: cancel and retry (who may, what each state allows, hostile ids), the
`job.progress` events every job sends, and the event history a page fills itself from."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text

from devflow.core.db import libpq_url, unit_of_work
from devflow.core.jobs import create_job_app, defer, job_context
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from tests import jobs_plugin
from tests.factories import (
    api_client,
    make_user,
    open_test_services,
    run_jobs,
)

J = "/api/v1/jobs"
T = TypeVar("T")


async def job_in(sessions, task: str, args: dict[str, Any], project: str | None = "default"):
    """Queue a job of the tests' plugin in `project` (None: an instance-wide job)."""
    async with unit_of_work(sessions) as session:
        project_id = None
        if project is not None:
            found = await identity.get_project(session, name=project)
            assert found is not None
            project_id = found.id
        return await defer(session, task=task, args=args, project_id=project_id)


async def run_queued(db_url: str) -> None:
    await run_jobs(db_url, [jobs_plugin.blueprint])


@contextlib.asynccontextmanager
async def worker(db_url: str) -> AsyncIterator[None]:
    """A worker running beside the test, as `devflow worker` does, until the block ends."""
    async with open_test_services(db_url) as services:
        app = create_job_app(
            libpq_url(db_url), blueprints=[jobs_plugin.blueprint], settings=services.settings.jobs
        )
        async with app.open_async():
            running = asyncio.create_task(
                app.run_worker_async(
                    install_signal_handlers=False, additional_context=job_context(services)
                )
            )
            try:
                yield
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running


async def until(check: Callable[[], Awaitable[T | None]], bound: float = 60) -> T:
    """Poll `check` until it returns something; a bound on the wait, not a timing."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    pytest.fail("the condition was not reached")


async def job_is(api: httpx.AsyncClient, job_id: int, status: str) -> dict[str, Any] | None:
    job = (await api.get(f"{J}/{job_id}")).json()
    return job if job["status"] == status else None


async def stored_events(sessions, kind: str) -> list[dict[str, Any]]:
    async with unit_of_work(sessions) as session:
        rows = await session.execute(
            text("SELECT payload, project_id, actor_id FROM event WHERE type = :t ORDER BY id"),
            {"t": kind},
        )
        return [{**r.payload, "_project": r.project_id, "_actor": r.actor_id} for r in rows]


def history(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]


class TestCancel:
    async def test_a_queued_job_is_cancelled_at_once_and_recorded(self, api, sessions):
        job_id = await job_in(sessions, "tests:count_to", {"n": 3})
        listed = (await api.get(J)).json()["items"]
        assert [j["actions"] for j in listed if j["id"] == job_id] == [["cancel"]]
        answer = await api.post(f"{J}/{job_id}/cancel")
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert (job["status"], job["message"], job["actions"]) == (
            "cancelled",
            "cancelled before it ran",
            [],
        )
        [event] = await stored_events(sessions, "job.cancelled")
        assert (event["job_id"], event["task"], event["running"]) == (
            job_id,
            "tests:count_to",
            False,
        )
        assert event["_actor"] is not None

    async def test_a_job_procrastinate_deferred_itself_gets_its_message_too(self, api, sessions):
        async with unit_of_work(sessions) as session:
            job_id = await session.scalar(
                text(
                    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('default', "
                    "'tests:count_to', 0, NULL, NULL, '{\"n\": 1}'::jsonb, NULL)"
                    "::procrastinate_job_to_defer_v1]))"
                )
            )
        cancelled = (await api.post(f"{J}/{job_id}/cancel")).json()
        assert (cancelled["status"], cancelled["message"]) == (
            "cancelled",
            "cancelled before it ran",
        )

    async def test_a_running_job_is_asked_to_stop_and_its_task_stops(
        self, api, sessions, db_url, tmp_path
    ):
        never = tmp_path / "never-created"
        job_id = await job_in(sessions, "tests:count_to", {"n": 2, "gate": str(never)})
        async with worker(db_url):
            await until(lambda: job_is(api, job_id, "doing"))
            answer = await api.post(f"{J}/{job_id}/cancel")
            assert answer.status_code == 200, answer.text
            assert (answer.json()["status"], answer.json()["actions"]) == ("aborting", [])
            again = await api.post(f"{J}/{job_id}/cancel")
            assert (again.status_code, again.json()["status"]) == (200, "aborting")
            stopped = await until(lambda: job_is(api, job_id, "aborted"))
        assert stopped["message"] == "cancelled while running"
        assert (await stored_events(sessions, "job.cancelled"))[0]["running"] is True
        final = [e for e in await stored_events(sessions, "job.progress") if e["final"]]
        assert [(e["job_id"], e["message"]) for e in final] == [(job_id, "cancelled while running")]

    async def test_a_finished_job_cannot_be_cancelled(self, api, sessions, db_url):
        job_id = await job_in(sessions, "tests:count_to", {"n": 1})
        await run_queued(db_url)
        answer = await api.post(f"{J}/{job_id}/cancel")
        assert answer.status_code == 409
        error = answer.json()["error"]
        assert error["message"] == (
            f"job {job_id} already ended (succeeded); only a queued or running job can be cancelled"
        )
        assert error["details"] == {"status": "succeeded"}


class TestRetry:
    async def test_a_failed_job_runs_again_as_a_new_attempt(self, api, sessions, db_url):
        job_id = await job_in(sessions, "tests:fail_for_good", {"reason": "no pages"})
        await run_queued(db_url)
        failed = (await api.get(f"{J}/{job_id}")).json()
        assert (failed["status"], failed["actions"]) == ("failed", ["retry"])
        answer = await api.post(f"{J}/{job_id}/retry")
        assert answer.status_code == 200, answer.text
        queued = answer.json()
        assert (queued["status"], queued["message"], queued["actions"]) == (
            "todo",
            "queued again",
            ["cancel"],
        )
        assert queued["error"] == "no pages"  # the last error stays until an attempt succeeds
        await run_queued(db_url)
        again = (await api.get(f"{J}/{job_id}")).json()
        assert again["status"] == "failed"
        assert again["attempts"] > failed["attempts"]
        [event] = await stored_events(sessions, "job.retried")
        assert (event["job_id"], event["task"]) == (job_id, "tests:fail_for_good")

    @pytest.mark.parametrize(
        ("run", "status", "advice"),
        [
            (False, "todo", "it is queued already and runs when a worker is free"),
            (True, "succeeded", "it succeeded"),
        ],
    )
    async def test_only_a_failed_job_can_be_retried(
        self, api, sessions, db_url, run, status, advice
    ):
        job_id = await job_in(sessions, "tests:count_to", {"n": 1})
        if run:
            await run_queued(db_url)
        answer = await api.post(f"{J}/{job_id}/retry")
        assert answer.status_code == 409
        assert answer.json()["error"]["message"] == (
            f"only a failed job can be retried, and job {job_id} has not failed: {advice}"
        )
        assert answer.json()["error"]["details"] == {"status": status}

    async def test_a_running_job_cannot_be_retried(self, api, sessions, db_url, tmp_path):
        gate = tmp_path / "gate"
        job_id = await job_in(sessions, "tests:count_to", {"n": 1, "gate": str(gate)})
        async with worker(db_url):
            await until(lambda: job_is(api, job_id, "doing"))
            answer = await api.post(f"{J}/{job_id}/retry")
            gate.write_text("go")
            await until(lambda: job_is(api, job_id, "succeeded"))
        assert answer.status_code == 409
        assert answer.json()["error"]["message"].endswith("it is running; cancel it first")

    async def test_a_cancelled_job_stays_cancelled(self, api, sessions):
        job_id = await job_in(sessions, "tests:count_to", {"n": 1})
        await api.post(f"{J}/{job_id}/cancel")
        answer = await api.post(f"{J}/{job_id}/retry")
        assert answer.status_code == 409
        assert "it was cancelled and stays so; start its work again" in answer.text

    async def test_a_retry_that_would_queue_the_same_work_twice_names_the_waiting_job(
        self, api, sessions, db_url
    ):
        async with unit_of_work(sessions) as session:
            failed = await defer(
                session, task="tests:fail_for_good", args={"reason": "x"}, queueing_lock="one"
            )
        await run_queued(db_url)
        async with unit_of_work(sessions) as session:
            waiting = await defer(
                session, task="tests:fail_for_good", args={"reason": "x"}, queueing_lock="one"
            )
        answer = await api.post(f"{J}/{failed}/retry")
        assert answer.status_code == 409
        assert answer.json()["error"]["message"] == (
            f"job {waiting} already waits to do the same work as job {failed}; "
            f"follow it with `devflow jobs show {waiting} --watch`"
        )


class TestWhoMay:
    async def test_a_read_only_token_gets_403_naming_the_scope(self, api, sessions):
        job_id = await job_in(sessions, "tests:count_to", {"n": 1})
        token = (await api.post("/api/v1/tokens", json={"name": "ro", "scopes": ["read"]})).json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        assert (await api.get(f"{J}/{job_id}", headers=headers)).json()["actions"] == []
        for action in ("cancel", "retry"):
            answer = await api.post(f"{J}/{job_id}/{action}", headers=headers)
            assert answer.status_code == 403
            assert answer.json()["error"]["details"] == {"required_scope": "write"}

    async def test_a_reader_of_the_project_gets_403_and_a_writer_may(self, app, api, sessions):
        job_id = await job_in(sessions, "tests:count_to", {"n": 1})
        async with unit_of_work(sessions) as session:
            _, reader = await make_user(session, "rita")
            _, writer = await make_user(session, "wes")
        for username, role in (("rita", "read"), ("wes", "write")):
            answer = await api.put(
                "/api/v1/projects/default/members", json={"username": username, "role": role}
            )
            assert answer.status_code == 204
        async with api_client(app, reader) as as_reader:
            assert (await as_reader.get(f"{J}/{job_id}")).json()["actions"] == []
            refused = await as_reader.post(f"{J}/{job_id}/cancel")
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == (
            f"your role in job {job_id}'s project is read; cancelling or retrying its jobs "
            "needs write (a project admin can give it)"
        )
        async with api_client(app, writer) as as_writer:
            assert (await as_writer.get(f"{J}/{job_id}")).json()["actions"] == ["cancel"]
            assert (await as_writer.post(f"{J}/{job_id}/cancel")).status_code == 200

    async def test_another_projects_job_and_an_instance_job_are_not_found(self, app, api, sessions):
        async with unit_of_work(sessions) as session:
            principal, outsider = await make_user(session, "otto")
            await identity.create_project(
                session, principal=principal, data=ProjectCreate(name="otto-only")
            )
        theirs = await job_in(sessions, "tests:count_to", {"n": 1}, project="default")
        instance = await job_in(sessions, "tests:count_to", {"n": 1}, project=None)
        async with api_client(app, outsider) as as_outsider:
            for job_id in (theirs, instance):
                for action in ("cancel", "retry"):
                    answer = await as_outsider.post(f"{J}/{job_id}/{action}")
                    assert answer.status_code == 404, (job_id, action)
                    assert answer.json()["error"]["message"] == f"no job {job_id}"
        assert (await api.post(f"{J}/{instance}/cancel")).json()["status"] == "cancelled"


class TestHostileIds:
    @pytest.mark.parametrize(
        "job_id", ["abc", "0", "-1", "1.5", "9" * 30, "9" * 5000, "%D9%A3", "1e3"]
    )
    @pytest.mark.parametrize("action", ["cancel", "retry"])
    async def test_what_cannot_be_a_job_id_is_refused_saying_what_one_is(self, api, job_id, action):
        answer = await api.post(f"{J}/{job_id}/{action}")
        assert answer.status_code == 422, answer.text
        message = answer.json()["error"]["message"]
        assert "is not a job id: a job id is a whole number from 1 to" in message
        assert "`devflow jobs list` shows them" in message
        assert len(message) < 300

    async def test_an_unknown_job_is_404(self, api):
        answer = await api.post(f"{J}/987654/cancel")
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == "no job 987654"


class TestProgressEvents:
    async def test_a_fast_job_sends_few_progress_events_and_its_final_state(
        self, api, sessions, db_url
    ):
        job_id = await job_in(sessions, "tests:count_to", {"n": 40})
        await run_queued(db_url)
        sent = [e for e in await stored_events(sessions, "job.progress") if e["job_id"] == job_id]
        assert 2 <= len(sent) < 40
        assert sent[0]["done"] == 1
        assert [e["final"] for e in sent] == [False] * (len(sent) - 1) + [True]
        assert [e["done"] for e in sent] == sorted(e["done"] for e in sent)
        last = sent[-1]
        assert (last["done"], last["total"], last["message"], last["task"]) == (
            40,
            40,
            "counted 40",
            "tests:count_to",
        )
        default = (await api.get("/api/v1/projects/default")).json()["id"]
        assert {str(e["_project"]) for e in sent} == {default}

    async def test_a_job_that_reports_nothing_still_sends_how_it_ended(
        self, admin_token, sessions, db_url
    ):
        job_id = await job_in(sessions, "tests:fail_for_good", {"reason": "no pages"})
        await run_queued(db_url)
        [event] = [
            e for e in await stored_events(sessions, "job.progress") if e["job_id"] == job_id
        ]
        assert (event["final"], event["message"], event["error"]) == (True, "failed", "no pages")

    async def test_phases_carry_their_unit_and_rate(self, admin_token, sessions, db_url):
        job_id = await job_in(sessions, "tests:two_phases", {"pause": 0.05})
        await run_queued(db_url)
        sent = [e for e in await stored_events(sessions, "job.progress") if e["job_id"] == job_id]
        assert [e["phase"] for e in sent][:2] == ["first", "second"]  # a new phase goes at once
        assert (sent[-1]["unit"], sent[-1]["counts"], sent[-1]["eta_seconds"]) == (
            "chunks",
            {"embedded": 4},
            0,
        )


class TestEventHistory:
    async def _emit(self, api, names: list[str]) -> None:
        for name in names:
            assert (await api.post("/api/v1/projects", json={"name": name})).status_code == 201

    async def test_the_latest_events_are_listed_oldest_first_without_progress(
        self, api, sessions, db_url
    ):
        await self._emit(api, ["p1", "p2", "p3"])
        job_id = await job_in(sessions, "tests:count_to", {"n": 3})
        await run_queued(db_url)  # job.progress events, newer than the projects
        answer = await api.get(
            "/api/v1/events",
            params={"latest": 2, "follow": "false", "exclude_type": "*.progress"},
        )
        assert answer.status_code == 200
        shown = history(answer.text)
        assert [(e["type"], e["payload"]["name"]) for e in shown] == [
            ("project.created", "p2"),
            ("project.created", "p3"),
        ]
        progress = history(
            (
                await api.get(
                    "/api/v1/events", params={"latest": 1, "follow": "false", "type": "job.*"}
                )
            ).text
        )
        assert [(e["type"], e["payload"]["job_id"]) for e in progress] == [("job.progress", job_id)]

    async def test_a_history_past_what_exists_lists_everything(self, api):
        await self._emit(api, ["only"])
        answer = await api.get("/api/v1/events", params={"latest": 500, "follow": "false"})
        assert "only" in [e["payload"].get("name") for e in history(answer.text)]

    @pytest.mark.parametrize(
        ("params", "problem"),
        [
            ({"latest": 0}, "latest: Input should be greater than or equal to 1"),
            ({"latest": 501}, "latest: Input should be less than or equal to 500"),
            ({"latest": 5, "since": 1}, "ask for `since` (events after an id) or `latest`"),
        ],
    )
    async def test_a_history_asked_for_wrongly_is_refused(self, api, params, problem):
        answer = await api.get("/api/v1/events", params={**params, "follow": "false"})
        assert answer.status_code == 422
        assert problem in answer.json()["error"]["message"]

    async def test_another_projects_events_stay_out_of_the_history(
        self, app, admin_token, sessions, db_url
    ):
        async with unit_of_work(sessions) as session:
            principal, token = await make_user(session, "pia")
            await identity.create_project(
                session, principal=principal, data=ProjectCreate(name=f"pia-{uuid.uuid4().hex[:6]}")
            )
        await job_in(sessions, "tests:count_to", {"n": 1})  # default's: pia is no member
        await run_queued(db_url)
        async with api_client(app, token) as as_pia:
            answer = await as_pia.get("/api/v1/events", params={"latest": 50, "follow": "false"})
        assert [e["type"] for e in history(answer.text)] == ["project.created"]
