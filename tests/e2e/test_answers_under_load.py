"""No database connection is held while a model answers: a hundred questions at once, on the
default pool of 10 + 10 connections, are all answered. Real uvicorn, real sockets, a fake LLM
gateway that takes its time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from devflow.testing import FakeOpenAI, Fault
from tests.registry_fixtures import RegistryServer, running_server

SLOW_MODEL_SECONDS = 1.5


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.add_fault(Fault(kind="stall", delay=SLOW_MODEL_SECONDS, model="fake-chat", times=0))
        yield fake


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory, slow_llm) -> Iterator[RegistryServer]:
    del template_url
    settings = {
        # The default pool; a short wait for a connection, so that a held one shows as a 503.
        "database": {"pool_timeout": 2.0},
        "llm": slow_llm.llm_settings(cache_enabled=False),
        "knowledge": {"embedder": "python:tests.knowledge_site.embedder:make_small"},
    }
    with running_server(pg_server, tmp_path_factory.mktemp("home"), settings=settings) as running:
        with running.api() as api:
            source = api.post("/api/v1/knowledge/sources", json={"location": "upload"}).json()
            uploaded = api.post(
                f"/api/v1/knowledge/sources/{source['id']}/files",
                files=[("files", ("ops.md", b"# Backups\n\nThe database is backed up nightly.\n"))],
            )
            assert uploaded.status_code == 200, uploaded.text
        yield running


async def test_a_hundred_questions_at_once_are_all_answered(server):
    question = {"question": "When is the database backed up?", "stream": False}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        limits=limits,
        timeout=120,
    ) as api:
        answers = await asyncio.gather(
            *(api.post("/api/v1/knowledge/answer", json=question) for _ in range(100))
        )
    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200], [a.text for a in answers if a.status_code != 200][:3]
    assert all(a.json()["found"] for a in answers)


async def test_streamed_answers_hold_no_connection_either(server):
    question = {"question": "When is the database backed up?"}
    async with httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        limits=httpx.Limits(max_connections=60),
        timeout=120,
    ) as api:

        async def ask() -> list[str]:
            async with api.stream("POST", "/api/v1/knowledge/answer", json=question) as answer:
                assert answer.status_code == 200
                return [line async for line in answer.aiter_lines() if line.startswith("event:")]

        streams = await asyncio.gather(*(ask() for _ in range(60)))
    assert all(events[-1] == "event: done" for events in streams)
