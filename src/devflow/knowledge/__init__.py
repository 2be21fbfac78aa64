"""Knowledge hub: sources, crawling and ingestion, chunking, embeddings, hybrid search, answers.

Other domains and the surfaces (API, CLI, MCP tools) use only these names. Every function takes
the session and the caller's `Principal` and checks permissions itself; none commits.

- `add_source`, `list_sources`, `get_source`, `find_source`, `refresh_source`, `remove_source`
- `upload_files` (into an upload source), `retain_files` (the rest of a re-sync),
  `list_documents`, `read_document`
- `search` (hybrid / keyword / semantic), `code_examples`; `fuse` and `relevance`, how it merges
  rankings and scales the scores it shows, for other domains' searches to match it
- `plan_answer` (retrieve), then `answer_events` (a cited answer through `devflow.llm`, as
  events, holding no database connection)
- `EMBEDDER`: the process's configured `Embedder`, among its services
- `DOMAIN`: the manifest (routes, jobs, commands, tools, settings, models)
"""

from devflow.core.domain import Domain, lazy
from devflow.core.services import Provider
from devflow.knowledge.answer import (
    NOTHING_FOUND,
    AnswerEvent,
    AnswerPlan,
    answer_events,
    plan_answer,
)
from devflow.knowledge.embedding import close_embedder, make_embedder
from devflow.knowledge.ports import EMBEDDER, Embedder, Reranker
from devflow.knowledge.retrieval import code_examples, fuse, relevance, search
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
    add_source,
    find_source,
    get_source,
    list_documents,
    list_sources,
    read_document,
    refresh_source,
    remove_source,
)
from devflow.knowledge.settings import KnowledgeSettings
from devflow.knowledge.uploads import UploadOutcome, retain_files, upload_files

DOMAIN = Domain(
    name="knowledge",
    settings=KnowledgeSettings,
    provides=(Provider(EMBEDDER, make_embedder, close_embedder),),
    routers=lazy("devflow.knowledge.api:ROUTERS"),
    body_limit=lazy("devflow.knowledge.api:body_limit"),
    jobs=lazy("devflow.knowledge.jobs:blueprint"),
    cli=lazy("devflow.knowledge.cli:register"),
    tools=lazy("devflow.knowledge.tools:TOOLS"),
    models=lazy("devflow.knowledge.models"),
)

__all__ = [
    "DOMAIN",
    "EMBEDDER",
    "NOTHING_FOUND",
    "AnswerEvent",
    "AnswerPlan",
    "AnswerRequest",
    "Citation",
    "CodeExampleRead",
    "DocumentContent",
    "DocumentRead",
    "Embedder",
    "KnowledgeSettings",
    "Reranker",
    "SearchHit",
    "SearchRequest",
    "SearchResults",
    "SourceCreate",
    "SourceRead",
    "SourceSettings",
    "UploadOutcome",
    "add_source",
    "answer_events",
    "code_examples",
    "find_source",
    "fuse",
    "get_source",
    "list_documents",
    "list_sources",
    "plan_answer",
    "read_document",
    "refresh_source",
    "relevance",
    "remove_source",
    "retain_files",
    "search",
    "upload_files",
]
