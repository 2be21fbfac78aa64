"""The knowledge hub end to end: sources through the API, ingestion jobs, search, read, answers.

A real website is served on 127.0.0.1 from tests/knowledge_site (pages, links, sitemap index,
llms.txt, robots.txt, a PDF, a redirect, a 404, a 500 and a slow page); a git repository is made
in the test; files are uploaded through the API. Jobs run in a real procrastinate worker.
"""

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.config import DatabaseSettings, JobSettings
from devflow.core.db import create_engine, libpq_url, session_factory, unit_of_work
from devflow.core.jobs import create_job_app
from devflow.identity import service as identity
from devflow.identity.models import Membership
from devflow.knowledge import NOTHING_FOUND
from devflow.knowledge import jobs as knowledge_jobs
from devflow.knowledge.models import CrawlUrl, Document, Embedding, Source
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from devflow.web import create_app
from tests import factories
from tests.conftest import clone_database, drop_database
from tests.factories import bootstrap_admin, make_user
from tests.knowledge_site.server import SITE, FixtureSite

EMBEDDER = "python:tests.knowledge_site.embedder:shared_local"  # the real built-in model


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    with FixtureSite(root) as running:
        yield running


@pytest.fixture
def fake_llm():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def knowledge_env(monkeypatch, tmp_path):
    set_knowledge_env(monkeypatch, tmp_path)


def set_knowledge_env(monkeypatch, tmp_path):
    # The worker reads its settings from the environment, like `devflow worker` does.
    monkeypatch.setenv("DEVFLOW_KNOWLEDGE__EMBEDDER", EMBEDDER)
    monkeypatch.setenv("DEVFLOW_KNOWLEDGE__LOCAL_ROOTS", orjson.dumps([str(tmp_path)]).decode())
    monkeypatch.setenv("DEVFLOW_KNOWLEDGE__FETCH_TIMEOUT", "1.5")
    monkeypatch.setenv("DEVFLOW_KNOWLEDGE__CRAWL_DELAY", "0")
    monkeypatch.setenv("DEVFLOW_KNOWLEDGE__CODE_EXAMPLE_MIN_CHARS", "100")


@pytest.fixture
async def app(db_url, knowledge_env, fake_llm) -> AsyncIterator[FastAPI]:
    settings = load_settings(database_url=db_url, llm=fake_llm.llm_settings())
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app, sessions) -> AsyncIterator[httpx.AsyncClient]:
    token = await bootstrap_admin(sessions)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://devflow.test",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client


async def run_jobs(db_url) -> None:
    await factories.run_jobs(db_url, [knowledge_jobs.blueprint])


