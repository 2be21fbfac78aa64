"""The knowledge tools and resources through the SDK client, on a folder ingested by real jobs."""

from __future__ import annotations

import json
import os
import re
import secrets

import mcp_types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from devflow.core.config import DatabaseSettings
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.domains import each
from devflow.knowledge import jobs as knowledge_jobs
from devflow.mcp.identity import TokenIdentity
from devflow.mcp.registry import Runtime
from devflow.mcp.server import build_server
from devflow.settings import load_settings
from tests import factories
from tests.conftest import clone_database, drop_database
from tests.factories import bootstrap_admin, make_user, services_on

EMBEDDER = "python:tests.knowledge_site.embedder:shared_local"  # the real CPU model

ORBITS = """# Orbital mechanics

## Gravity wells

A gravity well is the pull a body exerts. Escaping a gravity well takes delta-v.

## Hohmann transfer

The Hohmann transfer moves a craft between two circular orbits with two burns.

```python
def hohmann_delta_v(mu: float, r1: float, r2: float) -> float:
    from math import sqrt
    first = sqrt(mu / r1) * (sqrt(2 * r2 / (r1 + r2)) - 1)
    second = sqrt(mu / r2) * (1 - sqrt(2 * r1 / (r1 + r2)))
    return abs(first) + abs(second)
```
"""

GARDEN = "# Gardening\n\nTomatoes need sun, water and patience. Prune the suckers weekly.\n"
LONG = "# Ledger\n\n" + "\n".join(f"Entry {i}: the ledger balances." for i in range(600))


@pytest.fixture(scope="module", autouse=True)
def local_roots(tmp_path_factory):
    """Let the gateway and the worker read the folders the tests make (knowledge.local_roots)."""
    roots = json.dumps([str(tmp_path_factory.getbasetemp())])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVFLOW_KNOWLEDGE__LOCAL_ROOTS", roots)
        yield


def gateway(sessions, token, **sections):
    settings = load_settings(
        knowledge={
            "embedder": EMBEDDER,
            "code_example_min_chars": 100,
            "local_roots": json.loads(os.environ["DEVFLOW_KNOWLEDGE__LOCAL_ROOTS"]),
        },
        **sections,
    )
    runtime = Runtime(services=services_on(sessions, settings), identity=TokenIdentity(token))
    return build_server(runtime, list(each("tools")))


def text(result) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


async def run_jobs(db_url) -> None:
    await factories.run_jobs(db_url, [knowledge_jobs.blueprint])


# Ingestion with the real model is the slow part: one knowledge base serves the whole module
# (the tests only read it, or write what no other test looks at).


@pytest.fixture(scope="module")
def kb_url(pg_server, template_url):
    del template_url
    name = f"t_{secrets.token_hex(6)}"
    url = clone_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
async def sessions(kb_url):
    engine = create_engine(kb_url, DatabaseSettings())
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
async def admin_token(sessions) -> str:
    return await bootstrap_admin(sessions)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    docs = tmp_path_factory.mktemp("kb") / "docs"
    docs.mkdir()
    (docs / "orbits.md").write_text(ORBITS)
    (docs / "garden.md").write_text(GARDEN)
    (docs / "ledger.md").write_text(LONG)
    return docs


@pytest.fixture(scope="module")
async def ingested(sessions, kb_url, admin_token, folder):
    async with Client(gateway(sessions, admin_token)) as client:
        added = await client.call_tool("knowledge_add_source", {"location": str(folder)})
    assert not added.is_error, text(added)
    job_id = int(re.search(r"ingestion job (\d+)", text(added)).group(1))
    source_id = re.search(r"id ([0-9a-f-]{36})", text(added)).group(1)
    # The worker reads its settings from the environment, as `devflow worker` does.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DEVFLOW_KNOWLEDGE__EMBEDDER", EMBEDDER)
        env.setenv("DEVFLOW_KNOWLEDGE__CODE_EXAMPLE_MIN_CHARS", "100")
        await run_jobs(kb_url)
    return job_id, source_id


