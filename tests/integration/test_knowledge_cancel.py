"""A source whose indexing job a user cancels while it runs says so; one stopped with its worker
is left to resume."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from procrastinate.job_context import AbortReason
from sqlalchemy import text

from devflow.core.db import unit_of_work
from devflow.core.jobs import job_context
from devflow.knowledge.jobs import source_cancelled
from devflow.settings import load_settings
from tests.factories import api_client, bootstrap_admin, open_test_services, running_app


@pytest.fixture
async def api(db_url, sessions) -> AsyncIterator[httpx.AsyncClient]:
    token = await bootstrap_admin(sessions)
    async with (
        running_app(load_settings(database_url=db_url)) as app,
        api_client(app, token) as client,
    ):
        yield client


async def running_source(api, sessions, documents: int) -> str:
    made = await api.post("/api/v1/knowledge/sources", json={"location": "upload", "name": "s"})
    assert made.status_code == 201, made.text
    source_id = made.json()["id"]
    async with unit_of_work(sessions) as session:
        await session.execute(
            text(
                "UPDATE knowledge_source SET status = 'running', document_count = :n WHERE id = :id"
            ),
            {"n": documents, "id": source_id},
        )
    return source_id


@pytest.mark.parametrize(("documents", "status"), [(0, "failed"), (3, "partial")])
async def test_a_cancelled_ingestion_leaves_its_source_saying_so(
    api, sessions, db_url, documents, status
):
    source_id = await running_source(api, sessions, documents)
    async with open_test_services(db_url) as services:
        context = SimpleNamespace(
            abort_reason=lambda: AbortReason.USER_REQUEST,
            additional_context=job_context(services),
        )
        await source_cancelled(context, uuid.UUID(source_id))  # type: ignore[arg-type]
    source = (await api.get(f"/api/v1/knowledge/sources/{source_id}")).json()
    assert (source["status"], source["last_error"]) == (
        status,
        "indexing was cancelled; refresh the source to index it again",
    )
    async with unit_of_work(sessions) as session:
        kinds = await session.scalars(text("SELECT type FROM event ORDER BY id"))
        assert "knowledge.source.cancelled" in list(kinds)


async def test_a_source_stopped_with_its_worker_is_left_to_resume(api, sessions, db_url):
    source_id = await running_source(api, sessions, 0)
    async with open_test_services(db_url) as services:
        context = SimpleNamespace(
            abort_reason=lambda: AbortReason.SHUTDOWN, additional_context=job_context(services)
        )
        await source_cancelled(context, uuid.UUID(source_id))  # type: ignore[arg-type]
    source = (await api.get(f"/api/v1/knowledge/sources/{source_id}")).json()
    assert (source["status"], source["last_error"]) == ("running", None)