async def add(api, location, **settings):
    body = {"location": location, "settings": settings}
    response = await api.post("/api/v1/knowledge/sources", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def documents(api, source_id, **params):
    response = await api.get(
        f"/api/v1/knowledge/sources/{source_id}/documents", params={"limit": 500, **params}
    )
    assert response.status_code == 200, response.text
    return {d["uri"]: d for d in response.json()["items"]}


async def search(api, query, **options):
    response = await api.post("/api/v1/knowledge/search", json={"query": query, **options})
    assert response.status_code == 200, response.text
    return response.json()


async def crawl(api, site, db_url):
    source = await add(api, f"{site.url}/", allow_private=True, max_depth=3)
    await run_jobs(db_url)
    source = (await api.get(f"/api/v1/knowledge/sources/{source['id']}")).json()
    return source, await documents(api, source["id"])


@pytest.fixture
async def crawled(api, site, db_url):
    return await crawl(api, site, db_url)


@dataclass
class World:
    """The `api` fixture's world, made once for a class of tests: an app with the same settings
    on a database of its own, an admin's client, the fake gateway and a folder."""

    api: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    db_url: str
    fake_llm: FakeOpenAI
    tmp_path: Path


@asynccontextmanager
async def shared_world(pg_server, tmp_path) -> AsyncIterator[World]:
    """Yield a World for tests that only read what was put into it (a crawl, an upload and its
    embeddings cost seconds each: once per class instead of once per test)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    db_url = clone_database(pg_server, name)
    engine = create_engine(db_url, DatabaseSettings())
    try:
        with pytest.MonkeyPatch.context() as monkeypatch, FakeOpenAI() as fake_llm:
            set_knowledge_env(monkeypatch, tmp_path)
            settings = load_settings(database_url=db_url, llm=fake_llm.llm_settings())
            application = create_app(settings)
            sessions = session_factory(engine)
            token = await bootstrap_admin(sessions)
            async with (
                application.router.lifespan_context(application),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application, raise_app_exceptions=False),
                    base_url="http://devflow.test",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                ) as api,
            ):
                yield World(api, sessions, db_url, fake_llm, tmp_path)
    finally:
        await engine.dispose()
        drop_database(pg_server, name)


@dataclass
class CrawledSite:
    """The fixture site crawled once (a crawl waits out the slow page's fetch timeout)."""

    api: httpx.AsyncClient
    site: FixtureSite
    sessions: async_sessionmaker[AsyncSession]
    source: dict
    docs: dict


@pytest.fixture(scope="class")
async def crawled_site(pg_server, template_url, tmp_path_factory) -> AsyncIterator[CrawledSite]:
    """One crawl per class of read-only tests: the `crawled` fixture's, in a shared World."""
    del template_url
    tmp_path = tmp_path_factory.mktemp("crawled")
    shutil.copytree(SITE, tmp_path / "site")
    async with shared_world(pg_server, tmp_path) as world:
        with FixtureSite(tmp_path / "site") as site:
            source, docs = await crawl(world.api, site, world.db_url)
            yield CrawledSite(world.api, site, world.sessions, source, docs)


class TestCrawl:
    async def test_a_site_is_crawled_with_its_sitemap_llms_txt_and_robots_rules(self, crawled_site):
        source, docs, site = crawled_site.source, crawled_site.docs, crawled_site.site
        base = site.url
        good = {uri for uri, d in docs.items() if d["status"] == "ok"}
        assert {
            f"{base}/",
            f"{base}/guide/install.html",
            f"{base}/api/reference.html",
            f"{base}/guide/faq.html",  # only in the sitemap (behind a sitemap index)
            f"{base}/guide/llms-only.html",  # only in llms.txt
            f"{base}/manual.pdf",
        } <= good
        assert source["status"] == "partial"
        assert source["document_count"] == len(good)
        assert source["chunk_count"] >= len(good)
        assert source["embedded"] == source["chunk_count"]
        assert source["embed_model"] == "local:all-MiniLM-L6-v2-int8"
        paths = site.paths()
        assert paths[0] == "/robots.txt"
        assert paths.index("/llms.txt") < paths.index("/guide/install.html")
        assert "/private/secret.html" not in paths  # disallowed by robots.txt

    async def test_progress_is_announced_as_events(self, crawled_site):
        from devflow.core.events import Event

        source, sessions = crawled_site.source, crawled_site.sessions
        async with unit_of_work(sessions) as session:
            found = list(
                await session.scalars(
                    select(Event).where(Event.type.startswith("knowledge.")).order_by(Event.id)
                )
            )
        types = [e.type for e in found]
        assert types[0] == "knowledge.source.added"
        assert types[1] == "knowledge.source.ingest_started"
        assert types[-1] == "knowledge.source.ingested"
        progress = [e.payload for e in found if e.type == "knowledge.source.progress"]
        assert progress
        assert progress[-1]["embedded"] == source["chunk_count"]
        assert found[-1].payload["status"] == "partial"

    async def test_the_job_ends_in_its_embedding_phase_counting_chunks(self, crawled_site):
        source, api = crawled_site.source, crawled_site.api
        jobs = (await api.get("/api/v1/jobs", params={"task": "knowledge:ingest_source"})).json()
        (job,) = jobs["items"]
        # the last phase counts chunks, not the pages the bar stood full at before
        assert job["message"].startswith(f"embedding: {source['chunk_count']} of ")
        assert job["done"] == job["total"] == source["chunk_count"]
        assert f"fetched {source['fetched']} pages" in job["message"]
        assert (job["phase"], job["unit"]) == ("embed", "chunks")
        assert job["counts"]["fetched"] == source["fetched"]
        assert job["counts"]["embedded"] == source["chunk_count"]
        assert job["eta_seconds"] == 0

    async def test_failures_are_recorded_per_document_with_their_reason(self, crawled_site):
        docs, site = crawled_site.docs, crawled_site.site
        base = site.url
        assert "HTTP 404" in docs[f"{base}/missing.html"]["error"]
        assert "HTTP 500" in docs[f"{base}/broken"]["error"]
        assert "timed out" in docs[f"{base}/slow"]["error"]
        assert "unsupported" in docs[f"{base}/logo.png"]["error"]
        assert all(d["status"] == "failed" for d in [docs[f"{base}/missing.html"]])

    async def test_redirects_canonicals_duplicates_and_other_sites_are_handled(self, crawled_site):
        docs, site = crawled_site.docs, crawled_site.site
        base = site.url
        assert f"{base}/old-page" not in docs  # stored under the page it redirects to
        # Same text: whichever of the two is fetched first is stored, the other is skipped.
        copies = {f"{base}/guide/config.html", f"{base}/guide/config-copy.html"}
        assert len(copies & docs.keys()) == 1
        assert not [uri for uri in docs if "elsewhere.example" in uri]
        assert not [p for p, _ in site.requests if "elsewhere" in p]

    async def test_html_keeps_structure_and_drops_boilerplate(self, crawled_site):
        api, docs, site = crawled_site.api, crawled_site.docs, crawled_site.site
        doc = docs[f"{site.url}/guide/install.html"]
        body = (await api.get(f"/api/v1/knowledge/documents/{doc['id']}")).json()
        assert body["title"] == "Installing Flux"
        content = body["content"]
        assert "## Requirements" in content
        assert "| Python | 3.11 |" in content
        assert "```python\nfrom flux import Machine, Capacitor" in content
        assert "sidebar links" not in content
        part = (
            await api.get(
                f"/api/v1/knowledge/documents/{doc['id']}", params={"start": 5, "length": 20}
            )
        ).json()
        assert part["content"] == content[5:25]
        assert (part["start"], part["end"], part["total_chars"]) == (5, 25, len(content))

    async def test_an_interrupted_crawl_resumes_from_its_frontier(
        self, api, site, db_url, sessions
    ):
        source = await add(api, f"{site.url}/", allow_private=True, use_sitemap=False)
        async with unit_of_work(sessions) as session:  # as a killed worker would leave it
            for url, state in [(f"{site.url}/", "done"), (f"{site.url}/guide/faq.html", "queued")]:
                session.add(
                    CrawlUrl(source_id=uuid.UUID(source["id"]), url=url, generation=1, state=state)
                )
        await run_jobs(db_url)
        docs = await documents(api, source["id"])
        assert list(docs) == [f"{site.url}/guide/faq.html"]
        assert "/guide/faq.html" in site.paths()
        assert "/" not in site.paths()

    async def test_an_llms_full_txt_is_split_into_pages_at_its_top_headings(
        self, api, site, db_url
    ):
        source = await add(api, f"{site.url}/full/", allow_private=True)
        await run_jobs(db_url)
        docs = await documents(api, source["id"])
        titles = sorted(d["title"] for d in docs.values())
        assert titles == ["Hoverboards", "Sports almanac"]

    async def test_a_single_page_source_fetches_one_page(self, api, site, db_url):
        source = await add(
            api, f"{site.url}/api/reference.html", allow_private=True, single_page=True
        )
        await run_jobs(db_url)
        assert list(await documents(api, source["id"])) == [f"{site.url}/api/reference.html"]


class TestRefresh:
    async def test_unchanged_pages_are_not_refetched_changed_ones_are_and_removed_ones_go(
        self, api, site, db_url, sessions
    ):
        # One request at a time, so which of two identical pages counts as the duplicate is fixed.
        source = await add(api, f"{site.url}/", allow_private=True, concurrency=1)
        await run_jobs(db_url)
        sid = uuid.UUID(source["id"])
        async with unit_of_work(sessions) as session:
            vectors_before = await session.scalar(
                select(func.count()).select_from(Embedding).where(Embedding.source_id == sid)
            )
        (site.root / "guide" / "faq.html").unlink()
        sitemap = site.root / "sitemap-pages.xml"
        sitemap.write_text(sitemap.read_text().replace("faq.html", "gone.html"))
        config = site.root / "guide" / "config.html"
        config.write_text(config.read_text().replace("flux.toml", "flux.yaml"))
        site.requests.clear()
        refreshed = await api.post(f"/api/v1/knowledge/sources/{sid}/refresh")
        assert refreshed.status_code == 200
        await run_jobs(db_url)
        conditional = [h for p, h in site.requests if p == "/guide/install.html"]
        assert conditional
        assert "If-None-Match" in conditional[0]
        docs = await documents(api, source["id"])
        assert f"{site.url}/guide/faq.html" not in docs
        hits = await search(api, "flux.yaml settings", mode="keyword")
        assert hits["hits"][0]["uri"] == f"{site.url}/guide/config.html"
        # The copy is no longer a duplicate of the changed page: now it is a page of its own.
        old = await search(api, "flux.toml", mode="keyword")
        assert {h["uri"] for h in old["hits"]} == {f"{site.url}/guide/config-copy.html"}
        async with unit_of_work(sessions) as session:
            source_row = await session.get(Source, sid)
            vectors_after = await session.scalar(
                select(func.count()).select_from(Embedding).where(Embedding.source_id == sid)
            )
        assert source_row.status == "partial"
        # Embedded again: the changed section of config.html (1 chunk) and the copy, now a page of
        # its own (2 chunks); nothing else. The FAQ's one vector left with its page.
        assert source_row.embedded == 3
        assert vectors_after == vectors_before + 2 - 1

    async def test_a_refresh_follows_the_links_of_unchanged_pages_not_text_that_reads_like_one(
        self, api, db_url, tmp_path
    ):
        root = tmp_path / "regex-site"
        (root / "howto").mkdir(parents=True)
        (root / "index.html").write_text(
            "<html><head><title>Docs</title></head><body>"
            '<nav><a href="/about.html">About</a></nav>'
            '<main><h1>Docs</h1><p>See the <a href="/howto/regex.html">regex HOWTO</a>.</p>'
            "</main></body></html>"
        )
        # Python's regex HOWTO: text that reads like a Markdown link once stored as Markdown.
        (root / "howto" / "regex.html").write_text(
            "<html><head><title>Regex HOWTO</title></head><body><main><h1>Regex HOWTO</h1>"
            "<p>Exclude names ending in bat:</p><pre>.*[.]([^b]..|.[^a].|..[^t])$</pre>"
            "</main></body></html>"
        )
        (root / "about.html").write_text(
            "<html><head><title>About</title></head><body><main><h1>About</h1>"
            "<p>Only the navigation links here.</p></main></body></html>"
        )
        with FixtureSite(root) as site:
            source = await add(api, f"{site.url}/", allow_private=True)
            await run_jobs(db_url)
            first = await documents(api, source["id"])
            site.requests.clear()
            assert (await api.post(f"/api/v1/knowledge/sources/{source['id']}/refresh")).is_success
            await run_jobs(db_url)
            shown = (await api.get(f"/api/v1/knowledge/sources/{source['id']}")).json()
            after = await documents(api, source["id"])
        pages = {f"{site.url}/", f"{site.url}/howto/regex.html", f"{site.url}/about.html"}
        assert set(first) == pages
        conditional = [p for p, h in site.requests if "If-None-Match" in h]
        assert "/howto/regex.html" in conditional  # answered 304: its stored links were followed
        assert not [p for p, _ in site.requests if "[" in p or "%5B" in p]
        assert (shown["status"], shown["failed"]) == ("ready", 0)
        assert set(after) == pages  # the page linked only from the navigation is still there


class TestSearch:
    async def test_hybrid_results_carry_where_they_come_from(self, crawled_site):
        api, site = crawled_site.api, crawled_site.site
        found = await search(api, "capacitor charge gigawatts jump")
        assert found["mode"] == "hybrid"
        top = found["hits"][0]
        assert top["uri"] in {f"{site.url}/guide/install.html", f"{site.url}/api/reference.html"}
        assert top["heading_path"]
        assert "**" in top["snippet"]
        assert top["keyword_rank"] is not None
        assert top["semantic_rank"] is not None
        assert {"chunk_id", "document_id", "source_id", "score", "title"} <= set(top)

    async def test_modes_and_filters(self, crawled_site):
        api, site = crawled_site.api, crawled_site.site
        keyword = await search(api, "plutonium", mode="keyword")
        assert {h["uri"] for h in keyword["hits"]} >= {f"{site.url}/manual.pdf"}
        assert all(h["semantic_rank"] is None for h in keyword["hits"])
        semantic = await search(api, "plutonium power manual", mode="semantic", limit=3)
        assert len(semantic["hits"]) == 3
        assert all(h["keyword_rank"] is None for h in semantic["hits"])
        pdf_only = await search(api, "flux", content_types=["pdf"])
        assert {h["uri"] for h in pdf_only["hits"]} == {f"{site.url}/manual.pdf"}
        other = await search(api, "flux", sources=[str(uuid.uuid4())])
        assert other["hits"] == []

    async def test_code_examples_are_indexed_with_their_language_and_context(self, crawled_site):
        api = crawled_site.api
        response = await api.get("/api/v1/knowledge/code-examples", params={"q": "machine jump"})
        assert response.status_code == 200
        example = response.json()[0]
        assert example["language"] == "python"
        assert "def first_jump" in example["code"]
        assert "1.21 gigawatts" in example["context"]
        assert example["heading_path"] == ["Installing Flux", "Quick start"]

    async def test_code_examples_get_llm_summaries_when_asked(
        self, api, site, db_url, fake_llm, monkeypatch
    ):
        llm = fake_llm.llm_settings()
        monkeypatch.setenv("DEVFLOW_KNOWLEDGE__SUMMARIZE_CODE_EXAMPLES", "true")
        monkeypatch.setenv("DEVFLOW_LLM__DEFAULT_PROVIDER", "fake")
        provider = {"fake": {"base_url": fake_llm.base_url, "api_key": "fake-key"}}
        monkeypatch.setenv("DEVFLOW_LLM__PROVIDERS", orjson.dumps(provider).decode())
        monkeypatch.setenv("DEVFLOW_LLM__ALIASES", orjson.dumps(llm.aliases).decode())
        await add(api, f"{site.url}/guide/install.html", allow_private=True, single_page=True)
        await run_jobs(db_url)
        response = await api.get("/api/v1/knowledge/code-examples", params={"q": "first jump"})
        (example,) = response.json()
        assert example["summary"].startswith("fake-chat-fast says: Summarise in one sentence")
        asked = [r for r in fake_llm.requests if r.path.endswith("/chat/completions")]
        assert [r.model for r in asked] == ["fake-chat-fast"]

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("", "the query is empty"),
            ("   ", "the query is empty"),
            ("x" * 10_000, "limit is 2000"),
        ],
    )
    async def test_bad_queries_get_a_clear_error(self, api, query, message):
        response = await api.post("/api/v1/knowledge/search", json={"query": query})
        assert response.status_code == 422
        assert message in response.json()["error"]["message"]

    async def test_search_needs_a_token(self, api):
        api.headers.pop("Authorization")
        response = await api.post("/api/v1/knowledge/search", json={"query": "flux"})
        assert response.status_code == 401