class TestAddAndStatus:
    async def test_adding_a_source_starts_a_job_the_agent_can_follow(
        self, sessions, admin_token, ingested
    ):
        job_id, _ = ingested
        async with Client(gateway(sessions, admin_token)) as client:
            status = await client.call_tool("job_status", {"job_id": job_id})
            sources = await client.call_tool("knowledge_sources", {})
        assert "status: succeeded" in text(status)
        assert "- docs [files, ready] 3 docs" in text(sources)

    async def test_bad_sources_are_refused_with_the_reason(self, sessions, admin_token, tmp_path):
        async with Client(gateway(sessions, admin_token)) as client:
            relative = await client.call_tool("knowledge_add_source", {"location": "docs"})
            missing = await client.call_tool(
                "knowledge_add_source", {"location": str(tmp_path / "nope")}
            )
            upload = await client.call_tool("knowledge_add_source", {"location": "upload"})
        assert "'docs' is a relative path, which the DevFlow server cannot place" in text(relative)
        assert "is not a directory" in text(missing)
        assert "uploads need the API" in text(upload)
        assert all(r.is_error for r in (relative, missing, upload))


class TestSearch:
    async def test_finds_the_passage_with_its_document_id(self, sessions, admin_token, ingested):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("knowledge_search", {"query": "gravity well delta-v"})
        assert not result.is_error
        first = text(result).split("\n\n")[0]
        assert first.startswith("[1] Orbital mechanics > Gravity wells")
        assert "Gravity wells" in first
        assert re.search(r"\(document [0-9a-f-]{36}\)", first)

    async def test_pages_with_a_cursor(self, sessions, admin_token, ingested):
        async with Client(gateway(sessions, admin_token)) as client:
            first = await client.call_tool("knowledge_search", {"query": "the", "limit": 1})
            cursor = re.search(r"More: cursor=(\S+)", text(first)).group(1)
            second = await client.call_tool(
                "knowledge_search", {"query": "the", "limit": 1, "cursor": cursor}
            )
        assert text(first).startswith("[1] ")
        assert text(second).startswith("[2] ")
        first_hit = text(first).split("\n\n")[0].removeprefix("[1] ")
        assert first_hit != text(second).split("\n\n")[0].removeprefix("[2] ")

    async def test_keyword_mode_and_a_source_filter(self, sessions, admin_token, ingested):
        async with Client(gateway(sessions, admin_token)) as client:
            hit = await client.call_tool(
                "knowledge_search", {"query": "tomatoes", "mode": "keyword", "source": "docs"}
            )
            miss = await client.call_tool(
                "knowledge_search", {"query": "xylophone quasar", "mode": "keyword"}
            )
        assert "Gardening" in text(hit)
        assert text(miss) == "No matches."

    async def test_a_document_comes_once_with_its_other_matching_passages(
        self, sessions, admin_token, ingested
    ):
        query = {"query": "orbital mechanics", "mode": "keyword"}
        async with Client(gateway(sessions, admin_token)) as client:
            documents = text(await client.call_tool("knowledge_search", query))
            passages = text(
                await client.call_tool("knowledge_search", {**query, "group": "passages"})
            )
        first = documents.split("\n\n")[0]
        assert first.startswith("[1] Orbital mechanics > ")
        assert "Also matching in this document:\n- " in first
        assert "[2] Orbital mechanics" not in documents
        ids = re.findall(r"\(document ([0-9a-f-]{36})\)", passages)
        assert len(ids) == 2
        assert len(set(ids)) == 1
        assert "Also matching" not in passages

    async def test_results_that_would_pass_the_output_cap_wait_for_the_next_page(
        self, sessions, admin_token, ingested
    ):
        small = gateway(sessions, admin_token, mcp={"max_output_chars": 1000})
        query = {"query": "ledger balances", "group": "passages"}
        async with Client(small) as client:
            first = text(await client.call_tool("knowledge_search", query))
            cursor = re.search(r"More: cursor=(\S+)", first).group(1)
            second = text(await client.call_tool("knowledge_search", {**query, "cursor": cursor}))
        assert "[cut at" not in first
        assert first.startswith("[1] Ledger")
        assert "\n[2] " not in first
        assert second.startswith("[2] Ledger")

    @pytest.mark.parametrize(
        ("arguments", "complaint"),
        [
            ({"query": "   "}, "the query is empty"),
            ({"query": "x", "mode": "fuzzy"}, "'hybrid', 'keyword' or 'semantic'"),
            ({"query": "x", "limit": 500}, "less than or equal to 20"),
            ({"query": "x", "source": "nope"}, "no source named 'nope'"),
            ({"query": "x", "cursor": "garbage"}, "invalid cursor"),
            ({}, "query"),
        ],
    )
    async def test_bad_arguments_are_tool_errors(
        self, sessions, admin_token, ingested, arguments, complaint
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool("knowledge_search", arguments)
        assert result.is_error
        assert complaint in text(result)
        assert "Value error" not in text(result)  # the validator's words, not ours

    async def test_code_examples_come_fenced_with_their_language(
        self, sessions, admin_token, ingested
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            result = await client.call_tool(
                "knowledge_code_examples", {"query": "hohmann delta", "language": "python"}
            )
        assert "```python\ndef hohmann_delta_v" in text(result)


class TestRead:
    async def test_reads_a_document_by_id_and_by_path_in_ranges(
        self, sessions, admin_token, ingested, folder
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            hit = await client.call_tool("knowledge_search", {"query": "ledger balances"})
            document = re.search(r"\(document ([0-9a-f-]{36})\)", text(hit)).group(1)
            head = await client.call_tool("knowledge_read", {"document": document, "length": 100})
            rest = await client.call_tool(
                "knowledge_read", {"document": document, "start": 100, "length": 50}
            )
            by_path = await client.call_tool("knowledge_read", {"document": "garden.md"})
        assert "(characters 0-100 of" in text(head)
        assert "More: start=100" in text(head)
        assert "(characters 100-150 of" in text(rest)
        assert "Tomatoes need sun" in text(by_path)

    async def test_a_result_says_where_its_passage_is_for_a_read(
        self, sessions, admin_token, ingested
    ):
        async with Client(gateway(sessions, admin_token)) as client:
            hit = text(await client.call_tool("knowledge_search", {"query": "gravity well"}))
            where = re.search(r"\(document ([0-9a-f-]{36})\) characters (\d+)-(\d+)\n", hit)
            assert where, hit
            document, start, end = where[1], int(where[2]), int(where[3])
            read = await client.call_tool(
                "knowledge_read", {"document": document, "start": start, "length": end - start}
            )
        body = text(read).split("\n\n", 1)[1]
        assert f"(characters {start}-{end} of" in text(read)
        # The range is the passage as the document has it: the hit shows the same words.
        first_words = " ".join(body.split()[:6])
        assert first_words in " ".join(hit.split())

    async def test_a_long_document_is_capped(self, sessions, admin_token, ingested):
        async with Client(gateway(sessions, admin_token)) as client:
            hit = await client.call_tool("knowledge_search", {"query": "ledger balances"})
            document = re.search(r"\(document ([0-9a-f-]{36})\)", text(hit)).group(1)
            whole = await client.call_tool(
                "knowledge_read", {"document": document, "length": 100_000}
            )
        assert len(text(whole)) <= load_settings().mcp.max_output_chars


class TestPermissions:
    async def test_a_stranger_sees_nothing_and_cannot_add_local_folders(
        self, sessions, admin_token, ingested, folder
    ):
        _, source_id = ingested
        async with unit_of_work(sessions) as session:
            _, stranger = await make_user(session, "stranger")
        async with Client(gateway(sessions, stranger)) as client:
            sources = await client.call_tool("knowledge_sources", {})
            found = await client.call_tool("knowledge_search", {"query": "gravity well"})
            read = await client.call_tool(
                "knowledge_search", {"query": "gravity", "source": source_id}
            )
            added = await client.call_tool("knowledge_add_source", {"location": str(folder)})
        assert text(sources) == "No sources. Add one with knowledge_add_source."
        assert text(found) == "No matches."
        assert read.is_error
        assert f"no source {source_id}" in text(read)
        assert added.is_error


class TestResources:
    async def test_sources_and_documents_are_resources(self, sessions, admin_token, ingested):
        _, source_id = ingested
        async with Client(gateway(sessions, admin_token)) as client:
            listed = await client.list_resources()
            source_uri = f"devflow://knowledge/sources/{source_id}"
            source = await client.read_resource(source_uri)
            source_text = source.contents[0].text
            document_uri = re.search(r"(devflow://knowledge/documents/\S+)", source_text).group(1)
            document = await client.read_resource(document_uri)
            with pytest.raises(MCPError, match="no document"):
                await client.read_resource(
                    "devflow://knowledge/documents/00000000-0000-0000-0000-000000000000"
                )
        assert [r.uri for r in listed.resources] == [source_uri]
        assert "3 documents" in source_text
        assert document.contents[0].text.startswith("# ")
