"""What the knowledge domain takes and returns (API, CLI, MCP tools)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

SourceKind = Literal["web", "files", "git"]
SearchMode = Literal["hybrid", "keyword", "semantic"]
SearchGroup = Literal["documents", "passages"]

MAX_QUERY_CHARS = 2000
_GIT_REF = re.compile(r"^[^-\s\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*$")


def _fitting_text(value: str, noun: str, *, empty_hint: str = "", long_hint: str = "") -> str:
    """Strip a query or question; refuse it empty or over MAX_QUERY_CHARS."""
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"the {noun} is empty{empty_hint}")
    if len(stripped) > MAX_QUERY_CHARS:
        raise ValueError(
            f"the {noun} is {len(stripped)} characters; the limit is {MAX_QUERY_CHARS}{long_hint}"
        )
    return stripped


class SourceSettings(BaseModel):
    """How a source is read; every field is optional and has a sensible default."""

    model_config = ConfigDict(extra="forbid")

    max_depth: int | None = Field(None, ge=0, le=50, description="Link depth of a web crawl.")
    max_pages: int | None = Field(None, ge=1, le=100_000, description="Page limit of a crawl.")
    include: list[str] = Field(
        default_factory=list,
        description="URL or path patterns (shell-style, `*/docs/*`) a page must match.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="URL or path patterns to skip (shell-style)."
    )
    same_domain: bool = Field(True, description="Stay on the start URL's host.")
    single_page: bool = Field(False, description="Fetch only the given URL.")
    use_sitemap: bool = Field(True, description="Read sitemap.xml (and sitemap indexes).")
    use_llms_txt: bool = Field(True, description="Read llms.txt / llms-full.txt first.")
    respect_robots: bool = Field(True, description="Honour robots.txt.")
    allow_private: StrictBool = Field(
        False,
        description="Allow private, loopback and link-local addresses (intranet docs; instance "
        "admins only).",
    )
    delay: float | None = Field(None, ge=0, le=60, description="Seconds between requests.")
    concurrency: int | None = Field(None, ge=1, le=32, description="Parallel requests per host.")
    ref: str | None = Field(None, max_length=200, description="Git branch, tag or commit.")
    origin: str | None = Field(
        None,
        max_length=4000,
        description="Upload sources: the folder or file the files were uploaded from, on the "
        "uploader's machine (`devflow knowledge refresh` uploads from there again).",
    )

    @field_validator("ref")
    @classmethod
    def _ref_is_a_name(cls, value: str | None) -> str | None:
        # Git names never start with `-` (it would be read as an option) nor hold spaces.
        if value is not None and not _GIT_REF.match(value):
            raise ValueError(
                f"{value[:50]!r} is not a git branch, tag or commit name (they do not start with "
                "'-' and hold no spaces)"
            )
        return value


class SourceCreate(BaseModel):
    """A new source."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(
        min_length=1,
        max_length=4000,
        description="A URL (web), a git clone URL or local repository, a local directory, or "
        "`upload` for files sent later.",
    )
    kind: SourceKind | None = Field(None, description="web, files or git (guessed when left out).")
    name: str | None = Field(None, max_length=200, description="Display name (unique per project).")
    project: str = Field("default", description="Project the source belongs to.")
    settings: SourceSettings = Field(default_factory=SourceSettings)


class SourceRead(BaseModel):
    """A source with its status and counts."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    kind: str
    location: str
    settings: dict[str, object]
    status: str
    embed_model: str | None
    discovered: int
    fetched: int
    chunked: int
    embedded: int
    failed: int
    document_count: int
    chunk_count: int
    job_id: int | None
    last_error: str | None
    last_refresh_at: datetime | None
    created_at: datetime


class FilesRetain(BaseModel):
    """Every file an upload source should hold; its other documents are removed."""

    model_config = ConfigDict(extra="forbid")

    files: list[str] = Field(
        max_length=1_000_000, description="Names as uploaded (relative paths)."
    )
    origin: str | None = Field(
        None,
        max_length=4000,
        description="Where the files now come from (recorded as the source's settings.origin).",
    )


class FilesRetained(BaseModel):
    """What a re-sync removed."""

    removed: list[str] = Field(description="Names of the documents removed.")


class DocumentRead(BaseModel):
    """A document of a source (without its content)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source_id: uuid.UUID
    uri: str
    title: str
    content_type: str
    language: str | None
    size: int
    status: str
    error: str | None
    fetched_at: datetime


class DocumentContent(BaseModel):
    """A document's Markdown, whole or a character range of it."""

    id: uuid.UUID
    source_id: uuid.UUID
    uri: str
    title: str
    content_type: str
    language: str | None
    start: int
    end: int
    total_chars: int
    content: str