class TestBadSources:
    async def test_a_private_address_is_refused_unless_the_source_allows_it(self, api, site):
        for location in (f"{site.url}/", "http://localhost:1/docs", "http://[::1]/x"):
            response = await api.post("/api/v1/knowledge/sources", json={"location": location})
            assert response.status_code == 422
            assert "allow_private" in response.json()["error"]["message"]
            assert "PRIVATE_NETWORKS" in response.json()["error"]["message"]

    async def test_only_an_instance_admin_may_open_private_networks_to_a_source(
        self, api, site, sessions
    ):
        async with unit_of_work(sessions) as session:
            writer, token = await make_user(session, "writer")
            project = await identity.get_project(session, name="default")
            assert project is not None
            session.add(Membership(project_id=project.id, user_id=writer.user_id, role="write"))
        body = {"location": f"{site.url}/", "settings": {"allow_private": True}}
        as_writer = {"Authorization": f"Bearer {token}"}
        refused = await api.post("/api/v1/knowledge/sources", json=body, headers=as_writer)
        assert refused.status_code == 403
        assert refused.json()["error"]["details"]["reason"] == "allow_private_needs_admin"
        assert (await api.post("/api/v1/knowledge/sources", json=body)).status_code == 201

    async def test_a_network_the_operator_opened_needs_no_allow_private(
        self, db_url, knowledge_env, fake_llm, sessions, site
    ):
        settings = load_settings(
            database_url=db_url, knowledge={"private_networks": ["127.0.0.0/8"]}
        )
        application = create_app(settings)
        token = await bootstrap_admin(sessions)
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application),
                base_url="http://devflow.test",
                headers={"Authorization": f"Bearer {token}"},
            ) as client,
        ):
            opened = await client.post(
                "/api/v1/knowledge/sources", json={"location": f"{site.url}/x"}
            )
            still_closed = await client.post(
                "/api/v1/knowledge/sources", json={"location": "http://[::1]/x"}
            )
        assert opened.status_code == 201
        assert still_closed.status_code == 422

    async def test_server_folders_outside_the_local_roots_are_refused(self, api, tmp_path):
        for location in ("/etc", str(tmp_path.parent), f"{tmp_path}/../.."):
            response = await api.post(
                "/api/v1/knowledge/sources", json={"location": location, "kind": "files"}
            )
            assert response.status_code == 403, location
            assert response.json()["error"]["details"]["reason"] == "outside_local_roots"
        (tmp_path / "docs").mkdir()
        (tmp_path / "escape").symlink_to("/etc")
        assert (await add(api, str(tmp_path / "docs")))["kind"] == "files"
        through_link = await api.post(
            "/api/v1/knowledge/sources", json={"location": str(tmp_path / "escape")}
        )
        assert through_link.status_code == 403

    async def test_unreachable_hosts_and_redirect_loops_fail_with_their_reason(
        self, api, site, db_url
    ):
        unreachable = await add(api, "http://unreachable.invalid/docs/", single_page=True)
        loop = await add(api, f"{site.url}/loop-a", allow_private=True, single_page=True)
        await run_jobs(db_url)
        for source, reason in [(unreachable, "cannot fetch"), (loop, "redirect loop")]:
            shown = (await api.get(f"/api/v1/knowledge/sources/{source['id']}")).json()
            assert shown["status"] == "failed"
            (doc,) = (await documents(api, source["id"])).values()
            assert reason in doc["error"]

    async def test_the_job_of_a_source_that_failed_fails_with_the_same_reason(self, api, db_url):
        source = await add(api, "http://unreachable.invalid/docs/", single_page=True)
        await run_jobs(db_url)
        shown = (await api.get(f"/api/v1/knowledge/sources/{source['id']}")).json()
        job = (await api.get(f"/api/v1/jobs/{source['job_id']}")).json()
        assert shown["status"] == "failed"
        assert "http://unreachable.invalid/docs/: cannot fetch" in shown["last_error"]
        assert job["status"] == "failed"
        assert shown["last_error"] in job["error"]

    async def test_a_crawl_whose_embedding_fails_fails_with_the_reason(
        self, api, site, db_url, monkeypatch
    ):
        source = await add(
            api, f"{site.url}/guide/install.html", allow_private=True, single_page=True
        )
        monkeypatch.setenv(
            "DEVFLOW_KNOWLEDGE__EMBEDDER", "python:tests.knowledge_site.embedder:make_broken"
        )
        await run_jobs(db_url)
        shown = (await api.get(f"/api/v1/knowledge/sources/{source['id']}")).json()
        job = (await api.get(f"/api/v1/jobs/{source['job_id']}")).json()
        assert (shown["status"], shown["document_count"]) == ("failed", 1)
        assert shown["last_error"] == "embedding failed: the embeddings service refused the key"
        assert job["status"] == "failed"
        assert "the embeddings service refused the key" in job["error"]

    @pytest.mark.parametrize(
        ("body", "said"),
        [
            ({"location": "htp:/bad url"}, "has an unknown scheme 'htp:'"),
            ({"location": "nope.example"}, "did you mean https://nope.example ?"),
            ({"location": "nope.example", "kind": "web"}, "did you mean https://nope.example ?"),
            ({"location": "http:/docs"}, "has no host name: a web address reads http://host"),
            ({"location": "./docs"}, "is a relative path"),
        ],
    )
    async def test_a_location_that_is_nothing_says_what_is_wrong(self, api, body, said):
        response = await api.post("/api/v1/knowledge/sources", json=body)
        assert response.status_code == 422
        assert said in response.json()["error"]["message"]

    async def test_not_a_url_and_a_duplicate_name_are_refused(self, api, site):
        response = await api.post(
            "/api/v1/knowledge/sources", json={"location": "ftp://x/y", "kind": "web"}
        )
        assert response.status_code == 422
        await add(api, f"{site.url}/a", allow_private=True)
        again = await api.post(
            "/api/v1/knowledge/sources",
            json={"location": f"{site.url}/a", "settings": {"allow_private": True}},
        )
        assert again.status_code == 409


