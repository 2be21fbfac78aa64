"""Hybrid search: BM25 over PostgreSQL full-text postings and pgvector HNSW, fused.

Keyword retrieval ORs the query's stemmed lexemes and ranks chunks by BM25 from the postings
table the chunk triggers keep (`_KEYWORD_SQL`). Semantic retrieval reads the partial HNSW index of
the current embedding model. Each returns `search_candidates` chunks with their scores; `fuse`
combines them by standardised scores (default) or reciprocal rank fusion.

The SQL is text, and every value a caller gives is a bound parameter. What is written into it is
fixed: the filter clauses of `_Scope` (chosen by which filters a search has, never holding a
value), the text-search configuration, BM25's constants, and the embedding model's name and
dimension, which come from the configuration and must be literal: a partial HNSW index is used
only when the planner sees its predicate's value (psycopg prepares a repeated statement, and a
generic plan with a parameter would read the whole table). `_model_literal` checks the name.
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import Invalid
from devflow.identity import require_project, visible_project_ids
from devflow.knowledge.models import TS_CONFIG
from devflow.knowledge.plaintext import MARK_END, MARK_START, clean_title, heading_text, snippet
from devflow.knowledge.ports import Embedder, Reranker
from devflow.knowledge.schemas import (
    CodeExampleRead,
    SearchHit,
    SearchPassage,
    SearchRequest,
    SearchResults,
)
from devflow.knowledge.settings import KnowledgeSettings

# Weights of the D, C, B, A labels. Chosen on SciFact's train split: body, headings and titles
# weighing the same ranked best (titles already count through their own occurrences).
_RANK_WEIGHTS = "{0.1, 1.0, 1.0, 1.0}"
_QUERY_TSQ = (
    "(SELECT string_agg(quote_literal(l), ' | ') FROM "  # noqa: S608 - fixed text (module docstring)
    f"unnest(tsvector_to_array(to_tsvector('{TS_CONFIG}', :q))) AS l)::tsquery"
)


@dataclass
class _Scope:
    project_ids: list[uuid.UUID] | None
    source_ids: list[uuid.UUID]
    content_types: list[str]
    languages: list[str]

    def where(self, alias: str, params: dict[str, Any], *, source: str = "source_id") -> str:
        """The project and source filters on table `alias`, whose source column is `source`."""
        clauses = []
        if self.project_ids is not None:
            clauses.append(f"{alias}.project_id = ANY(:project_ids)")
            params["project_ids"] = self.project_ids
        if self.source_ids:
            clauses.append(f"{alias}.{source} = ANY(:source_ids)")
            params["source_ids"] = self.source_ids
        return " AND ".join(clauses) or "TRUE"

    def posting_where(self, alias: str, params: dict[str, Any]) -> str:
        """Postings carry only their source: a project scope becomes the array of its sources,
        which PostgreSQL evaluates once and puts in the index condition on (lexeme, source_id)."""
        clauses = []
        if self.project_ids is not None:
            clauses.append(
                f"{alias}.source_id = ANY(ARRAY(SELECT id FROM knowledge_source "  # noqa: S608 - fixed text (module docstring)
                "WHERE project_id = ANY(:project_ids)))"
            )
            params["project_ids"] = self.project_ids
        if self.source_ids:
            clauses.append(f"{alias}.source_id = ANY(:source_ids)")
            params["source_ids"] = self.source_ids
        if filters := self._chunk_filters("c", params):
            clauses.append(
                f"EXISTS (SELECT 1 FROM knowledge_chunk c WHERE c.id = {alias}.chunk_id "  # noqa: S608 - fixed text (module docstring)
                f"AND {filters})"
            )
        return " AND ".join(clauses) or "TRUE"

    def chunk_where(self, alias: str, params: dict[str, Any]) -> str:
        where = self.where(alias, params)
        filters = self._chunk_filters(alias, params)
        return f"{where} AND {filters}" if filters else where

    def _chunk_filters(self, alias: str, params: dict[str, Any]) -> str:
        clauses = []
        if self.content_types:
            clauses.append(f"{alias}.content_type = ANY(:content_types)")
            params["content_types"] = self.content_types
        if self.languages:
            clauses.append(f"{alias}.language = ANY(:languages)")
            params["languages"] = self.languages
        return " AND ".join(clauses)


async def _scope(session: AsyncSession, principal: Principal, request: SearchRequest) -> _Scope:
    principal.require_scope(Scope.READ)
    project_ids = visible_project_ids(principal)
    if request.project is not None:
        project = await require_project(
            session, principal=principal, name=request.project, role=Role.READ
        )
        project_ids = [project.id]
    return _Scope(
        project_ids=project_ids,
        source_ids=list(request.sources),
        content_types=[c.lower() for c in request.content_types],
        languages=[lang.lower() for lang in request.languages],
    )


async def keyword_ranking(
    session: AsyncSession, *, query: str, scope: _Scope, limit: int, budget: int
) -> list[tuple[uuid.UUID, float]]:
    """Return (chunk id, BM25 score) pairs, best first, read from the postings (`_KEYWORD_SQL`)."""
    params: dict[str, Any] = {
        "q": query,
        "limit": limit,
        "budget": budget,
        "max_share": _COMMON_SHARE,
        "keep": _ALWAYS_KEEP,
        "max_terms": _MAX_TERMS,
    }
    where = scope.posting_where("p", params)
    rows = await session.execute(text(_KEYWORD_SQL.format(where=where)), params)
    return [(r[0], float(r[1])) for r in rows]


# BM25 over the postings the chunk triggers keep (migration 0007): per query term its IDF times
# the saturated term frequency normalised by chunk length; N, document frequencies and the average
# length come from `knowledge_lexeme`. A query's cost is the postings it reads, and the commonest
# terms have the longest lists and the lowest IDF. So terms are taken rarest first: the three
# rarest always, then others while they are held by at most a quarter of the chunks and the
# postings read stay within `budget` (the `search_posting_budget` setting), `max_terms` at most.
# k1 and b are Lucene's defaults.
_K1 = 1.2
_B = 0.75
_COMMON_SHARE = 0.25
_ALWAYS_KEEP = 3
_MAX_TERMS = 16
_KEYWORD_SQL = (
    "WITH stats AS (SELECT coalesce(max(df), 0)::float8 AS n, CASE WHEN max(df) > 0 "  # noqa: S608 - fixed text (module docstring)
    "THEN max(occurrences)::float8 / max(df) END AS avgdl FROM knowledge_lexeme "
    "WHERE lexeme = ''), "
    "terms AS (SELECT t.lexeme, coalesce(s.df, 0)::float8 AS df, st.n, st.avgdl FROM "
    f"unnest(tsvector_to_array(to_tsvector('{TS_CONFIG}', :q))) AS t(lexeme) "
    "LEFT JOIN knowledge_lexeme s ON s.lexeme = t.lexeme CROSS JOIN stats st), "
    "weighted AS (SELECT lexeme, df, avgdl, "
    "ln(1 + (greatest(n, df) - df + 0.5) / (df + 0.5)) AS idf, "
    "CASE WHEN n > 0 THEN df / n ELSE 0 END AS share, "
    "row_number() OVER (ORDER BY df, lexeme) AS rarity FROM terms), "
    "budgeted AS (SELECT *, sum(df) OVER (ORDER BY rarity) AS cumulative FROM weighted), "
    "picked AS (SELECT * FROM budgeted WHERE rarity <= :keep "
    "OR (share <= :max_share AND cumulative <= :budget) ORDER BY rarity LIMIT :max_terms) "
    f"SELECT p.chunk_id, sum(w.idf * p.tf * {_K1 + 1}::float8 / (p.tf + {_K1}::float8 * "
    f"({1 - _B}::float8 + {_B}::float8 * p.length / coalesce(w.avgdl, p.length)))) AS score "
    "FROM picked w JOIN knowledge_posting p ON p.lexeme = w.lexeme "
    "WHERE {where} GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT :limit"
)


async def semantic_ranking(
    session: AsyncSession,
    *,
    vector: list[float],
    model: str,
    dimension: int,
    scope: _Scope,
    limit: int,
) -> list[tuple[uuid.UUID, float]]:
    """Return (chunk id, cosine similarity) pairs under `model`, best first (its HNSW index)."""
    params: dict[str, Any] = {"v": _vector_literal(vector), "limit": limit}
    literal = _model_literal(model)
    dim = int(dimension)
    where = scope.where("e", params)
    join = ""
    if scope.content_types or scope.languages:
        join = "JOIN knowledge_chunk c ON c.id = e.chunk_id"
        where = scope.chunk_where("c", params) + " AND " + where
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, limit))}"))
    await session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    rows = await session.execute(
        text(
            f"SELECT e.chunk_id, 1 - ((e.vector::vector({dim})) <=> CAST(:v AS vector({dim}))) "  # noqa: S608 - fixed text (module docstring)
            f"FROM knowledge_embedding e {join} "
            f"JOIN knowledge_source s ON s.id = e.source_id "
            f"WHERE e.model = '{literal}' AND {where} "
            f"AND (s.embed_model IS NULL OR s.embed_model = '{literal}') "
            f"ORDER BY (e.vector::vector({dim})) <=> CAST(:v AS vector({dim})) "
            "LIMIT :limit"
        ),
        params,
    )
    return [(r[0], float(r[1])) for r in rows]


def _model_literal(model: str) -> str:
    """Return an embedding model's name as an SQL string literal (see the module docstring).

    Raises:
        Invalid: a name with characters no model name has.
    """
    if not _MODEL_NAME.fullmatch(model):
        raise Invalid(f"{model!r} is not an embedding model name DevFlow can index")
    return model


_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")


Scored = list[tuple[uuid.UUID, float]]


def fuse(
    rankings: list[tuple[Scored, float]], *, method: Literal["rrf", "zscore"] = "rrf", k: int = 60
) -> Scored:
    """Fuse scored rankings (best first) into one, best first; ties go to the smaller id.

    `rrf`: reciprocal rank fusion, `sum(weight / (k + rank))` with ranks from 1.
    `zscore`: a convex combination of each ranking's scores standardised over its own candidates,
    `sum(weight * (score - mean) / std)`; a chunk missing from a ranking counts as its lowest
    candidate there. Unlike ranks, standardised scores keep how far apart candidates are: a
    strong keyword match is not levelled with a weak one just above it.
    """
    scores: dict[uuid.UUID, float] = {}
    if method == "rrf":
        for ranked, weight in rankings:
            for rank, (chunk_id, _) in enumerate(ranked, start=1):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    else:
        standardised = [(_standardise(ranked), weight) for ranked, weight in rankings if ranked]
        every = {chunk_id for z, _ in standardised for chunk_id in z}
        for z, weight in standardised:
            floor = min(z.values())
            for chunk_id in every:
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * z.get(chunk_id, floor)
    return sorted(scores.items(), key=lambda item: (-item[1], str(item[0])))


def _standardise(ranked: Scored) -> dict[uuid.UUID, float]:
    values = [score for _, score in ranked]
    mean = statistics.fmean(values)
    std = statistics.pstdev(values, mu=mean) or 1.0
    return {chunk_id: (score - mean) / std for chunk_id, score in ranked}


async def search(
    session: AsyncSession,
    *,
    principal: Principal,
    request: SearchRequest,
    settings: KnowledgeSettings,
    embedder: Embedder | None = None,
    reranker: Reranker | None = None,
) -> SearchResults:
    """Search the chunks the caller can read.

    `embedder=None` turns semantic retrieval off (hybrid then equals keyword; a notice says so).

    Raises:
        NotFound, PermissionDenied: `request.project` is not one the caller can read.
    """
    notices: list[str] = []
    vector = None
    if request.mode in {"hybrid", "semantic"}:
        if embedder is None:
            notices.append("semantic search is not available: no embedder is configured")
        else:  # before the first statement: a remote model answers with no connection held
            vector = await embedder.embed_query(request.query)
    scope = await _scope(session, principal, request)
    candidates = max(settings.search_candidates, request.limit)
    keyword: Scored = []
    semantic: Scored = []
    if request.mode in {"hybrid", "keyword"}:
        keyword = await keyword_ranking(
            session,
            query=request.query,
            scope=scope,
            limit=candidates,
            budget=settings.search_posting_budget,
        )
    if embedder is not None and vector is not None:
        semantic = await semantic_ranking(
            session,
            vector=vector,
            model=embedder.model,
            dimension=embedder.dimension,
            scope=scope,
            limit=candidates,
        )
        notices += await _vector_notices(session, scope, embedder.model, request.mode)
    if request.mode == "keyword":
        fused = keyword
    elif request.mode == "semantic":
        fused = semantic
    else:
        fused = fuse(
            [(keyword, settings.keyword_weight), (semantic, settings.semantic_weight)],
            method=settings.fusion,
            k=settings.rrf_k,
        )
    ranks = _Ranks(keyword, semantic, relevance(fused))
    hits = await _passages(session, request, fused, ranks, reranker)
    if request.group == "documents":
        grouped = group_by_document(
            hits, lambda h: h.document_id, limit=request.limit, attached=ATTACHED_PASSAGES
        )
        hits = [_with_passages(group) for group in grouped]
    return SearchResults(
        query=request.query,
        mode=request.mode,
        group=request.group,
        hits=hits[: request.limit],
        notices=notices,
    )


async def _passages(
    session: AsyncSession,
    request: SearchRequest,
    fused: Scored,
    ranks: _Ranks,
    reranker: Reranker | None,
) -> list[SearchHit]:
    """Read the passages a search shows, best first (re-ranked when asked)."""
    if reranker is not None and request.rerank:
        hits = await _hydrate(session, request.query, fused[: request.limit * 3], ranks)
        if hits:
            scores = await reranker.rerank(request.query, [h.text for h in hits])
            shown = relevance([(h.chunk_id, float(s)) for h, s in zip(hits, scores, strict=True)])
            for hit in hits:
                hit.score = shown[hit.chunk_id]
            hits.sort(key=lambda h: -h.score)
        return hits
    if request.group == "passages":
        return await _hydrate(session, request.query, fused[: request.limit], ranks)
    # Grouped by documents: the chunks of the first `limit` documents are read, and no others.
    document_of = await _documents_of(session, [cid for cid, _ in fused])
    groups = group_by_document(
        [p for p in fused if p[0] in document_of],
        lambda p: document_of[p[0]],
        limit=request.limit,
        attached=ATTACHED_PASSAGES,
    )
    return await _hydrate(session, request.query, [p for g in groups for p in g], ranks)


# Grouped by documents, a result carries at most this many other passages of its document.
ATTACHED_PASSAGES = 3

_T = TypeVar("_T")


def group_by_document(
    ranked: list[_T], document_of: Callable[[_T], uuid.UUID], *, limit: int, attached: int
) -> list[list[_T]]:
    """Group passages (best first) by document: the first `limit` documents, in the order of
    their best passage, each with up to `attached` more of its passages in rank order."""
    groups: dict[uuid.UUID, list[_T]] = {}
    for item in ranked:
        document = document_of(item)
        group = groups.get(document)
        if group is None:
            if len(groups) < limit:
                groups[document] = [item]
        elif len(group) <= attached:
            group.append(item)
    return list(groups.values())


def relevance(ranked: Scored) -> dict[uuid.UUID, float]:
    """Scores shown to callers: each ranking's own scores scaled to 0-1 over its candidates.

    A fused score is a sum of standardised scores (negative for a candidate below the mean), BM25
    has no upper bound: neither reads as a relevance. Scaled from the weakest candidate (0) to the
    best (1), a score says how a result compares with the others of the same search. The scaling
    is linear, so standardising the shown scores again (as `fuse` does) gives what the raw ones
    would.
    """
    if not ranked:
        return {}
    values = [score for _, score in ranked]
    low, high = min(values), max(values)
    span = high - low
    return {cid: round((score - low) / span, 6) if span else 1.0 for cid, score in ranked}


def _with_passages(group: list[SearchHit]) -> SearchHit:
    best, *others = group
    passages = [SearchPassage.model_validate(hit, from_attributes=True) for hit in others]
    return best.model_copy(update={"passages": passages})


async def _vector_notices(session: AsyncSession, scope: _Scope, model: str, mode: str) -> list[str]:
    """Say which sources in scope lack vectors: being embedded, or re-embedded with `model`."""
    params: dict[str, Any] = {"model": model}
    where = scope.where("s", params, source="id")
    rows = await session.execute(
        text(
            "SELECT s.name, s.embed_model, s.status FROM knowledge_source s "  # noqa: S608 - see module
            f"WHERE {where} AND (s.status = 'embedding' "
            "OR (s.embed_model IS NOT NULL AND s.embed_model <> :model))"
        ),
        params,
    )
    instead = "are not found at all" if mode == "semantic" else "are found by keywords only"
    notices = []
    for r in rows:
        if r.embed_model is not None and r.embed_model != model:
            notices.append(
                f"source {r.name!r} is being re-embedded with {model} (it has {r.embed_model} "
                f"vectors); until that finishes its passages {instead}"
            )
        else:
            notices.append(
                f"source {r.name!r} is still being embedded: until its vectors are stored, its "
                f"passages without one {instead} (`devflow knowledge show` tells the progress)"
            )
    return notices


class _Ranks:
    """Where each candidate stood in each retriever, and the score shown for it."""

    def __init__(self, keyword: Scored, semantic: Scored, shown: dict[uuid.UUID, float]) -> None:
        self.keyword = {cid: i for i, (cid, _) in enumerate(keyword, start=1)}
        self.semantic = {cid: i for i, (cid, _) in enumerate(semantic, start=1)}
        self.shown = shown


async def _documents_of(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not ids:
        return {}
    rows = await session.execute(
        text("SELECT id, document_id FROM knowledge_chunk WHERE id = ANY(:ids)"), {"ids": ids}
    )
    return {r.id: r.document_id for r in rows}


async def _hydrate(
    session: AsyncSession, query: str, fused: list[tuple[uuid.UUID, float]], ranks: _Ranks
) -> list[SearchHit]:
    if not fused:
        return []
    ids = [cid for cid, _ in fused]
    # The whole passage comes back with the matched words marked; `plaintext.snippet` cuts it
    # and bolds only the words outside code and URLs.
    rows = await session.execute(
        text(
            f"WITH q AS (SELECT {_QUERY_TSQ} AS tsq) "  # noqa: S608 - fixed text (module docstring)
            "SELECT c.id, c.document_id, c.source_id, c.title, c.heading_path, c.text, "
            "c.start_offset, c.end_offset, c.content_type, c.language, d.uri, "
            "CASE WHEN q.tsq IS NOT NULL AND c.tsv @@ q.tsq THEN ts_headline("
            f"'{TS_CONFIG}', c.text, q.tsq, 'StartSel={MARK_START}, StopSel={MARK_END}, "
            "HighlightAll=true') END AS marked "
            "FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id, q "
            "WHERE c.id = ANY(:ids)"
        ),
        {"q": query, "ids": ids},
    )
    by_id = {r.id: r for r in rows}
    hits = []
    for cid, _ in fused:
        row = by_id.get(cid)
        if row is None:  # deleted between the two queries
            continue
        title, headings = _shown(row.title, row.heading_path)
        hits.append(
            SearchHit(
                chunk_id=row.id,
                document_id=row.document_id,
                source_id=row.source_id,
                title=title,
                uri=row.uri,
                heading_path=headings,
                snippet=snippet(row.marked or row.text),
                text=row.text,
                start=row.start_offset,
                end=row.end_offset,
                score=ranks.shown.get(cid, 0.0),
                keyword_rank=ranks.keyword.get(cid),
                semantic_rank=ranks.semantic.get(cid),
                content_type=row.content_type,
                language=row.language,
            )
        )
    return hits


def _shown(title: str, heading_path: list[str]) -> tuple[str, list[str]]:
    """Return a row's title and headings as results show them: rows stored before titles and
    headings were kept as plain text are cleaned here (a plain one is left as it is)."""
    headings = [heading_text(h) or h for h in heading_path]
    return clean_title(title, first_heading=headings[0] if headings else None), headings


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


async def code_examples(
    session: AsyncSession,
    *,
    principal: Principal,
    query: str,
    project: str | None = None,
    sources: list[uuid.UUID] | None = None,
    language: str | None = None,
    limit: int = 5,
) -> list[CodeExampleRead]:
    """Search the code-example index (summary, surrounding explanation and code).

    Raises:
        Invalid: an empty or over-long query.
        NotFound, PermissionDenied: `project`.
    """
    try:
        request = SearchRequest(
            query=query,
            project=project,
            sources=sources or [],
            languages=[language] if language else [],
            limit=max(1, min(limit, 50)),
        )
    except ValidationError as exc:  # the query, as said by its validator
        raise Invalid(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    scope = await _scope(session, principal, request)
    params: dict[str, Any] = {"q": request.query, "limit": request.limit}
    where = scope.where("x", params)
    if scope.languages:
        where += " AND x.language = ANY(:languages)"
        params["languages"] = scope.languages
    rows = await session.execute(
        text(
            f"WITH q AS (SELECT {_QUERY_TSQ} AS tsq) "  # noqa: S608 - fixed text (module docstring)
            "SELECT x.id, x.document_id, x.source_id, x.language, x.heading_path, x.code, "
            "x.context, x.summary, d.title, d.uri, "
            f"ts_rank('{_RANK_WEIGHTS}', x.tsv, q.tsq, 1) AS score "
            "FROM knowledge_code_example x JOIN knowledge_document d ON d.id = x.document_id, q "
            f"WHERE q.tsq IS NOT NULL AND x.tsv @@ q.tsq AND {where} "
            "ORDER BY score DESC, x.id LIMIT :limit"
        ),
        params,
    )
    examples = []
    for r in rows:
        title, headings = _shown(r.title, r.heading_path)
        examples.append(
            CodeExampleRead(
                id=r.id,
                document_id=r.document_id,
                source_id=r.source_id,
                title=title,
                uri=r.uri,
                language=r.language,
                heading_path=headings,
                code=r.code,
                context=r.context,
                summary=r.summary,
                score=round(float(r.score), 6),
            )
        )
    return examples


__all__ = [
    "ATTACHED_PASSAGES",
    "code_examples",
    "fuse",
    "group_by_document",
    "keyword_ranking",
    "relevance",
    "search",
    "semantic_ranking",
]
