"""What search and answers return, through the API: clean text, one result per document, scores
from 0 to 1, citations one per document. Pages are uploaded (a Sphinx page, Markdown files) and
embedded by the real jobs and model."""

import orjson
import psycopg
import pytest

from devflow.core.db import libpq_url
from tests.integration import test_knowledge_pipeline as pipeline
from tests.integration.test_knowledge_pipeline import add, run_jobs, search

# The pipeline's server, client and fake LLM, as fixtures of this module too.
api, app, fake_llm, knowledge_env = (
    pipeline.api,
    pipeline.app,
    pipeline.fake_llm,
    pipeline.knowledge_env,
)

LINK = '[`json`](#module-json "json: Encode and decode the JSON format.")'
SECTIONS = {
    "Basic Usage": "Serialize a Python object to a JSON document with dumps; the serializer "
    "writes a stream of JSON text.",
    "Encoders and Decoders": "The JSON encoder serializes dictionaries, lists and strings; "
    "a JSON document decodes back to Python objects.",
    "Exceptions": "A JSON document that fails to decode raises JSONDecodeError; serialize "
    "nothing that has no JSON form.",
    "Command Line Interface": "The json.tool module validates and pretty-prints.</p><pre "
    'class="highlight-python3">import json\n\nprint(json.loads("[1, 2, 3]"))\n'
    "print(json.dumps({'answer': 42, 'nested': [1, 2, 3]}, indent=2, sort_keys=True))\n</pre>"
    "<p>See above.",
}
JSON_PAGE = (
    "<html><head><title>json — JSON encoder and decoder — Python 3.11.2 documentation</title>"
    '</head><body><nav>Navigation</nav><div role="main"><section id="module-json">'
    '<h1><a class="reference internal" href="#module-json" title="json: Encode and decode the '
    'JSON format."><code class="xref py py-mod docutils literal notranslate"><span class="pre">'
    'json</span></code></a> — JSON encoder and decoder<a class="headerlink" href="#module-json">'
    "¶</a></h1><p>A lightweight data interchange format.</p>"
    + "".join(
        f'<section><h2>{name}<a class="headerlink" href="#x">¶</a></h2><p>{text}</p></section>'
        for name, text in SECTIONS.items()
    )
    + "</section></div></body></html>"
)
PICKLE = "# pickle\n\nPickle serializes Python objects to a binary stream, not a JSON document.\n"
GLOB = (
    "# Widget\n\n## Finding files\n\nUse `Path('.').glob('**/*.py')` to glob files; the glob "
    "patterns are in https://docs.example.com/glob/patterns.html.\n"
)


@pytest.fixture
async def library(api, db_url):
    return await upload_library(api, db_url)


@pytest.fixture(scope="class")
async def library_api(pg_server, template_url, tmp_path_factory):
    """A client of a World holding the library, uploaded and embedded once per class of tests
    that only search it (tests that change its rows take `library`, their own)."""
    del template_url
    async with pipeline.shared_world(pg_server, tmp_path_factory.mktemp("library")) as world:
        await upload_library(world.api, world.db_url)
        yield world.api


async def upload_library(api, db_url):
    source = await add(api, "upload")
    files = [
        ("files", ("library/json.html", JSON_PAGE.encode())),
        ("files", ("library/pickle.md", PICKLE.encode())),
        ("files", ("widget.md", GLOB.encode())),
    ]
    uploaded = await api.post(f"/api/v1/knowledge/sources/{source['id']}/files", files=files)
    assert uploaded.is_success, uploaded.text
    await run_jobs(db_url)
    return source


def by_uri(found, uri):
    return [h for h in found["hits"] if h["uri"] == uri]


