"""Extraction: turn fetched bytes (HTML, Markdown, rst, text, PDF, DOCX, source code) into Markdown.

The Markdown keeps the structure the chunker cuts along: headings, lists, tables and fenced code
blocks with their language. Navigation and boilerplate of HTML pages are removed first.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from devflow.core.errors import Invalid
from devflow.knowledge.plaintext import clean_title, heading_text

_CODE_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "jsx",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".scala": "scala",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".sh": "bash",
    ".bash": "bash",
    ".zsh": "bash",
    ".sql": "sql",
    ".lua": "lua",
    ".r": "r",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
    ".cfg": "ini",
    ".css": "css",
    ".scss": "scss",
    ".vue": "vue",
    ".svelte": "svelte",
    ".dart": "dart",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".clj": "clojure",
    ".proto": "protobuf",
    ".tf": "hcl",
    ".gradle": "groovy",
    ".xml": "xml",
}
_CODE_FILENAMES = {"dockerfile": "dockerfile", "makefile": "makefile", "justfile": "just"}
_MARKDOWN = {".md", ".markdown", ".mdx", ".mkd"}
_TEXT = {".txt", ".text", ".log", ".csv", ""}
_HTML = {".html", ".htm", ".xhtml"}
_MEDIA_KINDS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/x-rst": "rst",
    "text/plain": "text",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_BOILERPLATE = (
    "script, style, noscript, template, svg, iframe, nav, header, footer, aside, form, button, "
    "[role=navigation], [role=banner], [role=contentinfo], [role=search], [aria-hidden=true], "
    ".sidebar, .navbar, .nav, .menu, .breadcrumb, .breadcrumbs, .toc, .cookie, .skip-link, "
    ".headerlink, .edit-this-page, .theme-doc-footer, .pagination-nav, #sidebar, #toc"
)
_LANG_CLASS = re.compile(r"^(?:language|lang|highlight-source|highlight)-([\w+#.-]+)$")


class ExtractionError(Invalid):
    """The bytes cannot be turned into text (binary, malformed, unsupported); `reason` says why."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


@dataclass
class Extracted:
    """A document as Markdown, with what was learnt about it on the way."""

    title: str
    text: str
    content_type: str  # html | markdown | rst | text | pdf | docx | code
    language: str | None = None  # programming language of a source file
    canonical: str | None = None
    links: list[str] = field(default_factory=list)


def kind_of(name: str, media_type: str | None = None) -> str | None:  # noqa: PLR0911
    """Return how to read a file or response: its kind, or None when it is not supported."""
    media = (media_type or "").split(";")[0].strip().lower()
    if media in _MEDIA_KINDS and media != "text/plain":
        return _MEDIA_KINDS[media]
    path = PurePosixPath(name.split("?", maxsplit=1)[0].split("#", maxsplit=1)[0])
    suffix = path.suffix.lower()
    if suffix in _HTML:
        return "html"
    if suffix in _MARKDOWN:
        return "markdown"
    if suffix == ".rst":
        return "rst"
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".docx":
        return "docx"
    if suffix in _CODE_LANGUAGES or path.name.lower() in _CODE_FILENAMES:
        return "code"
    if suffix in _TEXT or media == "text/plain":
        return "text"
    if media.startswith("text/"):
        return "text"
    return None


def code_language(name: str) -> str | None:
    """Return the programming language of a file name, if it is a known source file."""
    path = PurePosixPath(name)
    return _CODE_LANGUAGES.get(path.suffix.lower()) or _CODE_FILENAMES.get(path.name.lower())


