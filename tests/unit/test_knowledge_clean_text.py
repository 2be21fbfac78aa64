"""What search shows reads as text: plain titles and headings, highlights outside code, one
result per document, relevance from 0 to 1."""

from __future__ import annotations

import re
import uuid

import pytest

from devflow.knowledge.chunking import chunk_markdown
from devflow.knowledge.extract import extract, html_to_markdown
from devflow.knowledge.plaintext import (
    MARK_END,
    MARK_START,
    clean_title,
    heading_text,
    passage_text,
    snippet,
    where,
)
from devflow.knowledge.retrieval import group_by_document, relevance
from devflow.knowledge.schemas import SearchHit, SearchPassage
from devflow.knowledge.tools import ALSO_CHARS, _hit

SPHINX_LINK = '[`json`](#module-json "json: Encode and decode the JSON format.")'
SPHINX_PAGE = """<html><head>
<title>json — JSON encoder and decoder — Python 3.11.2 documentation</title>
</head><body><div role="main">
<h1><a class="reference internal" href="#module-json"
 title="json: Encode and decode the JSON format."><code class="xref py py-mod docutils literal">
<span class="pre">json</span></code></a> — JSON encoder and decoder<a class="headerlink"
 href="#module-json">¶</a></h1>
<p>Encode with <a class="reference internal" href="#json.dumps"><code>json.dumps()</code></a>.</p>
<h2>Basic Usage<a class="headerlink" href="#basic-usage">¶</a></h2>
<p>Serialize obj as a JSON formatted stream.</p>
</div></body></html>"""


def mark(word: str) -> str:
    return f"{MARK_START}{word}{MARK_END}"


class TestPlainTitlesAndHeadings:
    def test_a_sphinx_heading_is_stored_as_plain_text(self):
        pieces = chunk_markdown(f"# {SPHINX_LINK} — JSON encoder and decoder\n\nEncode.\n")
        assert pieces[0].heading_path == ["json — JSON encoder and decoder"]

    def test_a_sphinx_page_keeps_its_title_without_the_site_and_its_headings_plain(self):
        page = html_to_markdown(SPHINX_PAGE, base_url="http://docs.test/library/json.html")
        assert page.title == "json — JSON encoder and decoder"
        pieces = chunk_markdown(page.text)
        assert pieces[-1].heading_path == ["json — JSON encoder and decoder", "Basic Usage"]
        assert "[`json.dumps()`](#json.dumps)" in page.text  # the body stays Markdown

    @pytest.mark.parametrize(
        ("title", "heading", "site", "clean"),
        [
            ("Installation - MkDocs", "Installation", None, "Installation"),
            ("Intro | Acme Docs", "Welcome", "Acme Docs", "Intro"),
            ("Index — Python 3.11.2 documentation", None, None, "Index"),
            ("Python 3.11.2 documentation", None, None, "Python 3.11.2 documentation"),
            ("Built-in Types", "Built-in Types", None, "Built-in Types"),
            ("Error handling - a guide", "Errors", None, "Error handling - a guide"),
        ],
    )
    def test_a_site_suffix_goes_and_a_title_of_its_own_stays(self, title, heading, site, clean):
        assert clean_title(title, first_heading=heading, site=site) == clean

    def test_a_site_name_declared_by_the_page_is_taken_off_its_title(self):
        page = extract(
            b'<html><head><title>Routing | Acme Docs</title><meta property="og:site_name" '
            b'content="Acme Docs"></head><body><main><p>Routes.</p></main></body></html>',
            name="routing.html",
        )
        assert page.title == "Routing"

    def test_a_markdown_title_written_with_markup_is_plain(self):
        page = extract(b"# The `Widget` [API](api.md)\n\nText.\n", name="widget.md")
        assert page.title == "The Widget API"

    @pytest.mark.parametrize(
        ("markdown", "plain"),
        [
            (f"{SPHINX_LINK} — JSON encoder and decoder", "json — JSON encoder and decoder"),
            ("`pathlib` — Filesystem paths¶", "pathlib — Filesystem paths"),
            ("Using *args and **kwargs", "Using *args and **kwargs"),
            ("The **new** *fast* path", "The new fast path"),
            ("HLA-B*27 and DRB1*04", "HLA-B*27 and DRB1*04"),
            ("The `__init__` method in C#", "The __init__ method in C#"),
            ("[Effects of tea] on sleep", "[Effects of tea] on sleep"),
            ("![logo](logo.png) Widget", "logo Widget"),
        ],
    )
    def test_markup_goes_and_plain_text_stays_as_it_is(self, markdown, plain):
        assert heading_text(markdown) == plain
        assert heading_text(plain) == plain  # cleaning again when read changes nothing

    def test_a_title_that_is_also_the_first_heading_is_shown_once(self):
        assert where("Widget", ["Widget", "Install"]) == "Widget > Install"
        assert where("Widget", ["Usage"]) == "Widget > Usage"
        assert where("", ["Widget", "Install"]) == "Widget > Install"


