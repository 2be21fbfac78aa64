# ruff: noqa: S608 - SQL is assembled from constants and escaped literals; values are bound
"""Hybrid search: PostgreSQL full-text and pgvector HNSW, fused with reciprocal rank fusion.

Keyword retrieval ORs the query's stemmed terms (an AND of every word of a sentence-long query
would find almost nothing) and ranks with `ts_rank` over the weighted title/heading/body vector.
Semantic retrieval reads the partial HNSW index of the current embedding model. Each returns
`search_candidates` chunks; fusion scores a chunk `sum(weight / (rrf_k + rank))`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal, Role, Scope
from devflow.core.config import KnowledgeSettings
from devflow.identity import require_project, visible_project_ids
from devflow.knowledge.models import TS_CONFIG
from devflow.knowledge.ports import Embedder, Reranker
from devflow.knowledge.schemas import CodeExampleRead, SearchHit, SearchRequest, SearchResults

# Weights of the D, C, B, A labels. Chosen on SciFact's train split: body, headings and titles
# weighing the same ranked best (titles already count through their own occurrences).
_RANK_WEIGHTS = "{0.1, 1.0, 1.0, 1.0}"
_QUERY_TSQ = (
    "(SELECT string_agg(quote_literal(l), ' | ') FROM "
    f"unnest(tsvector_to_array(to_tsvector('{TS_CONFIG}', :q))) AS l)::tsquery"
)


@dataclass
class _Scope:
    project_ids: list[uuid.UUID] | None
    source_ids: list[uuid.UUID]
    content_types: list[str]
    languages: list[str]

    def where(self, alias: str, params: dict[str, Any]) -> str:
        clauses = []
        if self.project_ids is not None:
            clauses.append(f"{alias}.project_id = ANY(:project_ids)")
            params["project_ids"] = self.project_ids
        if self.source_ids:
            clauses.append(f"{alias}.source_id = ANY(:source_ids)")
            params["source_ids"] = self.source_ids
        return " AND ".join(clauses) or "TRUE"

    def chunk_where(self, alias: str, params: dict[str, Any]) -> str:
        clauses = [self.where(alias, params)]
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
    session: AsyncSession, *, query: str, scope: _Scope, limit: int
) -> list[uuid.UUID]:
    """Return chunk ids ranked by full-text relevance (IDF-weighted, see `_KEYWORD_SQL`)."""
    params: dict[str, Any] = {
        "q": query,
        "limit": limit,
        "max_share": _COMMON_SHARE,
        "keep": _ALWAYS_KEEP,
        "max_terms": _MAX_TERMS,
    }
    where = scope.chunk_where("c", params)
    rows = await session.execute(text(_KEYWORD_SQL.replace("{where}", where)), params)
    return [r[0] for r in rows]


# BM25-style ranking on PostgreSQL full-text search: each query term's own `ts_rank` (which
# already saturates with repeated occurrences) times its inverse document frequency, summed.
# Terms held by more than a quarter of the chunks add little and cost most, so only the rarest
# few of them are kept; long queries keep their `max_terms` rarest terms.
_COMMON_SHARE = 0.25
_ALWAYS_KEEP = 3
_MAX_TERMS = 16
_KEYWORD_SQL = (
    "WITH n AS (SELECT coalesce((SELECT df FROM knowledge_lexeme WHERE lexeme = ''), 0) AS n), "
    "terms AS (SELECT t.lexeme, coalesce(s.df, 0) AS df, n.n FROM "
    f"unnest(tsvector_to_array(to_tsvector('{TS_CONFIG}', :q))) AS t(lexeme) "
    "LEFT JOIN knowledge_lexeme s ON s.lexeme = t.lexeme CROSS JOIN n), "
    "weighted AS (SELECT lexeme, quote_literal(lexeme)::tsquery AS tsq, "
    "ln(1 + (greatest(n, df) - df + 0.5) / (df + 0.5)) AS idf, "
    "CASE WHEN n > 0 THEN df::float / n ELSE 0 END AS share, "
    "row_number() OVER (ORDER BY df, lexeme) AS rarity FROM terms), "
    "picked AS (SELECT * FROM weighted WHERE share <= :max_share OR rarity <= :keep "
    "ORDER BY rarity LIMIT :max_terms) "
    f"SELECT c.id FROM picked p JOIN knowledge_chunk c ON c.tsv @@ p.tsq "
    "WHERE {where} GROUP BY c.id "
    f"ORDER BY sum(p.idf * ts_rank('{_RANK_WEIGHTS}', c.tsv, p.tsq, 0)) DESC, c.id "
    "LIMIT :limit"
)


async def semantic_ranking(
    session: AsyncSession,
    *,
    vector: list[float],
    model: str,
    dimension: int,
    scope: _Scope,
    limit: int,
) -> list[uuid.UUID]:
    """Return chunk ids ranked by vector similarity under `model` (its partial HNSW index)."""
    params: dict[str, Any] = {"v": _vector_literal(vector), "limit": limit}
    literal = model.replace("'", "''")
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
            f"SELECT e.chunk_id FROM knowledge_embedding e {join} "
            f"JOIN knowledge_source s ON s.id = e.source_id "
            f"WHERE e.model = '{literal}' AND {where} "
            f"AND (s.embed_model IS NULL OR s.embed_model = '{literal}') "
            f"ORDER BY (e.vector::vector({dim})) <=> CAST(:v AS vector({dim})) "
            "LIMIT :limit"
        ),
        params,
    )
    return [r[0] for r in rows]


def fuse(rankings: list[tuple[list[uuid.UUID], float]], *, k: int) -> list[tuple[uuid.UUID, float]]:
    """Reciprocal rank fusion: sum `weight / (k + rank)` over the rankings (rank from 1)."""
    scores: dict[uuid.UUID, float] = {}
    for ids, weight in rankings:
        for rank, chunk_id in enumerate(ids, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], str(item[0])))


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
    scope = await _scope(session, principal, request)
    notices: list[str] = []
    candidates = max(settings.search_candidates, request.limit)
    keyword: list[uuid.UUID] = []
    semantic: list[uuid.UUID] = []
    if request.mode in {"hybrid", "keyword"}:
        keyword = await keyword_ranking(session, query=request.query, scope=scope, limit=candidates)
    if request.mode in {"hybrid", "semantic"}:
        if embedder is None:
            notices.append("semantic search is not available: no embedder is configured")
        else:
            vector = await embedder.embed_query(request.query)
            semantic = await semantic_ranking(
                session,
                vector=vector,
                model=embedder.model,
                dimension=embedder.dimension,
                scope=scope,
                limit=candidates,
            )
            notices += await _model_notices(session, scope, embedder.model)
    if request.mode == "keyword":
        fused = [(cid, 1.0 / (settings.rrf_k + i)) for i, cid in enumerate(keyword, start=1)]
    elif request.mode == "semantic":
        fused = [(cid, 1.0 / (settings.rrf_k + i)) for i, cid in enumerate(semantic, start=1)]
    else:
        fused = fuse(
            [(keyword, settings.keyword_weight), (semantic, settings.semantic_weight)],
            k=settings.rrf_k,
        )
    top = fused[: request.limit * 3 if reranker is not None and request.rerank else request.limit]
    hits = await _hydrate(session, request.query, top, keyword, semantic)
    if reranker is not None and request.rerank and hits:
        scores = await reranker.rerank(request.query, [h.text for h in hits])
        for hit, score in zip(hits, scores, strict=True):
            hit.score = float(score)
        hits.sort(key=lambda h: -h.score)
    return SearchResults(
        query=request.query, mode=request.mode, hits=hits[: request.limit], notices=notices
    )


async def _model_notices(session: AsyncSession, scope: _Scope, model: str) -> list[str]:
    params: dict[str, Any] = {"model": model}
    where = scope.where("s", params).replace("s.source_id", "s.id")
    rows = await session.execute(
        text(
            "SELECT s.name, s.embed_model FROM knowledge_source s "
            f"WHERE {where} AND s.embed_model IS NOT NULL AND s.embed_model <> :model"
        ),
        params,
    )
    return [
        f"source {r.name!r} is being re-embedded with {model} (it has {r.embed_model} vectors); "
        "until that finishes it is found by keywords only"
        for r in rows
    ]


async def _hydrate(
    session: AsyncSession,
    query: str,
    fused: list[tuple[uuid.UUID, float]],
    keyword: list[uuid.UUID],
    semantic: list[uuid.UUID],
) -> list[SearchHit]:
    if not fused:
        return []
    ids = [cid for cid, _ in fused]
    rows = await session.execute(
        text(
            f"WITH q AS (SELECT {_QUERY_TSQ} AS tsq) "
            "SELECT c.id, c.document_id, c.source_id, c.title, c.heading_path, c.text, "
            "c.content_type, c.language, d.uri, "
            "CASE WHEN q.tsq IS NOT NULL AND c.tsv @@ q.tsq THEN ts_headline("
            f"'{TS_CONFIG}', c.text, q.tsq, 'StartSel=**, StopSel=**, MaxWords=40, "
            'MinWords=15, MaxFragments=2, FragmentDelimiter=" … "\') END AS snippet '
            "FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id, q "
            "WHERE c.id = ANY(:ids)"
        ),
        {"q": query, "ids": ids},
    )
    by_id = {r.id: r for r in rows}
    keyword_rank = {cid: i for i, cid in enumerate(keyword, start=1)}
    semantic_rank = {cid: i for i, cid in enumerate(semantic, start=1)}
    hits = []
    for cid, score in fused:
        row = by_id.get(cid)
        if row is None:  # deleted between the two queries
            continue
        hits.append(
            SearchHit(
                chunk_id=row.id,
                document_id=row.document_id,
                source_id=row.source_id,
                title=row.title,
                uri=row.uri,
                heading_path=list(row.heading_path),
                snippet=row.snippet or _lead(row.text),
                text=row.text,
                score=round(score, 6),
                keyword_rank=keyword_rank.get(cid),
                semantic_rank=semantic_rank.get(cid),
                content_type=row.content_type,
                language=row.language,
            )
        )
    return hits


def _lead(body: str, size: int = 240) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= size else flat[:size].rsplit(" ", 1)[0] + " …"


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
    request = SearchRequest(
        query=query,
        project=project,
        sources=sources or [],
        languages=[language] if language else [],
        limit=max(1, min(limit, 50)),
    )
    scope = await _scope(session, principal, request)
    params: dict[str, Any] = {"q": request.query, "limit": request.limit}
    where = scope.where("x", params)
    if scope.languages:
        where += " AND x.language = ANY(:languages)"
        params["languages"] = scope.languages
    rows = await session.execute(
        text(
            f"WITH q AS (SELECT {_QUERY_TSQ} AS tsq) "
            "SELECT x.id, x.document_id, x.source_id, x.language, x.heading_path, x.code, "
            "x.context, x.summary, d.title, d.uri, "
            f"ts_rank('{_RANK_WEIGHTS}', x.tsv, q.tsq, 1) AS score "
            "FROM knowledge_code_example x JOIN knowledge_document d ON d.id = x.document_id, q "
            f"WHERE q.tsq IS NOT NULL AND x.tsv @@ q.tsq AND {where} "
            "ORDER BY score DESC, x.id LIMIT :limit"
        ),
        params,
    )
    return [
        CodeExampleRead(
            id=r.id,
            document_id=r.document_id,
            source_id=r.source_id,
            title=r.title,
            uri=r.uri,
            language=r.language,
            heading_path=list(r.heading_path),
            code=r.code,
            context=r.context,
            summary=r.summary,
            score=round(float(r.score), 6),
        )
        for r in rows
    ]


__all__ = ["code_examples", "fuse", "keyword_ranking", "search", "semantic_ranking"]