class TestFiles:
    @pytest.fixture
    async def upload_source(self, api):
        return await add(api, "upload")

    async def test_an_upload_racing_the_removal_of_its_source_finds_it_gone(
        self, api, upload_source, db_url
    ):
        url = f"/api/v1/knowledge/sources/{upload_source['id']}/files"
        async with await psycopg.AsyncConnection.connect(libpq_url(db_url)) as remover:
            await remover.execute(
                "DELETE FROM knowledge_source WHERE id = %s", (upload_source["id"],)
            )  # not committed yet: the upload has to wait for it
            upload = asyncio.create_task(
                api.post(url, files=[("files", ("a.md", b"# A\n\nText.\n"))])
            )
            async with await psycopg.AsyncConnection.connect(
                libpq_url(db_url), autocommit=True
            ) as watcher:
                for _ in range(200):  # until the upload waits on the removal's lock
                    waiting = await watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    )
                    if (await waiting.fetchone())[0]:
                        break
                    await asyncio.sleep(0.05)
            await remover.commit()
        response = await upload
        assert response.status_code == 404, response.text

    async def test_uploaded_files_are_extracted_and_bad_ones_reported(
        self, api, upload_source, db_url
    ):
        import io

        import docx

        document = docx.Document()
        document.add_heading("Warp drive", level=1)
        document.add_paragraph("The warp coil must be cooled with liquid helium.")
        buffer = io.BytesIO()
        document.save(buffer)
        files = [
            ("files", ("notes/intro.md", b"# Intro\n\nThe dilithium crystals align.\n")),
            ("files", ("guide.rst", b"Guide\n=====\n\nThe tachyon beam is *narrow*.\n")),
            ("files", ("plain.txt", "Caf\xe9 au lait, encoded in Latin-1.".encode("latin-1"))),
            ("files", ("warp.docx", buffer.getvalue())),
            ("files", ("data.txt", b"\x00\x01\x02binary\x00")),
            ("files", ("broken.pdf", b"%PDF-1.4 this is not really a pdf")),
            ("files", ("image.bmp", b"BM....")),
        ]
        response = await api.post(
            f"/api/v1/knowledge/sources/{upload_source['id']}/files", files=files
        )
        assert response.status_code == 200, response.text
        outcome = {f["filename"]: f for f in response.json()["files"]}
        assert {n for n, f in outcome.items() if f["status"] == "new"} == {
            "notes/intro.md",
            "guide.rst",
            "plain.txt",
            "warp.docx",
        }
        assert "binary" in outcome["data.txt"]["error"]
        assert "PDF" in outcome["broken.pdf"]["error"]
        assert "unsupported" in outcome["image.bmp"]["error"]
        await run_jobs(db_url)  # embeds the uploaded chunks
        hits = await search(api, "liquid helium warp coil")
        assert hits["hits"][0]["title"] == "Warp drive"
        assert hits["hits"][0]["semantic_rank"] is not None
        latin = await search(api, "café", mode="keyword")
        assert latin["hits"][0]["uri"] == "plain.txt"

    async def test_an_upload_source_says_embedding_until_its_vectors_are_stored(
        self, api, upload_source, db_url
    ):
        url = f"/api/v1/knowledge/sources/{upload_source['id']}"
        assert upload_source["status"] == "empty"
        files = [("files", ("a.md", b"# A\n\nThe axolotl regrows its limbs.\n"))]
        assert (await api.post(f"{url}/files", files=files)).is_success
        waiting = (await api.get(url)).json()
        assert (waiting["status"], waiting["embedded"]) == ("embedding", 0)
        meanwhile = await search(api, "axolotl limbs")
        assert meanwhile["hits"][0]["uri"] == "a.md"  # by its keywords
        name = upload_source["name"]
        assert any(f"source {name!r} is still being embedded" in n for n in meanwhile["notices"])
        await run_jobs(db_url)
        done = (await api.get(url)).json()
        assert done["status"] == "ready"
        assert done["embedded"] == done["chunk_count"] == 1
        assert (await search(api, "axolotl limbs"))["notices"] == []
        bad = [("files", ("b.bin", b"\x00\x01binary"))]
        assert (await api.post(f"{url}/files", files=bad)).is_success
        await run_jobs(db_url)
        partly = (await api.get(url)).json()
        assert (partly["status"], partly["fetched"], partly["failed"]) == ("partial", 2, 1)

    async def test_an_upload_source_none_of_whose_files_could_be_read_has_failed(
        self, api, upload_source, db_url
    ):
        url = f"/api/v1/knowledge/sources/{upload_source['id']}"
        files = [("files", ("logo.bmp", b"BM....")), ("files", ("x.txt", b"\x00\x00"))]
        assert (await api.post(f"{url}/files", files=files)).is_success
        await run_jobs(db_url)
        shown = (await api.get(url)).json()
        assert shown["status"] == "failed"
        assert (
            "no file could be read (2 failed; the first, logo.bmp: unsupported"
            in (shown["last_error"])
        )

    async def test_an_upload_whose_embedding_fails_says_so_and_its_job_agrees(
        self, api, upload_source, db_url, monkeypatch
    ):
        url = f"/api/v1/knowledge/sources/{upload_source['id']}"
        files = [("files", ("a.md", b"# A\n\nThe axolotl regrows its limbs.\n"))]
        assert (await api.post(f"{url}/files", files=files)).is_success
        monkeypatch.setenv(
            "DEVFLOW_KNOWLEDGE__EMBEDDER", "python:tests.knowledge_site.embedder:make_broken"
        )
        await run_jobs(db_url)
        shown = (await api.get(url)).json()
        assert shown["status"] == "failed"
        assert shown["last_error"] == "embedding failed: the embeddings service refused the key"
        jobs = (await api.get("/api/v1/jobs", params={"task": "knowledge:embed_source"})).json()
        (job,) = jobs["items"]
        assert job["status"] == "failed"
        assert "the embeddings service refused the key" in job["error"]
        keyword = await search(api, "axolotl", mode="keyword")
        assert [h["uri"] for h in keyword["hits"]] == ["a.md"]  # what was stored stays found

    async def test_retaining_files_removes_the_documents_of_the_others(
        self, api, upload_source, db_url
    ):
        url = f"/api/v1/knowledge/sources/{upload_source['id']}"
        files = [
            ("files", ("keep.md", b"# Keep\n\nThe pangolin stays.\n")),
            ("files", ("docs/gone.md", b"# Gone\n\nThe quokka leaves.\n")),
        ]
        assert (await api.post(f"{url}/files", files=files)).is_success
        await run_jobs(db_url)
        retained = await api.post(f"{url}/files/retain", json={"files": ["./keep.md"]})
        assert retained.status_code == 200, retained.text
        assert retained.json() == {"removed": ["docs/gone.md"]}
        assert set(await documents(api, upload_source["id"])) == {"keep.md"}
        assert (await search(api, "quokka", mode="keyword"))["hits"] == []
        shown = (await api.get(url)).json()
        assert (shown["status"], shown["document_count"], shown["fetched"]) == ("ready", 1, 1)

    async def test_retaining_refuses_unsafe_names_and_other_sources_and_removes_nothing(
        self, api, upload_source, site
    ):
        url = f"/api/v1/knowledge/sources/{upload_source['id']}"
        files = [("files", ("keep.md", b"# Keep\n\nThe pangolin stays.\n"))]
        assert (await api.post(f"{url}/files", files=files)).is_success
        unsafe = await api.post(f"{url}/files/retain", json={"files": ["../../etc/passwd"]})
        assert unsafe.status_code == 422
        assert "unsafe file name" in unsafe.json()["error"]["message"]
        web = await add(api, f"{site.url}/", allow_private=True)
        other = await api.post(
            f"/api/v1/knowledge/sources/{web['id']}/files/retain", json={"files": []}
        )
        assert other.status_code == 422
        assert "`upload`" in other.json()["error"]["message"]
        assert set(await documents(api, upload_source["id"])) == {"keep.md"}

    async def test_a_removed_source_leaves_search_and_the_term_statistics(
        self, api, upload_source, db_url, sessions
    ):
        files = [("files", ("quasar.md", b"# Quasars\n\nA quasar outshines its galaxy.\n"))]
        sid = upload_source["id"]
        assert (await api.post(f"/api/v1/knowledge/sources/{sid}/files", files=files)).is_success
        await run_jobs(db_url)  # embeds, and counts "quasar" into the lexeme statistics
        lexeme = text("SELECT count(*) FROM knowledge_lexeme WHERE lexeme = 'quasar'")
        async with unit_of_work(sessions) as session:
            assert await session.scalar(lexeme) == 1
        assert (await search(api, "quasar", mode="keyword"))["hits"]
        assert (await api.delete(f"/api/v1/knowledge/sources/{sid}")).status_code == 204
        assert (await api.get(f"/api/v1/knowledge/sources/{sid}")).status_code == 404
        assert (await search(api, "quasar galaxy"))["hits"] == []
        await run_jobs(db_url)  # the statistics job the removal queued
        async with unit_of_work(sessions) as session:
            assert await session.scalar(lexeme) == 0
            assert await session.scalar(select(func.count()).select_from(Document)) == 0

    async def test_unsafe_names_refuse_the_whole_upload(self, api, upload_source, sessions):
        files = [
            ("files", ("ok.md", b"# fine\n")),
            ("files", ("../../etc/passwd", b"root:x:0:0")),
        ]
        response = await api.post(
            f"/api/v1/knowledge/sources/{upload_source['id']}/files", files=files
        )
        assert response.status_code == 422
        assert "unsafe file name" in response.json()["error"]["message"]
        async with unit_of_work(sessions) as session:
            assert await session.scalar(select(func.count()).select_from(Document)) == 0

    async def test_files_over_the_size_limit_are_refused(self, api, upload_source, monkeypatch):
        big = b"a" * (10 * 1024 * 1024 + 10)
        response = await api.post(
            f"/api/v1/knowledge/sources/{upload_source['id']}/files",
            files=[("files", ("big.txt", big))],
        )
        assert response.status_code == 200
        (result,) = response.json()["files"]
        assert result["status"] == "failed"
        assert "limit" in result["error"]


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