class TestSnippets:
    def test_highlights_stay_out_of_code_spans_code_blocks_and_urls(self):
        marked = (
            f"Use `Path('.').{mark('glob')}('**/*.py')` to {mark('glob')} files; see "
            f"https://example.com/{mark('glob')}/docs.\n\n```python\n"
            f"for p in Path('.').{mark('glob')}('*.py'):\n    print(p)\n```\n"
        )
        shown = snippet(marked)
        assert "`Path('.').glob('**/*.py')`" in shown
        assert "to **glob** files" in shown
        assert "https://example.com/glob/docs" in shown
        assert "Path('.').glob('*.py'): print(p)" in shown
        assert shown.count("**glob**") == 1

    def test_a_sphinx_signature_and_its_indented_example_read_as_text(self):
        # Python's docs: a method's signature with `*` and `**kw`, its example in a code block
        # inside the definition, so extraction indents the fence four spaces.
        page = (
            '<html><body><div role="main"><h1>pathlib</h1><dl class="py method">'
            '<dt class="sig">Path.<span class="sig-name">glob</span>(<em class="sig-param">'
            '<span class="n">pattern</span></em>, <em class="sig-param"><span class="o">*'
            '</span></em>, <em class="sig-param"><span class="o">**</span><span class="n">kw'
            "</span></em>)</dt><dd><p>It enables recursive globbing:</p>"
            '<div class="highlight"><pre>&gt;&gt;&gt; sorted(Path(&#39;.&#39;).glob(&#39;**/*.py'
            "&#39;))\n[PosixPath(&#39;setup.py&#39;)]\n</pre></div><p>Note the end.</p></dd>"
            "</dl></div></body></html>"
        )
        stored = html_to_markdown(page).text
        assert "    ```" in stored  # the case at hand: an indented fence
        marked = re.sub(r"\b(glob|recursive)\b", lambda m: mark(m[1]), stored)
        shown = snippet(marked, words=60)
        assert "Path.**glob**(pattern, *, **kw)" in shown  # not `(pattern, ***, ***kw*)`
        assert "It enables **recursive** globbing: >>> sorted(Path('.').glob('**/*.py'))" in shown
        assert "```" not in shown
        assert shown.count("**glob**") == 1  # the name in the signature, never inside the code

    def test_link_syntax_becomes_its_text(self):
        marked = f'Call [`json.{mark("dumps")}()`](#json.dumps "json.dumps") to {mark("encode")}.'
        assert snippet(marked) == "Call `json.dumps()` to **encode**."

    def test_a_long_passage_is_cut_around_what_matched(self):
        marked = "filler " * 200 + f"the {mark('answer')} is here " + "filler " * 200
        shown = snippet(marked)
        assert "the **answer** is here" in shown
        assert shown.startswith("… ")
        assert shown.endswith(" …")
        assert len(shown) < 300

    def test_without_a_match_the_snippet_is_the_start_of_the_passage(self):
        assert snippet("First [line](a.html).\n\nSecond line.") == "First line. Second line."

    def test_a_passage_keeps_links_to_other_sites_and_code(self):
        text = (
            'See [`json`](#module-json "json") and [the RFC](https://rfc.example/8259 "RFC").'
            "\n\n```md\n[a](b)\n```\n"
        )
        assert passage_text(text) == (
            "See `json` and [the RFC](https://rfc.example/8259).\n\n```md\n[a](b)\n```\n"
        )