class TestCleanText:
    async def test_titles_and_headings_are_plain_text_without_the_site_name(self, library_api):
        found = await search(library_api, "JSON decoder exceptions", mode="keyword")
        page = by_uri(found, "library/json.html")[0]
        assert page["title"] == "json — JSON encoder and decoder"
        assert page["heading_path"] == ["json — JSON encoder and decoder", "Exceptions"]
        for hit in [page, *page.get("passages", [])]:
            assert "](" not in hit["snippet"]
            assert not any("](" in h or "¶" in h for h in hit["heading_path"])

    async def test_matched_words_are_bold_outside_code_and_urls_only(self, library_api):
        found = await search(library_api, "glob", mode="keyword")
        (hit,) = by_uri(found, "widget.md")
        assert "`Path('.').glob('**/*.py')`" in hit["snippet"]
        assert "to **glob** files" in hit["snippet"]
        assert "https://docs.example.com/glob/patterns.html" in hit["snippet"]

    async def test_rows_stored_with_markup_before_are_cleaned_when_read(self, api, library, db_url):
        async with await psycopg.AsyncConnection.connect(libpq_url(db_url)) as conn:
            await conn.execute(
                "UPDATE knowledge_chunk SET title = %s, heading_path = %s WHERE title = %s",
                (
                    "json — JSON encoder and decoder — Python 3.11.2 documentation",
                    [f"{LINK} — JSON encoder and decoder", "Exceptions"],
                    "json — JSON encoder and decoder",
                ),
            )
            await conn.commit()
        found = await search(api, "JSON decoder exceptions", mode="keyword")
        page = by_uri(found, "library/json.html")[0]
        assert page["title"] == "json — JSON encoder and decoder"
        assert page["heading_path"] == ["json — JSON encoder and decoder", "Exceptions"]

    async def test_code_examples_of_rows_stored_before_are_cleaned_too(self, api, db_url, library):
        async with await psycopg.AsyncConnection.connect(libpq_url(db_url)) as conn:
            await conn.execute(
                "UPDATE knowledge_document SET title = %s WHERE uri = 'library/json.html'",
                ("json — JSON encoder and decoder — Python 3.11.2 documentation",),
            )
            await conn.execute(
                "UPDATE knowledge_code_example SET heading_path = %s",
                ([f"{LINK} — JSON encoder and decoder", "Basic Usage"],),
            )
            await conn.commit()
        response = await api.get("/api/v1/knowledge/code-examples", params={"q": "json dumps"})
        (example,) = response.json()
        assert example["title"] == "json — JSON encoder and decoder"
        assert example["heading_path"] == ["json — JSON encoder and decoder", "Basic Usage"]

    @pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
    async def test_scores_are_relevance_from_0_to_1_best_first(self, library_api, mode):
        found = await search(library_api, "serialize a JSON document", mode=mode)
        scores = [h["score"] for h in found["hits"]]
        assert scores[0] == 1.0
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)


class TestDocuments:
    async def test_a_document_is_one_result_with_its_other_passages_attached(self, library_api):
        found = await search(library_api, "serialize a JSON document", mode="keyword")
        assert found["group"] == "documents"
        documents = [h["document_id"] for h in found["hits"]]
        assert len(documents) == len(set(documents)) == 2
        (page,) = by_uri(found, "library/json.html")  # 5 passages match (its title does)
        assert len(page["passages"]) == 3  # at most 3 are attached
        chunks = {page["chunk_id"], *(p["chunk_id"] for p in page["passages"])}
        assert len(chunks) == 4
        scores = [page["score"], *(p["score"] for p in page["passages"])]
        assert scores == sorted(scores, reverse=True)

    async def test_passages_come_one_by_one_when_asked(self, library_api):
        found = await search(
            library_api, "serialize a JSON document", mode="keyword", group="passages"
        )
        assert found["group"] == "passages"
        assert len(by_uri(found, "library/json.html")) == 5
        assert all(h["passages"] == [] for h in found["hits"])

    async def test_the_limit_counts_documents(self, library_api):
        found = await search(library_api, "serialize a JSON document", mode="keyword", limit=1)
        (page,) = found["hits"]
        assert page["uri"] == "library/json.html"
        assert len(page["passages"]) == 3