def extract(
    data: bytes,
    *,
    name: str,
    media_type: str | None = None,
    charset: str | None = None,
    base_url: str | None = None,
) -> Extracted:
    """Extract a document as Markdown.

    Raises:
        ExtractionError: unsupported type, binary content, malformed PDF/DOCX, or nothing in it.
    """
    kind = kind_of(name, media_type)
    if kind is None:
        shown = media_type or PurePosixPath(name).suffix or "no extension"
        raise ExtractionError(f"unsupported content type ({shown})", reason="unsupported")
    if kind == "pdf":
        result = _pdf(data, name)
    elif kind == "docx":
        result = _docx(data, name)
    else:
        text = decode(data, charset)
        if kind == "html":
            result = html_to_markdown(text, base_url=base_url)
        elif kind == "markdown":
            result = _markdown(text, name)
        elif kind == "rst":
            result = _rst(text, name)
        elif kind == "code":
            language = code_language(name)
            fence = "````" if "```" in text else "```"
            body = f"{fence}{language or ''}\n{text.rstrip()}\n{fence}\n"
            result = Extracted(title=name, text=body, content_type="code", language=language)
        else:
            result = Extracted(title=_first_line(text) or name, text=text, content_type="text")
    if not result.text.strip():
        raise ExtractionError("the document has no text", reason="empty")
    if not result.title:
        result.title = PurePosixPath(name).name or name
    return result