class SearchRequest(BaseModel):
    """A search of the knowledge base."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(description=f"What to look for (1 to {MAX_QUERY_CHARS} characters).")
    mode: SearchMode = Field("hybrid", description="hybrid (default), keyword or semantic.")
    limit: int = Field(10, ge=1, le=100, description="Results to return.")
    project: str | None = Field(None, description="One project (default: every one you can read).")
    sources: list[uuid.UUID] = Field(default_factory=list, description="Only these sources.")
    content_types: list[str] = Field(
        default_factory=list, description="Only these content types (html, markdown, pdf, code…)."
    )
    languages: list[str] = Field(
        default_factory=list, description="Only these programming languages (code files)."
    )
    rerank: bool = Field(True, description="Apply the configured re-ranker, if any.")
    group: SearchGroup = Field(
        "documents",
        description="documents (default): one result per document, at its best passage, with "
        "its other matching passages attached; passages: every matching passage on its own.",
    )

    @field_validator("query")
    @classmethod
    def _query_fits(cls, value: str) -> str:
        return _fitting_text(
            value,
            "query",
            empty_hint=": say what to look for",
            long_hint=". Search with the key words or a sentence instead of a whole text.",
        )


_HEADING_PATH = "Headings above the passage, outermost first, as plain text."
_SNIPPET = (
    "The passage as plain text, on one line, with the query's words in **bold** (never inside "
    "code or a URL)."
)
_SCORE = (
    "Relevance from 0 to 1 within this search: 1 is its best match, 0 the weakest candidate it "
    "weighed. Not comparable across searches."
)
_RANK = "Place among the {} candidates (None: not among them)."
_START = (
    "Where the passage starts in its document's `content` (GET /api/v1/knowledge/documents/{id}"
    "), in characters (Unicode code points). The range covers the blocks the passage was cut "
    "from (a paragraph or code block longer than a passage is cut into passages sharing its "
    "range); the passage's text may begin with the end of the passage before it (the overlap)."
)
_END = "Where the passage ends in its document's `content` (exclusive; `start` + length)."


class SearchPassage(BaseModel):
    """Another matching passage of a document result."""

    chunk_id: uuid.UUID
    heading_path: list[str] = Field(description=_HEADING_PATH)
    snippet: str = Field(description=_SNIPPET)
    text: str = Field(description="The passage (Markdown).")
    start: int = Field(description=_START)
    end: int = Field(description=_END)
    score: float = Field(description=_SCORE)
    keyword_rank: int | None = Field(None, description=_RANK.format("keyword"))
    semantic_rank: int | None = Field(None, description=_RANK.format("semantic"))


class SearchHit(BaseModel):
    """One result: a document at its best passage (or, grouped by passages, one passage)."""

    chunk_id: uuid.UUID = Field(description="The best passage.")
    document_id: uuid.UUID
    source_id: uuid.UUID
    title: str = Field(description="The document's title, as plain text.")
    uri: str
    heading_path: list[str] = Field(description=_HEADING_PATH)
    snippet: str = Field(description=_SNIPPET)
    text: str = Field(description="The passage (Markdown).")
    start: int = Field(description=_START)
    end: int = Field(description=_END)
    score: float = Field(description=_SCORE)
    keyword_rank: int | None = Field(None, description=_RANK.format("keyword"))
    semantic_rank: int | None = Field(None, description=_RANK.format("semantic"))
    content_type: str
    language: str | None = None
    passages: list[SearchPassage] = Field(
        default_factory=list,
        description="The document's other matching passages, best first (grouped by documents; "
        "at most 3).",
    )


class SearchResults(BaseModel):
    """Search results with what the search did."""

    query: str
    mode: SearchMode
    group: SearchGroup = "documents"
    hits: list[SearchHit]
    notices: list[str] = Field(
        default_factory=list, description="Why results may be partial (a re-embedding in progress)."
    )


class CodeExampleRead(BaseModel):
    """A code example with its language and the explanation around it."""

    id: uuid.UUID
    document_id: uuid.UUID
    source_id: uuid.UUID
    title: str
    uri: str
    language: str | None
    heading_path: list[str]
    code: str
    context: str
    summary: str | None
    score: float


class AnswerRequest(BaseModel):
    """A question for the knowledge base."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question.")
    project: str | None = None
    sources: list[uuid.UUID] = Field(default_factory=list)
    limit: int = Field(8, ge=1, le=30, description="Chunks given to the model.")
    stream: bool = Field(True, description="Stream Server-Sent Events instead of one JSON body.")

    @field_validator("question")
    @classmethod
    def _question_fits(cls, value: str) -> str:
        return _fitting_text(value, "question")


class Citation(BaseModel):
    """A numbered source of an answer."""

    number: int
    chunk_id: uuid.UUID = Field(description="The document's best passage given to the model.")
    document_id: uuid.UUID
    title: str
    uri: str
    heading_path: list[str] = Field(description="Headings above the best passage.")
    start: int = Field(description=f"The best passage's start. {_START}")
    end: int = Field(description=f"The best passage's end. {_END}")
    chunk_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="Every passage of the document given to the model under this number.",
    )


class AnswerRead(BaseModel):
    """A complete answer."""

    answer: str
    citations: list[Citation]
    found: bool = Field(description="False when the knowledge base had nothing relevant.")
    model: str | None = None