class TestAnswers:
    async def test_a_document_is_cited_once_whatever_its_passages(self, api, library, fake_llm):
        response = await api.post(
            "/api/v1/knowledge/answer",
            json={"question": "How do I serialize a JSON document?", "stream": False},
        )
        assert response.status_code == 200, response.text
        chat = [r for r in fake_llm.requests if r.path.endswith("/chat/completions")]
        prompt = chat[0].body["messages"][-1]["content"]
        assert "[1] json — JSON encoder and decoder > " in prompt
        assert "[1, " in prompt  # the page's next passage, under the same number
        assert "[2] json" not in prompt
        assert "Python 3.11.2 documentation" not in prompt
        assert "#module-json" not in orjson.dumps(chat[0].body).decode()


# Characters outside the Basic Multilingual Plane before the passages: offsets count code points
# (a UTF-16 client converts), and the document API's `start` counts the same way.
SNAKES = (
    "# Snakes 🐍🐍\n\nA page about 🐍 pythons, with emoji before every passage.\n\n"
    "## Constrictors\n\nThe reticulated python constricts its prey; 🐍 it is the longest "
    "snake.\n\n- one list item\n- another list item\n\n## Venom\n\nA python has no venom: "
    "it squeezes.\n\n```python\nprint('🐍 hiss')\n```\n"
)


def norm(text: str) -> str:
    return " ".join(text.split())


async def read_range(api, document_id: str, start: int, end: int) -> str:
    response = await api.get(
        f"/api/v1/knowledge/documents/{document_id}",
        params={"start": start, "length": end - start},
    )
    assert response.status_code == 200, response.text
    return response.json()["content"]


@pytest.fixture
async def snakes(api, db_url):
    source = await add(api, "upload")
    files = [("files", ("snakes.md", SNAKES.encode()))]
    uploaded = await api.post(f"/api/v1/knowledge/sources/{source['id']}/files", files=files)
    assert uploaded.is_success, uploaded.text
    await run_jobs(db_url)
    return source


class TestPassageOffsets:
    @pytest.mark.parametrize("group", ["documents", "passages"])
    async def test_each_passage_says_where_it_is_in_its_document(self, api, snakes, group):
        found = await search(
            api,
            "python venom constricts prey",
            mode="keyword",
            group=group,
            sources=[snakes["id"]],
        )
        passages = [p for hit in found["hits"] for p in [hit, *hit["passages"]]]
        assert len(passages) >= 2
        for passage in passages:
            assert 0 <= passage["start"] < passage["end"] <= len(SNAKES)
            # The range holds the passage's blocks as the document has them (its text may begin
            # with the overlap from the passage before).
            shown = await read_range(
                api, found["hits"][0]["document_id"], **{k: passage[k] for k in ("start", "end")}
            )
            assert shown.strip()
            assert norm(passage["text"]).endswith(norm(shown))
            assert SNAKES[passage["start"] : passage["end"]] == shown

    async def test_the_range_reads_the_passage_not_its_neighbours(self, api, snakes):
        found = await search(api, "venom squeezes", mode="keyword", group="passages")
        (venom,) = [h for h in found["hits"] if h["heading_path"][-1] == "Venom"]
        shown = SNAKES[venom["start"] : venom["end"]]
        assert shown.startswith("A python has no venom")
        assert shown.rstrip().endswith("```")
        assert "Constrictors" not in shown

    async def test_a_citation_points_at_its_best_passage(self, api, snakes, fake_llm):
        response = await api.post(
            "/api/v1/knowledge/answer",
            json={"question": "Has a python venom?", "stream": False, "sources": [snakes["id"]]},
        )
        assert response.status_code == 200, response.text
        citations = response.json()["citations"]
        assert citations
        found = await search(
            api, "Has a python venom?", group="passages", sources=[snakes["id"]], limit=8
        )
        by_chunk = {h["chunk_id"]: h for h in found["hits"]}
        for citation in citations:
            best = by_chunk[citation["chunk_id"]]
            assert (citation["start"], citation["end"]) == (best["start"], best["end"])