class TestDocumentsAndScores:
    def test_passages_are_grouped_by_document_in_the_order_of_their_best_passage(self):
        a, b, c = (uuid.uuid4() for _ in range(3))
        ranked = [("a1", a), ("b1", b), ("a2", a), ("c1", c), ("a3", a), ("b2", b), ("a4", a)]
        groups = group_by_document(ranked, lambda p: p[1], limit=2, attached=2)
        assert [[name for name, _ in g] for g in groups] == [["a1", "a2", "a3"], ["b1", "b2"]]

    def test_scores_are_scaled_from_the_weakest_candidate_to_the_best(self):
        ids = [uuid.uuid4() for _ in range(3)]
        shown = relevance(list(zip(ids, [2.5, -0.5, -1.5], strict=True)))
        assert [shown[i] for i in ids] == [1.0, 0.25, 0.0]
        assert relevance([(ids[0], -3.0)]) == {ids[0]: 1.0}


class TestAgentOutput:
    def test_a_result_reads_as_text_with_its_other_passages_one_line_each(self):
        def passage(section: str, text: str) -> dict:
            return {
                "chunk_id": uuid.uuid4(),
                "heading_path": ["json — JSON encoder and decoder", section],
                "snippet": text,
                "text": text,
                "start": 0,
                "end": len(text),
                "score": 0.5,
            }

        hit = SearchHit(
            **passage(
                "Basic Usage", f"Call {SPHINX_LINK} or [RFC 8259](https://rfc.example/8259)."
            ),
            document_id=uuid.uuid4(),
            source_id=uuid.uuid4(),
            title="json — JSON encoder and decoder",
            uri="library/json.html",
            content_type="html",
            passages=[SearchPassage(**passage("Exceptions", "Raises **JSONDecodeError**."))],
        )
        shown = _hit(1, hit).splitlines()
        assert shown[0] == "[1] json — JSON encoder and decoder > Basic Usage"
        assert shown[2] == "Call `json` or [RFC 8259](https://rfc.example/8259)."
        assert shown[3:] == [
            "Also matching in this document:",
            "- Exceptions: Raises **JSONDecodeError**.",
        ]

    def test_a_cut_leaves_no_bold_code_span_or_code_block_open(self):
        head = "dataclasses.field(*, **default**=MISSING, **default**_**fac"
        lead = "x" * (ALSO_CHARS - 1 - len(head) - 1) + " "  # the cut falls inside **factory**
        signature = lead + head + "tory**=MISSING, init=True, repr=True)"
        code = "Use it so:\n\n```python\n" + "x = compute(x)\n" * 80 + "```\n"
        hit = SearchHit(
            chunk_id=uuid.uuid4(),
            document_id=uuid.uuid4(),
            source_id=uuid.uuid4(),
            title="dataclasses",
            uri="library/dataclasses.html",
            heading_path=["dataclasses"],
            snippet=code,
            text=code,
            start=0,
            end=len(code),
            score=1.0,
            content_type="html",
            passages=[
                SearchPassage(
                    chunk_id=uuid.uuid4(),
                    heading_path=["dataclasses", "Module contents"],
                    snippet=signature,
                    text=signature,
                    start=len(code),
                    end=len(code) + len(signature),
                    score=0.5,
                )
            ],
        )
        shown = _hit(1, hit)
        body, also = shown.split("Also matching in this document:\n")
        assert body.rstrip().endswith(" …\n```")  # the code block cut is closed again
        assert also.endswith("**default**=MISSING, **default**_fac…"), also  # not `**fac…`
