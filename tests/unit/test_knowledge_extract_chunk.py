import itertools

import pytest

from devflow.knowledge.chunking import chunk_markdown, code_blocks, parse_blocks
from devflow.knowledge.crawl import CrawlConfig, normalize_url, parse_sitemap, split_top_level
from devflow.knowledge.embedding import embed_input
from devflow.knowledge.extract import ExtractionError, extract, kind_of
from devflow.knowledge.service import guess_kind
from devflow.knowledge.uploads import safe_upload_name


class TestExtraction:
    def test_html_main_content_becomes_markdown_with_structure(self):
        html = b"""<html><head><title>Page</title></head><body>
        <nav>Menu</nav><div class="sidebar">Side</div>
        <main><h1>Guide</h1><p>Intro with <a href="/x">a link</a>.</p>
        <h2>List</h2><ul><li>one</li><li>two</li></ul>
        <pre><code class="language-rust">fn main() {}</code></pre>
        <table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table></main>
        <footer>Legal</footer></body></html>"""
        result = extract(html, name="p.html", base_url="https://docs.example.com/a/")
        assert result.title == "Page"
        assert "# Guide" in result.text
        assert "## List" in result.text
        assert "- one\n- two" in result.text
        assert "```rust\nfn main() {}\n```" in result.text
        assert "| k | v |" in result.text
        for boilerplate in ("Menu", "Side", "Legal"):
            assert boilerplate not in result.text
        assert result.links == ["https://docs.example.com/x"]

    def test_a_signatures_starred_parameters_are_not_read_as_emphasis(self):
        # Sphinx sets each parameter in <em>; `*` and `**kw` in italics became `***, ***kw*`.
        html = b"""<html><body><main><h1>glob</h1><dl><dt>Path.glob(
        <em class="sig-param"><span class="n">pattern</span></em>,
        <em class="sig-param"><span class="o">*</span></em>,
        <em class="sig-param"><span class="o">**</span><span class="n">kw</span></em>)</dt>
        <dd><p>Glob <em>all</em> files.</p></dd></dl></main></body></html>"""
        text = extract(html, name="pathlib.html").text
        assert "*pattern*, *, **kw)" in text
        assert "Glob *all* files." in text  # other emphasis stays

    def test_rst_keeps_headings_and_code_language(self):
        rst = b"Title\n=====\n\nText.\n\nPart\n----\n\n.. code-block:: python\n\n   x = 1\n"
        result = extract(rst, name="guide.rst")
        assert result.title == "Title"
        assert "## Part" in result.text
        assert "```python\nx = 1\n```" in result.text

    def test_markdown_front_matter_gives_the_title(self):
        result = extract(b"---\ntitle: Hello\n---\n# Other\n\nBody\n", name="a.md")
        assert result.title == "Hello"
        assert "title:" not in result.text

    def test_source_code_is_one_fenced_block_with_its_language(self):
        result = extract(b"package main\n", name="cmd/main.go")
        assert (result.content_type, result.language) == ("code", "go")
        assert result.text.startswith("```go\npackage main")

    def test_encodings_are_detected(self):
        assert "Café" in extract("Café crème".encode("cp1252"), name="a.txt").text
        assert extract("Grüße".encode("utf-16"), name="b.txt").text.strip() == "Grüße"

    @pytest.mark.parametrize(
        ("data", "name", "reason"),
        [
            (b"\x00\x01binary", "a.txt", "binary"),
            (b"%PDF-1.4 garbage", "a.pdf", "malformed"),
            (b"PK\x03\x04 not a docx", "a.docx", "malformed"),
            (b"   \n\n", "a.md", "empty"),
            (b"GIF89a", "a.gif", "unsupported"),
        ],
    )
    def test_bad_files_say_why(self, data, name, reason):
        with pytest.raises(ExtractionError) as caught:
            extract(data, name=name)
        assert caught.value.reason == reason

    def test_kinds(self):
        assert kind_of("x", "text/html; charset=utf-8") == "html"
        assert kind_of("notes.markdown") == "markdown"
        assert kind_of("Dockerfile") == "code"
        assert kind_of("photo.jpg") is None


