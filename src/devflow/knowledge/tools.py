"""Knowledge tools and resources: search, code examples, sources, reading, adding a source."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

import mcp_types
from pydantic import Field

from devflow import knowledge
from devflow.core import render
from devflow.core.errors import Invalid
from devflow.core.tools import Call, Contribution, ProjectArg, ResourceDef, ToolDef
from devflow.identity import default_project_name
from devflow.knowledge.plaintext import passage_text
from devflow.knowledge.settings import KnowledgeSettings

SOURCES_URI = "devflow://knowledge/sources/{source_id}"
DOCUMENTS_URI = "devflow://knowledge/documents/{document_id}"
_MAX_HITS = 100  # the most one search returns, cursor included
HIT_CHARS = 700  # of each hit's chunk: enough to answer from, small enough for five
ALSO_CHARS = 200  # of each other passage of a document: where it is and what matched

Query = Annotated[str, Field(description="A few keywords or a short question.", max_length=2000)]
SourceArg = Annotated[str | None, Field(description="Source name or id.", max_length=200)]
Cursor = Annotated[str | None, Field(description="From the previous answer.")]
OnlyProject = Annotated[str | None, Field(description="Only this project.", max_length=64)]


async def _source_ids(call: Call, source: str | None, project: str | None) -> list[uuid.UUID]:
    if not source:
        return []
    found = await knowledge.find_source(
        call.session, principal=call.principal, ref=source, project=project
    )
    return [found.id]


async def knowledge_search(
    call: Call,
    query: Query,
    source: SourceArg = None,
    mode: Literal["hybrid", "keyword", "semantic"] = "hybrid",
    group: Annotated[
        Literal["documents", "passages"],
        Field(description="documents: one result per document; passages: each on its own."),
    ] = "documents",
    limit: Annotated[int, Field(ge=1, le=20)] = 5,
    project: OnlyProject = None,
    cursor: Cursor = None,
) -> str:
    """Search the knowledge base: the best documents, each with its matching passages."""
    offset = render.decode_cursor(cursor)
    request = knowledge.SearchRequest(
        query=query,
        mode=mode,
        limit=min(_MAX_HITS, offset + limit + 1),
        project=project,
        sources=await _source_ids(call, source, project),
        group=group,
    )
    embedder = None if mode == "keyword" else call.services.get(knowledge.EMBEDDER)
    found = await knowledge.search(
        call.session,
        principal=call.principal,
        request=request,
        settings=call.settings.section(KnowledgeSettings),
        embedder=embedder,
    )
    hits = found.hits[offset : offset + limit]
    notes = [f"Note: {n}" for n in found.notices]
    if not hits:
        return "\n".join(["No matches.", *notes])
    # Results that would not fit the gateway's output cap are left to the next page whole,
    # rather than cut off mid-passage (a document's other passages count too).
    budget = call.settings.mcp.max_output_chars - sum(len(n) + 2 for n in notes) - 100
    lines: list[str] = []
    for number, hit in enumerate(hits, start=offset + 1):
        block = _hit(number, hit)
        if lines and sum(len(line) + 2 for line in lines) + len(block) > budget:
            break
        lines.append(block)
    shown = offset + len(lines)
    more = shown if len(found.hits) > shown and shown < _MAX_HITS else None
    return "\n\n".join(lines + notes) + render.more(more)


def _hit(number: int, hit: knowledge.SearchHit) -> str:
    body = passage_text(hit.text).strip()
    if len(body) > HIT_CHARS:
        body = body[:HIT_CHARS].rstrip() + " …"
        if len(_FENCE_LINE.findall(body)) % 2:  # cut inside a code block: close it
            body += "\n```"
    lines = [f"[{number}] {_where(hit.title, hit.heading_path)}"]
    # The range lets an agent read around the passage (knowledge_read's start and length).
    lines += [f"{hit.uri} (document {hit.document_id}) characters {hit.start}-{hit.end}", body]
    if hit.passages:
        lines.append("Also matching in this document:")
        lines += [
            f"- {_section(hit.title, p.heading_path) or '(top)'}: "
            + _short_snippet(p.snippet, ALSO_CHARS)
            for p in hit.passages
        ]
    return "\n".join(lines)


_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~)", re.MULTILINE)


def _short_snippet(snippet: str, width: int) -> str:
    """Return a snippet on one line within `width`, a bold or code span the cut went through
    left open nowhere (`**default**_**fac…`, not `**default**_**fac*…`)."""
    line = render.one_line(snippet, width)
    if not line.endswith("…") or line == " ".join(snippet.split()):
        return line
    cut = line[:-1].rstrip("*")
    for mark in ("**", "`"):
        if cut.count(mark) % 2:
            at = cut.rfind(mark)
            cut = cut[:at] + cut[at + len(mark) :]
    return cut + "…"


def _where(title: str, heading_path: list[str]) -> str:
    return " > ".join(filter(None, [title, _section(title, heading_path)]))


def _section(title: str, heading_path: list[str]) -> str:
    """The last two headings, a heading that repeats the title left out."""
    return " > ".join([h for h in heading_path if h.casefold() != title.casefold()][-2:])


async def knowledge_code_examples(
    call: Call,
    query: Query,
    language: Annotated[str | None, Field(description="e.g. python.", max_length=40)] = None,
    source: SourceArg = None,
    limit: Annotated[int, Field(ge=1, le=10)] = 3,
    project: OnlyProject = None,
) -> str:
    """Find code examples (code with the explanation around it)."""
    examples = await knowledge.code_examples(
        call.session,
        principal=call.principal,
        query=query,
        project=project,
        sources=await _source_ids(call, source, project),
        language=language,
        limit=limit,
    )
    if not examples:
        return "No code examples match."
    return "\n\n".join(_example(i, x) for i, x in enumerate(examples, start=1))


def _example(number: int, example: knowledge.CodeExampleRead) -> str:
    about = example.summary or render.one_line(example.context, 300)
    fence = "````" if "```" in example.code else "```"
    return (
        f"[{number}] {example.title} ({example.uri})\n{about}\n"
        f"{fence}{example.language or ''}\n{example.code.strip()}\n{fence}"
    )


async def knowledge_sources(call: Call, project: OnlyProject = None, cursor: Cursor = None) -> str:
    """List knowledge sources with their ingestion status."""
    offset = render.decode_cursor(cursor)
    sources = await knowledge.list_sources(call.session, principal=call.principal, project=project)
    page = sources[offset : offset + call.page_size]
    if not page:
        return "No sources. Add one with knowledge_add_source."
    lines = [_source_line(s) for s in page]
    nxt = offset + call.page_size if len(sources) > offset + call.page_size else None
    return "\n".join(lines) + render.more(nxt)


def _source_line(source: knowledge.SourceRead) -> str:
    counts = f"{source.document_count} docs, {source.chunk_count} chunks"
    error = f"; error: {render.one_line(source.last_error, 200)}" if source.last_error else ""
    return f"- {source.name} [{source.kind}, {source.status}] {counts}; id {source.id}{error}"


async def knowledge_read(
    call: Call,
    document: Annotated[str, Field(description="Document id, URL or path.", max_length=4000)],
    start: Annotated[int, Field(ge=0, description="First character.")] = 0,
    length: Annotated[int, Field(ge=1, le=100_000)] = 8000,
    source: SourceArg = None,
) -> str:
    """Read a document, or the `length` characters from `start`."""
    try:
        document_id, uri = uuid.UUID(document), None
    except ValueError:
        document_id, uri = None, document
    ids = await _source_ids(call, source, None) if uri else []
    doc = await knowledge.read_document(
        call.session,
        principal=call.principal,
        document_id=document_id,
        uri=uri,
        source_id=ids[0] if ids else None,
        start=start,
        length=length,
    )
    head = f"# {doc.title}\n{doc.uri} (characters {doc.start}-{doc.end} of {doc.total_chars})"
    tail = f"\nMore: start={doc.end}" if doc.end < doc.total_chars else ""
    return f"{head}\n\n{doc.content}{tail}"


async def knowledge_add_source(
    call: Call,
    location: Annotated[
        str, Field(description="URL, git URL or local directory.", max_length=4000)
    ],
    name: Annotated[str | None, Field(max_length=200)] = None,
    kind: Literal["web", "files", "git"] | None = None,
    project: ProjectArg = None,
) -> str:
    """Add a source and start ingesting it; returns the job id to poll with job_status."""
    if location.strip() == "upload":
        raise Invalid(
            "uploads need the API or the CLI (`devflow knowledge add <folder>`, run by a "
            "person); give knowledge_add_source a web or git URL, or a folder on the server"
        )
    data = knowledge.SourceCreate(
        location=location,
        kind=kind,
        name=name,
        project=project or await default_project_name(call.session, principal=call.principal),
    )
    source = await knowledge.add_source(
        call.session,
        principal=call.principal,
        data=data,
        settings=call.settings.section(KnowledgeSettings),
    )
    return f"Added source {source.name} (id {source.id}); ingestion job {source.job_id}."


async def _read_source(call: Call, source_id: str) -> str:
    found = await knowledge.find_source(call.session, principal=call.principal, ref=source_id)
    documents, total = await knowledge.list_documents(
        call.session, principal=call.principal, source_id=found.id, limit=call.page_size
    )
    lines = [_source_line(found), f"{total} documents; first {len(documents)}:"]
    lines += [f"- {d.title or d.uri}: {DOCUMENTS_URI.format(document_id=d.id)}" for d in documents]
    return "\n".join(lines)


async def _read_document(call: Call, document_id: str) -> str:
    try:
        key = uuid.UUID(document_id)
    except ValueError:
        raise Invalid(f"{document_id!r} is not a document id") from None
    doc = await knowledge.read_document(call.session, principal=call.principal, document_id=key)
    return f"# {doc.title}\n{doc.uri}\n\n{doc.content}"


async def _list(call: Call, offset: int, limit: int) -> list[mcp_types.Resource]:
    sources = await knowledge.list_sources(call.session, principal=call.principal)
    return [
        mcp_types.Resource(
            uri=SOURCES_URI.format(source_id=s.id),
            name=s.name,
            description=f"{s.kind} source, {s.status}, {s.document_count} documents",
            mime_type="text/markdown",
        )
        for s in sources[offset : offset + limit]
    ]


TOOLS = Contribution(
    tools=[
        ToolDef("knowledge_search", "Search project knowledge (docs, code).", knowledge_search),
        ToolDef("knowledge_code_examples", "Find code examples.", knowledge_code_examples),
        ToolDef("knowledge_sources", "List knowledge sources and status.", knowledge_sources),
        ToolDef("knowledge_read", "Read a document (or a range).", knowledge_read),
        ToolDef(
            "knowledge_add_source",
            "Add a URL, git repo or folder; starts ingestion.",
            knowledge_add_source,
            read_only=False,
        ),
    ],
    resources=[
        ResourceDef(SOURCES_URI, "knowledge-source", "A source and its documents.", _read_source),
        ResourceDef(DOCUMENTS_URI, "knowledge-document", "A document's text.", _read_document),
    ],
    list_resources=_list,
)
"""The knowledge domain's tools and resources for agents."""
