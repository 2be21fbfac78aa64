"""HTTP routes of the knowledge domain, under /api/v1/knowledge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Query, UploadFile, status
from fastapi.responses import StreamingResponse

from devflow.core.config import Settings
from devflow.core.db import unit_of_work
from devflow.core.errors import DevflowError
from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_CHARS, MAX_OFFSET, Page
from devflow.knowledge import answer as answers
from devflow.knowledge import retrieval as searching
from devflow.knowledge import service, uploads
from devflow.knowledge.ports import EMBEDDER
from devflow.knowledge.schemas import (
    AnswerRead,
    AnswerRequest,
    Citation,
    CodeExampleRead,
    DocumentContent,
    DocumentRead,
    FilesRetain,
    FilesRetained,
    SearchRequest,
    SearchResults,
    SourceCreate,
    SourceRead,
)
from devflow.knowledge.settings import KnowledgeSettings
from devflow.llm import LLM_CLIENT

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"])


@router.get("/sources", response_model=Page[SourceRead])
async def list_sources(
    session: SessionDep,
    principal: PrincipalDep,
    project: str | None = Query(None, description="One project (default: all you can read)."),
) -> Page[SourceRead]:
    """List knowledge sources with their status and counts."""
    items = await service.list_sources(session, principal=principal, project=project)
    return Page(items=items, total=len(items))


@router.post("/sources", response_model=SourceRead, status_code=status.HTTP_201_CREATED)
async def add_source(
    data: SourceCreate, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> SourceRead:
    """Add a web site, directory, git repository or upload source; its ingestion is queued."""
    return await service.add_source(
        session,
        principal=principal,
        data=data,
        settings=services.settings.section(KnowledgeSettings),
    )


@router.get("/sources/{source_id}", response_model=SourceRead)
async def show_source(
    source_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> SourceRead:
    """Show a source: status, counts (discovered, fetched, chunked, embedded, failed), job."""
    return await service.get_source(session, principal=principal, source_id=source_id)


@router.post("/sources/{source_id}/refresh", response_model=SourceRead)
async def refresh_source(
    source_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> SourceRead:
    """Queue a refresh; unchanged pages are neither re-fetched nor re-embedded."""
    return await service.refresh_source(session, principal=principal, source_id=source_id)


@router.delete("/sources/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_source(source_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> None:
    """Delete a source with everything indexed from it."""
    await service.remove_source(session, principal=principal, source_id=source_id)


@router.get("/sources/{source_id}/documents", response_model=Page[DocumentRead])
async def list_documents(
    source_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(50, ge=1, le=500),
    failed: bool = Query(False, description="Only documents with an error."),
) -> Page[DocumentRead]:
    """List a source's documents with their per-document errors."""
    items, total = await service.list_documents(
        session,
        principal=principal,
        source_id=source_id,
        offset=offset,
        limit=limit,
        failed_only=failed,
    )
    return Page(items=items, total=total)


@router.post("/sources/{source_id}/files")
async def upload_files(
    source_id: uuid.UUID,
    files: list[UploadFile],
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, object]:
    """Upload files (multipart, field `files`) into a files source; each succeeds or fails alone."""
    # The request's size was checked by web.middleware.RequestGuard (see `body_limit`) before
    # FastAPI parsed the form.
    settings = services.settings.section(KnowledgeSettings)
    received: list[tuple[str, bytes]] = []
    for upload in files:
        # Read one byte past the per-file limit: enough to know it is too large.
        data = await upload.read(settings.max_document_bytes + 1)
        received.append((upload.filename or "", data))
    outcomes = await uploads.upload_files(
        session, principal=principal, source_id=source_id, files=received, settings=settings
    )
    return {
        "files": [
            {
                "filename": o.filename,
                "status": o.status,
                "document_id": str(o.document_id) if o.document_id else None,
                "chunks": o.chunks,
                "error": o.error,
            }
            for o in outcomes
        ]
    }


@router.post("/sources/{source_id}/files/retain", response_model=FilesRetained)
async def retain_files(
    source_id: uuid.UUID, data: FilesRetain, session: SessionDep, principal: PrincipalDep
) -> FilesRetained:
    """Remove the files of an upload source that are not named (after uploading them again)."""
    removed = await uploads.retain_files(
        session, principal=principal, source_id=source_id, names=data.files, origin=data.origin
    )
    return FilesRetained(removed=removed)