class TestGit:
    @pytest.fixture
    def repo(self, tmp_path):
        root = tmp_path / "repo"
        (root / "src").mkdir(parents=True)
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "t@example.com")
        git(root, "config", "user.name", "T")
        (root / "README.md").write_text("# Gizmo\n\nGizmo reticulates splines.\n")
        (root / "src" / "gizmo.py").write_text(
            "def reticulate(spline):\n    '''Reticulate one spline.'''\n    return spline[::-1]\n"
        )
        (root / ".gitignore").write_text("secret.txt\nbuild/\n")
        (root / "secret.txt").write_text("the launch code is 0000\n")
        (root / "build").mkdir()
        (root / "build" / "out.md").write_text("# generated\n")
        git(root, "add", "README.md", "src/gizmo.py", ".gitignore")
        git(root, "commit", "-q", "-m", "first")
        git(root, "checkout", "-q", "-b", "v2")
        (root / "CHANGES.md").write_text("# Changes\n\nVersion 2 adds flux splines.\n")
        git(root, "add", "CHANGES.md")
        git(root, "commit", "-q", "-m", "v2")
        git(root, "checkout", "-q", "main")
        return root

    async def test_a_repository_is_indexed_with_paths_and_languages_honouring_gitignore(
        self, api, repo, db_url
    ):
        source = await add(api, str(repo))
        assert source["kind"] == "git"
        await run_jobs(db_url)
        docs = await documents(api, source["id"])
        assert set(docs) == {"README.md", "src/gizmo.py"}
        assert docs["src/gizmo.py"]["language"] == "python"
        assert docs["src/gizmo.py"]["content_type"] == "code"
        hits = await search(api, "reticulate", languages=["python"])
        assert {h["uri"] for h in hits["hits"]} == {"src/gizmo.py"}

    @pytest.mark.parametrize("head", ["refs/heads/main", "refs/heads/trunk"])
    async def test_a_bare_repository_is_read_at_its_default_branch(
        self, api, repo, db_url, tmp_path, head
    ):
        bare = tmp_path / "gizmo.git"
        git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
        # `trunk` has no commit (a server made with another default than what was pushed).
        git(bare, "symbolic-ref", "HEAD", head)
        source = await add(api, str(bare))
        assert (source["kind"], source["name"]) == ("git", "gizmo")
        await run_jobs(db_url)
        assert set(await documents(api, source["id"])) == {"README.md", "src/gizmo.py"}
        at_v2 = await api.post(
            "/api/v1/knowledge/sources",
            json={"location": str(bare), "name": "gizmo-v2", "settings": {"ref": "v2"}},
        )
        await run_jobs(db_url)
        assert "CHANGES.md" in await documents(api, at_v2.json()["id"])

    async def test_a_file_url_is_a_folder_of_the_server_under_the_same_rules(
        self, api, repo, db_url, tmp_path, sessions
    ):
        bare = tmp_path / "gizmo.git"
        git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
        source = await add(api, f"file://{bare}")
        assert (source["kind"], source["location"]) == ("git", str(bare))
        await run_jobs(db_url)
        assert set(await documents(api, source["id"])) == {"README.md", "src/gizmo.py"}
        outside = await api.post("/api/v1/knowledge/sources", json={"location": "file:///etc"})
        assert outside.status_code == 403
        assert outside.json()["error"]["details"]["reason"] == "outside_local_roots"
        async with unit_of_work(sessions) as session:
            writer, token = await make_user(session, "writer")
            project = await identity.get_project(session, name="default")
            assert project is not None
            session.add(Membership(project_id=project.id, user_id=writer.user_id, role="write"))
        as_writer = await api.post(
            "/api/v1/knowledge/sources",
            json={"location": f"file://{bare}", "name": "mine"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert as_writer.status_code == 403
        with_host = await api.post(
            "/api/v1/knowledge/sources", json={"location": f"file://host{bare}"}
        )
        assert with_host.status_code == 422
        assert "file:///absolute/path" in with_host.json()["error"]["message"]
        nul = await api.post("/api/v1/knowledge/sources", json={"location": f"file://{bare}%00"})
        assert nul.status_code == 422
        assert "control character" in nul.json()["error"]["message"]

    async def test_a_repository_with_no_file_read_says_empty_and_why(self, api, repo, db_url):
        unmatched = await add(api, str(repo), include=["*.rst"])
        await run_jobs(db_url)
        shown = (await api.get(f"/api/v1/knowledge/sources/{unmatched['id']}")).json()
        assert shown["status"] == "empty"
        assert "include *.rst" in shown["last_error"]
        bare = repo.parent / "binary"
        bare.mkdir()
        git(bare, "init", "-q", "-b", "main")
        (bare / "logo.png").write_bytes(b"\x89PNG")
        git(bare, "add", "logo.png")
        git(bare, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-q", "-m", "1")
        unreadable = await add(api, str(bare))
        await run_jobs(db_url)
        shown = (await api.get(f"/api/v1/knowledge/sources/{unreadable['id']}")).json()
        assert shown["status"] == "empty"
        assert "no file of a kind DevFlow reads" in shown["last_error"]

    async def test_a_ref_is_checked_out(self, api, repo, db_url):
        source = await add(api, str(repo), ref="v2")
        await run_jobs(db_url)
        assert set(await documents(api, source["id"])) == {
            "CHANGES.md",
            "README.md",
            "src/gizmo.py",
        }


class TestAnswers:
    async def test_an_answer_streams_with_numbered_citations(self, api, crawled, fake_llm):
        async with api.stream(
            "POST", "/api/v1/knowledge/answer", json={"question": "How many gigawatts?"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = []
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    events.append((event, orjson.loads(line[5:])))
        kinds = [e for e, _ in events]
        assert kinds[0] == "citations"
        assert kinds[-1] == "done"
        assert kinds.count("delta") >= 1
        cited = events[0][1]["citations"]
        assert cited[0]["number"] == 1
        done = events[-1][1]
        assert done["found"] is True
        assert done["answer"].startswith("fake-chat says:")
        chat = [r for r in fake_llm.requests if r.path.endswith("/chat/completions")]
        assert len(chat) == 1
        prompt = chat[0].body["messages"][-1]["content"]
        assert "[1]" in prompt
        assert "gigawatts" in prompt

    async def test_nothing_relevant_is_said_instead_of_invented(self, api, crawled, fake_llm):
        response = await api.post(
            "/api/v1/knowledge/answer",
            json={"question": "zebra migration patterns in Kenya", "stream": False},
        )
        assert response.status_code == 200
        body = response.json()
        assert body == {"answer": NOTHING_FOUND, "citations": [], "found": False, "model": None}
        assert not [r for r in fake_llm.requests if r.path.endswith("/chat/completions")]


class TestModelChange:
    async def test_a_new_model_reembeds_in_the_background_while_search_keeps_working(
        self, api, crawled, db_url, sessions, monkeypatch
    ):
        source, _ = crawled
        sid = uuid.UUID(source["id"])
        small = "python:tests.knowledge_site.embedder:make_small"  # a second, different model
        # The operator switches models: the worker (environment) and a restarted server see it.
        monkeypatch.setenv("DEVFLOW_KNOWLEDGE__EMBEDDER", small)
        restarted = create_app(load_settings(database_url=db_url))
        async with (
            restarted.router.lifespan_context(restarted),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=restarted),
                base_url="http://devflow.test",
                headers={"Authorization": api.headers["Authorization"]},
            ) as new_api,
        ):
            during = await search(new_api, "capacitor gigawatts")
            assert during["hits"], "keyword results keep search working"
            assert all(h["semantic_rank"] is None for h in during["hits"])
            assert any("being re-embedded" in n for n in during["notices"])
            job_app = create_job_app(
                libpq_url(db_url), blueprints=[knowledge_jobs.blueprint], settings=JobSettings()
            )
            async with job_app.open_async():  # what the periodic check does every 5 minutes
                await job_app.tasks["knowledge:queue_reembedding"].defer_async(timestamp=0)
            await run_jobs(db_url)  # the check, which queues the re-embedding
            await run_jobs(db_url)  # the re-embedding
            after = await search(new_api, "capacitor gigawatts")
        assert after["notices"] == []
        assert after["hits"][0]["semantic_rank"] is not None
        async with unit_of_work(sessions) as session:
            models = set(
                await session.scalars(select(Embedding.model).where(Embedding.source_id == sid))
            )
            row = await session.get(Source, sid)
        assert models == {"test:hashing-64"}
        assert row.embed_model == "test:hashing-64"
