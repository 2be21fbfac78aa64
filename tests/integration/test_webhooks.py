"""Webhooks over HTTP and through the worker, delivered to a real receiver on 127.0.0.1 that
checks every signature: the ping, retries after a 500 and after a hang (each logged), a private
target refused unless the settings allow it, redelivery under the same id, tasks as `issues`,
secrets never shown again, and hostile input refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from devflow.core.db import unit_of_work
from devflow.repos.webhooks.delivery import backoff, sign
from devflow.repos.webhooks.service import prune_deliveries
from devflow.repos.webhooks.settings import WebhookSettings
from devflow.settings import load_settings
from tests.factories import api_client, bootstrap_admin, running_app
from tests.webhook_receiver import HANG, Receiver, run_webhook_jobs, webhook_receiver

HOOKS = "/api/v1/projects/default/hooks"
FAST = {"allow_private_networks": True, "timeout_seconds": 0.5, "retry_base_seconds": 0,
        "max_attempts": 3}  # fmt: skip


def settings_for(db_url: str, home: Any, **webhooks: Any):
    return load_settings(database_url=db_url, home=home, repos={"webhooks": webhooks})


@pytest.fixture
def settings(db_url, tmp_path):
    return settings_for(db_url, tmp_path, **FAST)


@pytest.fixture
async def api(settings, sessions) -> AsyncIterator[httpx.AsyncClient]:
    token = await bootstrap_admin(sessions)
    async with running_app(settings) as app, api_client(app, token) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


async def deliver(db_url: str, settings) -> None:
    await run_webhook_jobs(db_url, settings)


async def add_hook(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    made = await api.post(HOOKS, json={"url": url, "secret": "s3cret", **extra})
    assert made.status_code == 201, made.text
    return made.json()


async def deliveries(api: httpx.AsyncClient, hook: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await api.get(f"{HOOKS}/{hook['id']}/deliveries")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def detail(api: httpx.AsyncClient, hook: dict[str, Any], delivery: str) -> dict[str, Any]:
    answer = await api.get(f"{HOOKS}/{hook['id']}/deliveries/{delivery}")
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestPing:
    async def test_a_new_hook_is_pinged_with_a_signed_body(self, api, receiver, db_url, settings):
        hook = await add_hook(api, f"{receiver.url}/ping", events=["push", "issues"])
        await deliver(db_url, settings)
        [got] = receiver.at("/ping")
        assert got.signed
        assert got.event == "ping"
        assert got.headers["user-agent"].startswith("DevFlow-Hookshot/")
        assert got.headers["content-type"] == "application/json"
        assert got.headers["x-github-hook-id"] == hook["id"]
        assert got.payload["hook"]["events"] == ["issues", "push"]
        assert got.payload["hook"]["config"]["url"] == hook["url"]
        assert "s3cret" not in got.body.decode()
        [made] = await deliveries(api, hook)
        assert (made["id"], made["status"], made["attempts"]) == (got.delivery, "delivered", 1)
        assert made["response_status"] == 200

    async def test_the_secret_is_never_returned_after_creation(self, api, receiver):
        given = await add_hook(api, receiver.url)
        assert given["secret"] is None
        assert given["has_secret"] is True
        made = await api.post(HOOKS, json={"url": receiver.url})
        assert made.status_code == 201
        generated = made.json()["secret"]
        assert len(generated) >= 32
        hook_id = made.json()["id"]
        for path in (HOOKS, f"{HOOKS}/{hook_id}", f"{HOOKS}/{given['id']}"):
            shown = (await api.get(path)).text
            assert "s3cret" not in shown
            assert generated not in shown
        changed = await api.patch(f"{HOOKS}/{hook_id}", json={"secret": "another-one"})
        assert changed.status_code == 200
        assert "another-one" not in changed.text
        events = (await api.get("/api/v1/events", params={"since": 0, "follow": False})).text
        assert "webhook.created" in events
        for secret in ("s3cret", generated, "another-one"):
            assert secret not in events


class TestSealedSecret:
    """The signing secret lives in the secrets store (issue 18), not in the hook's row."""

    async def _stored(self, sessions, hook_id: str) -> dict[str, Any]:
        scope = f"internal:repos.webhook:{hook_id}"
        async with sessions() as session:
            row = (
                await session.execute(
                    text("SELECT has_secret, legacy_secret FROM repos_webhook WHERE id = :id"),
                    {"id": hook_id},
                )
            ).one_or_none()
            sealed = list(
                await session.scalars(
                    text(
                        "SELECT v.ciphertext FROM secrets_version v JOIN secrets_secret s "
                        "ON s.id = v.secret_id WHERE s.scope = :scope"
                    ),
                    {"scope": scope},
                )
            )
            audited = (
                await session.execute(
                    text("SELECT actor, action, reason FROM secrets_audit WHERE scope = :scope "
                         "ORDER BY seq"),
                    {"scope": scope},
                )
            ).all()  # fmt: skip
        return {"row": row, "sealed": sealed, "audited": [tuple(a) for a in audited]}

    async def test_the_secret_is_sealed_audited_signs_and_goes_with_the_hook(
        self, api, receiver, db_url, settings, sessions
    ):
        hook = await add_hook(api, f"{receiver.url}/sealed")
        stored = await self._stored(sessions, hook["id"])
        assert tuple(stored["row"]) == (True, None)
        [sealed] = stored["sealed"]
        assert b"s3cret" not in sealed
        assert stored["audited"] == [
            ("devflow", "write", "created: webhook signing secret set at creation")
        ]
        for path in ("/api/v1/secrets/system", "/api/v1/projects/default/secrets"):
            for params in ({}, {"environment": "internal"}):
                listed = await api.get(path, params=params)
                assert listed.status_code == 200, listed.text
                assert listed.json() == []
        resolved = await api.post(
            "/api/v1/secrets/resolve", json={"names": ["value"], "environment": "internal"}
        )
        assert resolved.status_code == 404, resolved.text

        await deliver(db_url, settings)
        [got] = receiver.at("/sealed")
        assert got.signed
        assert len((await self._stored(sessions, hook["id"]))["audited"]) == 1  # reads: none

        assert (await api.delete(f"{HOOKS}/{hook['id']}")).status_code == 204
        gone = await self._stored(sessions, hook["id"])
        assert (gone["row"], gone["sealed"]) == (None, [])
        assert gone["audited"][-1] == ("devflow", "delete", "webhook signing secret: hook deleted")

    async def test_a_secret_left_in_clear_by_the_migration_is_sealed_before_it_signs(
        self, api, receiver, db_url, settings, sessions
    ):
        hook = await add_hook(api, f"{receiver.url}/legacy")  # its ping waits in the queue
        async with sessions() as session, session.begin():  # as migration 0024 leaves it
            await session.execute(
                text("DELETE FROM secrets_secret WHERE scope = :scope"),
                {"scope": f"internal:repos.webhook:{hook['id']}"},
            )
            await session.execute(
                text("UPDATE repos_webhook SET legacy_secret = 's3cret' WHERE id = :id"),
                {"id": hook["id"]},
            )
        await deliver(db_url, settings)
        [got] = receiver.at("/legacy")
        assert got.signed
        stored = await self._stored(sessions, hook["id"])
        assert tuple(stored["row"]) == (True, None)
        assert len(stored["sealed"]) == 1
        assert stored["audited"][-1] == (
            "devflow", "write", "created: webhook signing secret sealed from clear",
        )  # fmt: skip


