"""Knowledge hub: sources, crawling and ingestion, chunking, embeddings, hybrid search, answers.

Other domains and the surfaces (API, CLI, MCP tools) use only these names. Every function takes
the session and the caller's `Principal` and checks permissions itself; none commits.

- `add_source`, `list_sources`, `get_source`, `find_source`, `refresh_source`, `remove_source`
- `upload_files` (into a `files` source), `list_documents`, `read_document`
- `search` (hybrid / keyword / semantic), `code_examples`
- `answer_stream` (retrieve, then a cited answer through `devflow.llm`, as events)
- `get_embedder` (the configured `Embedder`, made once per process)
"""

from devflow.knowledge.answer import NOTHING_FOUND, AnswerEvent, answer_stream
from devflow.knowledge.embedding import get_embedder
from devflow.knowledge.ports import Embedder, Reranker
from devflow.knowledge.retrieval import code_examples, search
from devflow.knowledge.schemas import (
    AnswerRequest,
    Citation,
    CodeExampleRead,
    DocumentContent,
    DocumentRead,
    SearchHit,
    SearchRequest,
    SearchResults,
    SourceCreate,
    SourceRead,
    SourceSettings,
)
from devflow.knowledge.service import (
    UploadOutcome,
    add_source,
    find_source,
    get_source,
    list_documents,
    list_sources,
    read_document,
    refresh_source,
    remove_source,
    upload_files,
)

__all__ = [
    "NOTHING_FOUND",
    "AnswerEvent",
    "AnswerRequest",
    "Citation",
    "CodeExampleRead",
    "DocumentContent",
    "DocumentRead",
    "Embedder",
    "Reranker",
    "SearchHit",
    "SearchRequest",
    "SearchResults",
    "SourceCreate",
    "SourceRead",
    "SourceSettings",
    "UploadOutcome",
    "add_source",
    "answer_stream",
    "code_examples",
    "find_source",
    "get_embedder",
    "get_source",
    "list_documents",
    "list_sources",
    "read_document",
    "refresh_source",
    "remove_source",
    "search",
    "upload_files",
]
