"""One services object per process: long-lived objects live there, never in module globals, and
so they keep their state across requests (a circuit breaker that opens stays open)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields, is_dataclass
from types import ModuleType

import httpx
import onnxruntime
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

import devflow
from devflow.core.auth import AUTHENTICATOR
from devflow.core.blobs import BLOB_STORE, FileBlobStore
from devflow.core.blobs.s3 import S3BlobStore
from devflow.core.events import EventBus
from devflow.core.services import Services
from devflow.identity import PrincipalCache
from devflow.knowledge import EMBEDDER
from devflow.knowledge.backends.embedders import LocalEmbedder, OpenAIEmbedder
from devflow.llm import LLM_CLIENT
from devflow.llm.client import LLMClient
from devflow.registry import REGISTRY_RUNTIME
from devflow.registry.runtime import FastReads, RegistryRuntime
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from tests.factories import api_client, bootstrap_admin, open_test_services, running_app

# What lives as long as a process: none of these may sit in a module's globals.
LONG_LIVED = (
    AsyncEngine,
    async_sessionmaker,
    EventBus,
    Services,
    LLMClient,
    LocalEmbedder,
    OpenAIEmbedder,
    FileBlobStore,
    S3BlobStore,
    FastReads,
    RegistryRuntime,
    PrincipalCache,
    httpx.AsyncClient,
    httpx.Client,
    psycopg.AsyncConnection,
    psycopg.Connection,
    onnxruntime.InferenceSession,
)


def _modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(devflow.__path__, prefix="devflow."):
        if info.name.startswith("devflow.migrations.") or info.name.endswith("__main__"):
            continue  # Alembic's scripts, and importing __main__ runs the CLI
        yield importlib.import_module(info.name)


def _held(value: object, depth: int = 2) -> Iterator[object]:
    """`value` and what it holds, two levels down: a cache is a dict of long-lived things, or of
    records that hold them (a loaded model's session and tokenizer)."""
    yield value
    if depth == 0:
        return
    if isinstance(value, dict):
        inner: list[object] = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        inner = list(value)
    elif is_dataclass(value) and not isinstance(value, type):
        inner = [getattr(value, f.name) for f in fields(value)]
    else:
        inner = []
    for item in inner:
        yield from _held(item, depth - 1)


def _globals_holding_long_lived_objects() -> list[str]:
    found = []
    for module in _modules():
        for name, value in vars(module).items():
            if isinstance(value, type | ModuleType):
                continue
            if any(isinstance(item, LONG_LIVED) for item in _held(value)):
                found.append(f"{module.__name__}.{name}")
    return found


async def test_no_module_global_holds_an_engine_a_client_or_a_model(db_url):
    # Made and used first, so that a module-level cache filled on use would show.
    settings = load_settings(database_url=db_url, knowledge={"embedder": "local"})
    async with open_test_services(db_url, settings) as services:
        for key in (AUTHENTICATOR, LLM_CLIENT, EMBEDDER, BLOB_STORE, REGISTRY_RUNTIME):
            services.get(key)
        await services.get(EMBEDDER).embed_query("a model loads here")
        assert _globals_holding_long_lived_objects() == []


async def test_services_make_each_object_once_and_close_it(db_url):
    async with open_test_services(db_url) as services:
        client = services.get(LLM_CLIENT)
        assert services.get(LLM_CLIENT) is client
        runtime = services.get(REGISTRY_RUNTIME)
        assert runtime.store is services.get(BLOB_STORE)
    with pytest.raises(RuntimeError, match="closed"):
        services.get(LLM_CLIENT)  # closed with the services: nothing is handed out any more


@pytest.fixture
def failing_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.fail_model("fake-chat", 500)
        yield fake


@pytest.fixture
async def api(db_url, sessions, failing_llm) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        database_url=db_url,
        llm=failing_llm.llm_settings(breaker_threshold=5, cache_enabled=False),
        knowledge={"embedder": "python:tests.knowledge_site.embedder:make_small"},
    )
    token = await bootstrap_admin(sessions)
    async with running_app(settings) as app, api_client(app, token, timeout=60) as client:
        yield client


async def test_a_failing_provider_opens_the_breaker_across_answer_requests(api, failing_llm):
    source = (await api.post("/api/v1/knowledge/sources", json={"location": "upload"})).json()
    upload = await api.post(
        f"/api/v1/knowledge/sources/{source['id']}/files",
        files=[("files", ("ops.md", b"# Backups\n\nThe database is backed up nightly.\n"))],
    )
    assert upload.status_code == 200, upload.text
    question = {"question": "When is the database backed up?", "stream": False}
    calls: list[int] = []
    for _ in range(4):
        answer = await api.post("/api/v1/knowledge/answer", json=question)
        assert answer.status_code == 503, answer.text
        calls.append(len(failing_llm.requests))
    # Each request retries the provider until five failures in a row open its breaker; from
    # then on, requests are refused without reaching it (the breaker outlives the request).
    assert calls[0] > 0
    assert calls[-1] == calls[-2] >= 5