class TestRetries:
    async def test_a_500_is_retried_and_every_attempt_is_logged(
        self, api, receiver, db_url, settings
    ):
        receiver.plans["/flaky"] = [500, 200]
        hook = await add_hook(api, f"{receiver.url}/flaky")
        await deliver(db_url, settings)
        first, second = receiver.at("/flaky")
        assert first.delivery == second.delivery  # the same id across retries
        assert first.body == second.body
        assert first.signed
        assert second.signed
        [made] = await deliveries(api, hook)
        shown = await detail(api, hook, made["id"])
        assert (shown["status"], shown["attempts"]) == ("delivered", 2)
        assert [a["response_status"] for a in shown["log"]] == [500, 200]
        assert shown["log"][0]["request_headers"]["X-GitHub-Delivery"] == made["id"]
        assert shown["log"][0]["response_body"] == '{"seen": 1}'
        assert shown["log"][1]["response_headers"]["content-type"] == "application/json"
        assert shown["request_body"] == first.body.decode()

    async def test_a_receiver_that_hangs_times_out_and_is_retried(
        self, api, receiver, db_url, settings
    ):
        receiver.plans["/slow"] = [HANG]
        hook = await add_hook(api, f"{receiver.url}/slow")
        await deliver(db_url, settings)
        assert len(receiver.at("/slow")) == 3  # max_attempts
        [made] = await deliveries(api, hook)
        shown = await detail(api, hook, made["id"])
        assert (shown["status"], shown["attempts"]) == ("failed", 3)
        assert all("timed out" in a["error"] for a in shown["log"])
        assert {a["response_status"] for a in shown["log"]} == {None}

    async def test_a_4xx_is_not_retried(self, api, receiver, db_url, settings):
        receiver.plans["/gone"] = [404]
        hook = await add_hook(api, f"{receiver.url}/gone")
        await deliver(db_url, settings)
        assert len(receiver.at("/gone")) == 1
        [made] = await deliveries(api, hook)
        assert (made["status"], made["response_status"]) == ("failed", 404)

    def test_backoff_doubles_with_jitter_and_a_cap(self):
        conf = WebhookSettings(retry_base_seconds=10, retry_max_seconds=60)
        assert [backoff(n, conf, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
        assert [backoff(n, conf, lambda: 0.0) for n in (1, 2, 3)] == [5, 10, 20]

    def test_the_signature_is_githubs(self):
        # The example of GitHub's "Validating webhook deliveries".
        assert sign("It's a Secret to Everybody", b"Hello, World!") == (
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        )


class TestRedelivery:
    async def test_a_redelivery_is_a_new_attempt_with_the_same_id(
        self, api, receiver, db_url, settings
    ):
        hook = await add_hook(api, f"{receiver.url}/again")
        await deliver(db_url, settings)
        [made] = await deliveries(api, hook)
        path = f"{HOOKS}/{hook['id']}/deliveries/{made['id']}/attempts"
        queued = await api.post(path)
        assert queued.status_code == 202, queued.text
        assert (queued.json()["id"], queued.json()["status"]) == (made["id"], "pending")
        twice = await api.post(path)
        assert twice.status_code == 409  # one attempt at a time
        await deliver(db_url, settings)
        first, second = receiver.at("/again")
        assert first.delivery == second.delivery == made["id"]
        assert second.signed
        shown = await detail(api, hook, made["id"])
        assert [(a["number"], a["manual"]) for a in shown["log"]] == [(1, False), (2, True)]
        assert shown["status"] == "delivered"


PRIVATE = ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://10.1.2.3/x",
           "http://[::1]:9/", "http://169.254.169.254/latest/meta-data"]  # fmt: skip


class TestPruning:
    async def test_deliveries_past_keep_days_go_with_their_log_unless_queued(
        self, api, receiver, db_url, settings, sessions
    ):
        hook = await add_hook(api, f"{receiver.url}/old")
        await deliver(db_url, settings)
        await add_hook(api, f"{receiver.url}/queued")  # its ping waits: no worker runs it
        async with unit_of_work(sessions) as session:
            await session.execute(
                text("UPDATE repos_webhook_delivery SET created_at = now() - interval '31 days'")
            )
        async with unit_of_work(sessions) as session:
            assert await prune_deliveries(session, settings=settings) == 1
        assert await deliveries(api, hook) == []
        async with unit_of_work(sessions) as session:
            left = await session.scalar(text("SELECT count(*) FROM repos_webhook_attempt"))
            waiting = await session.scalar(text("SELECT count(*) FROM repos_webhook_delivery"))
        assert (left, waiting) == (0, 1)


class TestPrivateTargets:
    async def test_a_private_address_is_refused_by_default(self, db_url, tmp_path, sessions):
        token = await bootstrap_admin(sessions)
        async with (
            running_app(settings_for(db_url, tmp_path)) as app,
            api_client(app, token) as api,
        ):
            for target in PRIVATE:
                refused = await api.post(HOOKS, json={"url": target})
                assert refused.status_code == 422, (target, refused.text)
                assert refused.json()["error"]["details"]["reason"] == "private_address"
            assert (await api.get(HOOKS)).json()["total"] == 0

    async def test_an_allowed_network_opens_it(self, db_url, tmp_path, sessions):
        token = await bootstrap_admin(sessions)
        opened = settings_for(db_url, tmp_path, private_networks=["10.1.0.0/16"])
        async with running_app(opened) as app, api_client(app, token) as api:
            assert (await api.post(HOOKS, json={"url": "http://10.1.2.3/x"})).status_code == 201
            assert (await api.post(HOOKS, json={"url": "http://10.2.0.1/x"})).status_code == 422

    async def test_a_name_that_resolves_to_a_private_address_is_refused_when_sent(
        self, api, receiver, db_url, tmp_path
    ):
        hook = await add_hook(api, f"{receiver.url.replace('127.0.0.1', 'localhost')}/x")
        await deliver(db_url, settings_for(db_url, tmp_path, retry_base_seconds=0))
        assert receiver.received == []
        [made] = await deliveries(api, hook)
        shown = await detail(api, hook, made["id"])
        assert (shown["status"], shown["attempts"]) == ("failed", 1)  # not retried
        assert "private" in shown["log"][0]["error"]


class TestTasksAsIssues:
    async def test_a_new_task_is_sent_as_an_opened_issue(self, api, receiver, db_url, settings):
        await add_hook(api, f"{receiver.url}/issues", events=["issues"])
        made = await api.post("/api/v1/projects/default/tasks", json={"title": "Fix the login"})
        assert made.status_code == 201, made.text
        await deliver(db_url, settings)
        [got] = [r for r in receiver.at("/issues") if r.event == "issues"]
        assert got.signed
        assert got.payload["action"] == "opened"
        assert got.payload["issue"]["title"] == "Fix the login"
        assert got.payload["issue"]["number"] == made.json()["number"]
        assert got.payload["sender"]["login"] == "admin"

    async def test_an_inactive_hook_gets_nothing(self, api, receiver, db_url, settings):
        await add_hook(api, f"{receiver.url}/off", events=["*"], active=False)
        await api.post("/api/v1/projects/default/tasks", json={"title": "Quiet"})
        await deliver(db_url, settings)
        assert receiver.at("/off") == []


BAD_HOOKS = [
    {"url": "ftp://example.com/x"},
    {"url": "https://"},
    {"url": "https://user:pw@example.com/x"},
    {"url": "https://example.com/\x00"},
    {"url": "https://example.com/" + "x" * 3000},
    {"url": "https://example.com/x", "events": ["push", "nope"]},
    {"url": "https://example.com/x", "events": []},
    {"url": "https://example.com/x", "secret": "a\x00b"},
    {"url": "https://example.com/x", "secret": "s" * 300},
    {"url": "https://example.com/x", "content_type": "form"},
    {"url": "https://example.com/x", "active": "yes"},
    {"url": ["https://example.com/x"]},
]


class TestStatuses:
    async def test_a_reported_status_is_sent_as_githubs_status_event(
        self, api, receiver, db_url, settings
    ):
        repo = "/api/v1/projects/default/repos"
        made = await api.post(repo, json={"name": "ci", "readme": True})
        assert made.status_code == 201, made.text
        await add_hook(api, f"{receiver.url}/status", repository="ci", events=["status"])
        sha = (await api.get(f"{repo}/ci/commits/main/status")).json()["sha"]
        reported = await api.post(
            f"{repo}/ci/statuses/{sha}",
            json={"state": "success", "context": "ci/tests", "target_url": "https://ci.example/1"},
        )
        assert reported.status_code == 201, reported.text
        await deliver(db_url, settings)
        [got] = [r for r in receiver.at("/status") if r.event == "status"]
        assert got.signed
        body = got.payload
        assert (body["sha"], body["state"], body["context"]) == (sha, "success", "ci/tests")
        assert body["target_url"] == "https://ci.example/1"
        assert body["branches"] == [{"name": "main", "commit": {"sha": sha}}]
        assert body["repository"]["full_name"] == "default/ci"


class TestHostileInput:
    async def test_a_bad_hook_is_refused_and_stores_nothing(self, api):
        for body in BAD_HOOKS:
            refused = await api.post(HOOKS, json=body)
            # 400: a NUL, refused before the route; 422: the body's checks.
            assert refused.status_code in {400, 422}, (body, refused.text)
        assert (await api.get(HOOKS)).json()["total"] == 0

    async def test_a_missing_repository_project_hook_or_delivery_is_404(self, api):
        missing = await api.post(HOOKS, json={"url": "https://example.com/x", "repository": "no"})
        assert missing.status_code == 404
        nowhere = "/api/v1/projects/nowhere/hooks"
        assert (await api.post(nowhere, json={"url": "https://example.com/x"})).status_code == 404
        zero = "00000000-0000-0000-0000-000000000000"
        assert (await api.get(f"{HOOKS}/{zero}")).status_code == 404
        assert (await api.get(f"{HOOKS}/not-a-uuid")).status_code == 422
        hook = await add_hook(api, "https://example.com/x")
        assert (await api.get(f"{HOOKS}/{hook['id']}/deliveries/{zero}")).status_code == 404
        assert (
            await api.post(f"{HOOKS}/{hook['id']}/deliveries/{zero}/attempts")
        ).status_code == 404