def decode(data: bytes, charset: str | None = None) -> str:
    """Decode text: the declared charset, a BOM, UTF-8, then a detected encoding.

    Raises:
        ExtractionError: the bytes look binary.
    """
    head = data[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExtractionError("binary content, not text", reason="binary")
    for encoding in (charset, "utf-8-sig"):
        if encoding:
            try:
                return data.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ExtractionError("binary content, not text", reason="binary")
    if best.encoding in _LATIN_LOOKALIKES:
        # Short Western text is ambiguous between single-byte code pages; Windows-1252 (what
        # browsers assume for "latin-1") is by far the likeliest and decodes it the same or better.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            pass
    return str(best)


_LATIN_LOOKALIKES = {
    "cp1250",
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1006",
    "cp775",
    "cp1125",
    "mac_latin2",
    "mac_roman",
    "cp850",
    "cp437",
}


# -- HTML -----------------------------------------------------------------------------------------


def html_to_markdown(html: str, *, base_url: str | None = None) -> Extracted:
    """Return the main content of an HTML page as Markdown, with its title, canonical and links."""
    from urllib.parse import urljoin

    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(html, "lxml")
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.string.strip()
    canonical = None
    link = soup.find("link", rel="canonical")
    if isinstance(link, Tag) and link.get("href"):
        canonical = urljoin(base_url or "", str(link["href"]))
    links = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:")):
            links.append(urljoin(base_url or "", href))
    main = soup.find("main") or soup.select_one("[role=main]") or soup.find("article")
    root = main if isinstance(main, Tag) else (soup.body or soup)
    for node in root.select(_BOILERPLATE):
        if node is not root:
            node.decompose()
    h1 = root.find("h1")
    heading = h1.get_text(" ", strip=True) if isinstance(h1, Tag) else ""
    site = soup.find("meta", attrs={"property": "og:site_name"})
    site_name = str(site.get("content") or "") if isinstance(site, Tag) else ""
    # Without the site's name documentation generators append (decision 0011).
    title = clean_title(title, first_heading=heading, site=site_name) if title else heading
    text = _markdownify(root)
    return Extracted(
        title=_clean_title(title), text=text, content_type="html", canonical=canonical, links=links
    )


def _code_language(pre: Any) -> str:
    candidates = [pre, pre.find("code"), pre.parent]
    for node in candidates:
        if node is None or not hasattr(node, "get"):
            continue
        for cls in node.get("class") or []:
            match = _LANG_CLASS.match(cls)
            if match:
                return str(match[1]).lower()
        classes = [c for c in node.get("class") or [] if c not in {"code", "literal-block"}]
        if "code" in (node.get("class") or []) and classes:
            return str(classes[0]).lower()
        lang = node.get("data-lang") or node.get("data-language")
        if lang:
            return str(lang).lower()
    return ""


def _markdownify(root: Any) -> str:
    from markdownify import ATX, MarkdownConverter

    class Converter(MarkdownConverter):
        """Emphasis around asterisks is left plain: Sphinx sets a signature's `*` and `**kw`
        in italics, which read `(pattern, ***, ***kw*)` as Markdown (asterisks are not
        escaped, so that globs and code read as written)."""

        def convert_em(self, el: Any, text: str, parent_tags: set[str]) -> str:
            if "*" in text:
                return text
            # markdownify makes convert_em at run time, so the type checker cannot see it
            return str(super().convert_em(el, text, parent_tags))  # type: ignore[misc]

        convert_i = convert_em

    converter = Converter(
        heading_style=ATX,
        bullets="-",
        code_language_callback=_code_language,
        escape_underscores=False,
        escape_asterisks=False,
        escape_misc=False,
        strip=["img"],
    )
    text = converter.convert_soup(root)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _clean_title(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip()[:500]


# -- Markdown, rst, text --------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def _markdown(text: str, name: str) -> Extracted:
    title = ""
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match[1].splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "title":
                title = value.strip().strip("\"'")
        text = text[match.end() :]
    if not title:
        heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        title = heading[1] if heading else PurePosixPath(name).stem
    return Extracted(title=_clean_title(heading_text(title)), text=text, content_type="markdown")


def _rst(text: str, name: str) -> Extracted:
    from docutils.core import publish_parts  # type: ignore[import-untyped]

    try:
        parts = publish_parts(
            source=text,
            writer="html5",
            settings_overrides={
                "report_level": 5,
                "halt_level": 5,
                "file_insertion_enabled": False,
                "raw_enabled": False,
                "syntax_highlight": "none",
            },
        )
    except Exception as exc:  # noqa: BLE001 - docutils raises many types on malformed input
        raise ExtractionError(f"malformed reStructuredText: {exc}", reason="malformed") from None
    html = f"<html><body><h1>{parts['title']}</h1>{parts['body']}</body></html>"
    result = html_to_markdown(html)
    result.title = _clean_title(_strip_tags(parts["title"])) or PurePosixPath(name).stem
    result.content_type = "rst"
    return result


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return _clean_title(line)[:200]
    return ""


# -- PDF and DOCX ---------------------------------------------------------------------------------


def _pdf(data: bytes, name: str) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        headings = _pdf_outline(reader)
        pages = []
        for number, page in enumerate(reader.pages):
            text = page.extract_text() or ""
            marks = "".join(f"\n## {h}\n\n" for h in headings.get(number, []))
            pages.append(marks + text.strip())
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError(f"malformed PDF: {exc}", reason="malformed") from None
    text = "\n\n".join(p for p in pages if p.strip())
    title = _clean_title(str(meta_title)) or _first_line(text) or PurePosixPath(name).stem
    return Extracted(title=title, text=text + "\n", content_type="pdf")


def _pdf_outline(reader: Any) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}

    def walk(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001, S112 - a broken outline entry is skipped, not fatal
                continue
            found.setdefault(page, []).append(str(item.title).strip())

    try:
        walk(reader.outline)
    except Exception:  # noqa: BLE001 - outlines are optional
        return {}
    return found


def _docx(data: bytes, name: str) -> Extracted:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractionError(f"malformed DOCX: {exc}", reason="malformed") from None
    lines: list[str] = []
    title = (document.core_properties.title or "").strip()
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(_docx_paragraph(Paragraph(block, document)))
        elif tag == "tbl":
            lines.append(_docx_table(Table(block, document)))
    text = "\n\n".join(line for line in lines if line.strip())
    if not title:
        first = re.search(r"^#+\s+(.+)$", text, re.MULTILINE)
        title = first[1] if first else PurePosixPath(name).stem
    return Extracted(title=_clean_title(title), text=text + "\n", content_type="docx")


def _docx_paragraph(paragraph: Any) -> str:
    text = str(paragraph.text).strip()
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if not text:
        return ""
    if style == "Title":
        return f"# {text}"
    match = re.match(r"Heading (\d)", style)
    if match:
        return "#" * min(6, int(match[1])) + f" {text}"
    if style.startswith("List"):
        return f"- {text}"
    return text


def _docx_table(table: Any) -> str:
    rows = [[cell.text.strip().replace("|", "\\|") for cell in row.cells] for row in table.rows]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


__all__ = [
    "Extracted",
    "ExtractionError",
    "code_language",
    "decode",
    "extract",
    "html_to_markdown",
    "kind_of",
]