class TestChunking:
    def test_chunks_follow_headings_and_keep_their_path(self):
        md = "# A\n\nIntro.\n\n## B\n\nUnder B.\n\n### C\n\nUnder C.\n\n## D\n\nUnder D.\n"
        chunks = chunk_markdown(md, size=500, overlap=0)
        assert [(c.heading_path, c.text) for c in chunks] == [
            (["A"], "Intro."),
            (["A", "B"], "Under B."),
            (["A", "B", "C"], "Under C."),
            (["A", "D"], "Under D."),
        ]
        assert [c.position for c in chunks] == [0, 1, 2, 3]
        assert md[chunks[1].start : chunks[1].end].strip() == "Under B."

    def test_long_sections_split_between_paragraphs_with_overlap(self):
        paragraphs = [f"Paragraph {i} says something useful about topic {i}." for i in range(40)]
        md = "# Long\n\n" + "\n\n".join(paragraphs) + "\n"
        chunks = chunk_markdown(md, size=300, overlap=60)
        assert len(chunks) > 5
        assert all(len(c.text) <= 300 + 60 + 2 for c in chunks)
        for before, after in itertools.pairwise(chunks):
            assert after.text[:20] in before.text[-60:]  # the next chunk repeats the last sentence
        assert chunk_markdown(md, size=300, overlap=0)[1].text.startswith("Paragraph")

    def test_a_code_block_is_never_split_unless_it_alone_is_too_long(self):
        code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(40)) + "\n```"
        md = f"# Code\n\nBefore.\n\n{code}\n\nAfter.\n"
        chunks = chunk_markdown(md, size=300, overlap=0)
        whole = [c for c in chunks if "x0 = 0" in c.text]
        assert len(whole) == 1
        assert "x39 = 39" in whole[0].text
        huge = "```js\n" + "\n".join(f"let v{i} = {i};" for i in range(300)) + "\n```"
        pieces = chunk_markdown(f"# Big\n\n{huge}\n", size=300, overlap=0)
        assert len(pieces) > 3
        assert all(p.text.startswith("```js\n") and p.text.endswith("```") for p in pieces)

    def test_a_code_block_indented_in_a_definition_is_a_code_block(self):
        # Sphinx's examples sit in a definition (`:   ` and four spaces); as prose, a long
        # definition was cut at sentences and joined, "globbing: ```" on one line.
        example = "    ```\n" + "    >>> sorted(Path('.').glob('**/*.py'))\n" * 12 + "    ```\n"
        md = (
            "# pathlib\n\nPath.glob(pattern)\n:   Glob the given pattern. "
            + "More words. " * 30
            + "It enables recursive globbing:\n\n"
            + example
            + "\n    Note the end.\n"
        )
        blocks = parse_blocks(md)
        code = [b for b in blocks if b.is_code]
        assert len(code) == 1
        assert code[0].text.startswith("```\n>>> sorted(")  # at the margin: a fence, not text
        assert code[0].text.endswith("\n```")
        for chunk in chunk_markdown(md, size=300, overlap=0):
            assert "globbing: ```" not in chunk.text
            for line in chunk.text.splitlines():  # a fence is always a line of its own
                assert "```" not in line or line.strip() == "```", line

    def test_headings_inside_code_blocks_are_code(self):
        blocks = parse_blocks("# Real\n\n```bash\n# not a heading\necho hi\n```\n")
        assert len(blocks) == 1
        assert blocks[0].is_code
        assert blocks[0].headings == ("Real",)

    def test_code_examples_come_with_the_prose_before_them(self):
        md = "# Use\n\nCall it like this:\n\n```python\n" + "client.call()\n" * 30 + "```\n"
        (example,) = code_blocks(md, min_chars=100)
        assert example.language == "python"
        assert example.context == "Call it like this:"
        assert example.heading_path == ["Use"]
        assert code_blocks(md, min_chars=10_000) == []


class TestCrawlHelpers:
    def test_urls_are_normalised(self):
        assert normalize_url("HTTPS://Docs.Example.com#top") == "https://docs.example.com/"
        assert normalize_url("https://d.io/a?b=1#x") == "https://d.io/a?b=1"

    def test_sitemaps_and_indexes_are_read_and_bad_ones_ignored(self):
        urlset = (
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc> https://a.io/x </loc></url></urlset>"
        )
        assert parse_sitemap(urlset) == ("urlset", ["https://a.io/x"])
        index = b"<sitemapindex><sitemap><loc>https://a.io/s.xml</loc></sitemap></sitemapindex>"
        assert parse_sitemap(index) == ("index", ["https://a.io/s.xml"])
        assert parse_sitemap(b"<not xml") == ("urlset", [])
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<urlset><url><loc>&e;</loc></url></urlset>"
        )
        assert "root" not in str(parse_sitemap(bomb))

    def test_llms_full_is_split_at_top_level_headings_only(self):
        text = "# One\n\nA\n\n## Sub\n\n```\n# not a section\n```\n\n# Two\n\nB\n"
        assert [t for t, _ in split_top_level(text)] == ["One", "Two"]

    def test_scope(self):
        from devflow.knowledge.models import Source
        from devflow.knowledge.settings import KnowledgeSettings

        source = Source(
            location="https://docs.io/guide/",
            settings={"include": ["*/guide/*"], "exclude": ["*/guide/old/*"]},
        )
        config = CrawlConfig.of(source, KnowledgeSettings())
        assert config.in_scope("https://docs.io/guide/a.html")
        assert not config.in_scope("https://docs.io/blog/a.html")
        assert not config.in_scope("https://docs.io/guide/old/a.html")
        assert not config.in_scope("https://other.io/guide/a.html")


class TestSmallParts:
    @pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "", "a\x00b"])
    def test_unsafe_upload_names_are_refused(self, name):
        from devflow.core.errors import Invalid

        with pytest.raises(Invalid):
            safe_upload_name(name)

    def test_upload_names_are_cleaned(self):
        assert safe_upload_name("docs\\guide/./a.md") == "docs/guide/a.md"

    def test_kind_is_guessed_from_the_location(self):
        assert guess_kind("https://docs.python.org/3/") == "web"
        assert guess_kind("https://github.com/acme/widget") == "git"
        assert guess_kind("git@github.com:acme/widget.git") == "git"
        assert guess_kind("upload") == "files"


def test_the_embedded_text_gives_a_heading_that_repeats_the_title_once():
    assert embed_input("Flux", ["Flux", "Install"], "Run it.") == "Flux > Install\n\nRun it."
    assert embed_input("Flux", ["Guide", "Guide"], "x") == "Flux > Guide\n\nx"
    assert embed_input("", ["Install"], "x") == "Install\n\nx"
    assert embed_input("", [], "body only") == "body only"
    # Not adjacent: a heading named like the title further down is context, and stays.
    assert embed_input("Flux", ["Setup", "Flux"], "x") == "Flux > Setup > Flux\n\nx"