@router.get("/documents/{document_id}", response_model=DocumentContent)
async def read_document(
    document_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    start: int = Query(0, ge=0, le=MAX_CHARS, description="First character."),
    length: int | None = Query(
        None, ge=1, le=MAX_CHARS, description="Characters to return (default: all)."
    ),
) -> DocumentContent:
    """Read a document's Markdown, whole or a range of it."""
    return await service.read_document(
        session, principal=principal, document_id=document_id, start=start, length=length
    )


@router.get("/documents", response_model=DocumentContent)
async def read_document_by_uri(
    session: SessionDep,
    principal: PrincipalDep,
    uri: str = Query(description="The document's URL or path."),
    source_id: uuid.UUID | None = Query(None),
    start: int = Query(0, ge=0, le=MAX_CHARS),
    length: int | None = Query(None, ge=1, le=MAX_CHARS),
) -> DocumentContent:
    """Read a document found by its URL or path."""
    return await service.read_document(
        session, principal=principal, uri=uri, source_id=source_id, start=start, length=length
    )


@router.post("/search", response_model=SearchResults)
async def search(
    data: SearchRequest, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> SearchResults:
    """Search: hybrid (full-text + vectors, fused), keyword or semantic; with filters."""
    # The caller is authenticated apart, and search embeds the query before its first
    # statement: an embeddings API answers while this request holds no database connection.
    embedder = None if data.mode == "keyword" else services.get(EMBEDDER)
    return await searching.search(
        session,
        principal=principal,
        request=data,
        settings=services.settings.section(KnowledgeSettings),
        embedder=embedder,
    )


@router.get("/code-examples", response_model=list[CodeExampleRead])
async def code_examples(
    session: SessionDep,
    principal: PrincipalDep,
    q: str = Query(description="What the code should do."),
    project: str | None = Query(None),
    source_id: list[uuid.UUID] = Query(default_factory=list),
    language: str | None = Query(None),
    limit: int = Query(5, ge=1, le=50),
) -> list[CodeExampleRead]:
    """Search the code examples (code blocks with their language and explanation)."""
    return await searching.code_examples(
        session,
        principal=principal,
        query=q,
        project=project,
        sources=source_id,
        language=language,
        limit=limit,
    )


@router.post(
    "/answer",
    response_model=AnswerRead,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def answer(
    data: AnswerRequest, principal: PrincipalDep, services: ServicesDep
) -> StreamingResponse | AnswerRead:
    """Answer a question from the knowledge base with numbered citations.

    With `stream` (default) the answer is Server-Sent Events: `citations`, then `delta` pieces,
    then `done` (the whole answer and the citations it used); otherwise one JSON body.
    """
    settings = services.settings.section(KnowledgeSettings)
    # Retrieval in a unit of work of its own: no connection is held while the model answers.
    async with unit_of_work(services.sessions) as session:
        plan = await answers.plan_answer(
            session,
            principal=principal,
            request=data,
            settings=settings,
            embedder=services.get(EMBEDDER),
        )
    events = answers.answer_events(plan, settings=settings, llm=services.get(LLM_CLIENT))
    if not data.stream:
        done: dict[str, object] = {}
        async for event in events:
            if event.type == "done":
                done = event.data
        return AnswerRead.model_validate(done)
    first = await anext(events)

    async def body() -> AsyncIterator[bytes]:
        try:
            yield _sse(first.type, first.data)
            async for event in events:
                yield _sse(event.type, event.data)
        except DevflowError as exc:
            yield _sse("error", {"code": exc.code, "status": exc.status, "message": exc.message})

    return StreamingResponse(body(), media_type="text/event-stream")


def body_limit(settings: Settings, path: str) -> int | None:
    """Return the largest request body the knowledge routes accept on `path` (None: default)."""
    if path.startswith(router.prefix + "/sources/") and path.endswith(("/files", "/retain")):
        return settings.section(KnowledgeSettings).max_upload_bytes
    return None


def _sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


__all__ = ["Citation", "router"]


ROUTERS = (router,)
"""The routers this module serves (the domain manifest names them)."""
