"""Hybrid search over a project's tasks and their comments: keywords and vectors, fused.

Keyword retrieval ORs the query's stemmed words (as the knowledge hub does) and ranks with
PostgreSQL full text, the title weighing most; semantic retrieval compares the query's vector
with the project's task and comment vectors exactly (see `duplicates` for why no index). A task
counts with its best evidence: its own text or its best comment, per retriever. The two rankings
are fused as `devflow.knowledge.search` fuses its own, with the same settings (`fusion`,
`keyword_weight`, `semantic_weight`, `rrf_k`) and the same `fuse` and `relevance`.

Semantic candidates under `SEMANTIC_FLOOR` are dropped: a vector search always returns its
nearest tasks, and a query about nothing in the project should find nothing.

The SQL is text; every value a caller gives is a bound parameter, and what is written into it is
fixed (the filter clauses chosen by which filters a search has, and the text-search config).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.errors import Invalid
from devflow.knowledge import Embedder, KnowledgeSettings, fuse, relevance
from devflow.workflows.access import project_for

MAX_QUERY_CHARS = 2000
SEMANTIC_FLOOR = 0.25
"""Cosine similarity under which a task is not a semantic candidate (all-MiniLM-L6-v2 puts
unrelated software texts at 0-0.25; a paraphrased query of a task at 0.45 and more)."""
_CANDIDATES = 100
_SNIPPET_CHARS = 240
_TS = "english"
_TSQ = (
    "(SELECT string_agg(quote_literal(l), ' | ') FROM "  # noqa: S608 - fixed text (module docstring)
    f"unnest(tsvector_to_array(to_tsvector('{_TS}', :q))) AS l)::tsquery"
)
# The expressions of the GIN indexes `ix_task_document` and `ix_task_comment_document`
# (`models.TASK_DOCUMENT`): written as they are, the planner reads the matches from the index.
_TASK_DOC = (
    f"(setweight(to_tsvector('{_TS}', t.title), 'A') || "
    f"to_tsvector('{_TS}', (t.body || ' ') || t.done_definition))"
)
_COMMENT_DOC = f"to_tsvector('{_TS}', c.body)"

Scored = list[tuple[uuid.UUID, float]]


class TaskHit(BaseModel):
    """A task a search found, and the comment that matched when it was one."""

    number: int
    title: str
    state: str
    score: float = Field(description="0-1: how this hit compares with the others of the search.")
    comment_id: int | None = Field(None, description="The comment that matched best, if any.")
    comment: str | None = Field(None, description="The start of that comment.")
    keyword_rank: int | None = None
    semantic_rank: int | None = None


def clean_query(query: str) -> str:
    """Return the query stripped, NUL characters read as spaces.

    Raises:
        Invalid: empty, or longer than MAX_QUERY_CHARS.
    """
    words = query.replace("\x00", " ").strip()
    if not words:
        raise Invalid("the query is empty: say what to look for")
    if len(words) > MAX_QUERY_CHARS:
        raise Invalid(
            f"the query is {len(words)} characters; the limit is {MAX_QUERY_CHARS}. Search with "
            "the key words or a sentence instead of a whole text."
        )
    return words


async def search_tasks(
    session: AsyncSession,
    *,
    principal: Principal,
    project: str | None,
    query: str,
    embedder: Embedder | None = None,
    settings: KnowledgeSettings | None = None,
    limit: int = 20,
    state: str | None = None,
    run: int | None = None,
) -> list[TaskHit]:
    """Search a project's tasks and comments by keywords and meaning (read role); `#12` finds
    task 12. `embedder=None` searches by keywords only.

    Raises:
        Invalid: an empty or over-long query.
        NotFound: no such project, or not the caller's to see.
    """
    words = clean_query(query)
    limit = max(1, min(limit, 100))
    vector = None
    if embedder is not None:  # before the first statement: a remote model holds no connection
        vector = await embedder.embed_query(words)
    found = await project_for(session, principal=principal, project=project)
    params: dict[str, Any] = {"project": found.id, "q": words, "n": _CANDIDATES}
    where = _filters(params, state, run)
    if words.startswith("#") and words[1:].isdigit() and len(words) < 11:  # noqa: PLR2004
        params["number"] = int(words[1:])
        ids = await session.scalars(
            text(f"SELECT t.id FROM task t WHERE {where} AND t.number = :number"),  # noqa: S608 - fixed text (module docstring)
            params,
        )
        return await _hits(session, [(i, 1.0) for i in ids], {}, {}, {})
    keyword, keyword_comments = _best_per_task(await _keyword(session, where, params))
    semantic: Scored = []
    semantic_comments: dict[uuid.UUID, int] = {}
    if vector is not None and embedder is not None:
        rows = await _semantic(session, where, params, vector, embedder)
        semantic, semantic_comments = _best_per_task([r for r in rows if r[2] >= SEMANTIC_FLOOR])
    knowledge = settings or KnowledgeSettings()
    fused = fuse(
        [(keyword, knowledge.keyword_weight), (semantic, knowledge.semantic_weight)],
        method=knowledge.fusion,
        k=knowledge.rrf_k,
    )[:limit]
    # The comment shown is the keyword one (its words are there to see), else the semantic one.
    comments = {**semantic_comments, **keyword_comments}
    ranks = {
        "keyword": {tid: i for i, (tid, _) in enumerate(keyword, start=1)},
        "semantic": {tid: i for i, (tid, _) in enumerate(semantic, start=1)},
    }
    return await _hits(session, fused, comments, ranks["keyword"], ranks["semantic"])


def _filters(params: dict[str, Any], state: str | None, run: int | None) -> str:
    clauses = ["t.project_id = :project"]
    if state is not None:
        clauses.append("t.state = :state")
        params["state"] = state
    if run is not None:
        clauses.append(
            "t.run_id = (SELECT r.id FROM workflow_run r "
            "WHERE r.project_id = :project AND r.number = :run)"
        )
        params["run"] = run
    return " AND ".join(clauses)


_Row = tuple[uuid.UUID, int | None, float]


async def _keyword(session: AsyncSession, where: str, params: dict[str, Any]) -> list[_Row]:
    """Return (task id, comment id or None, score) of the best own-text and comment matches."""
    # The query is an uncorrelated subquery (run once, before the scans), so the indexes can
    # take it; only stop words make it NULL, which matches nothing.
    rows = await session.execute(
        text(
            f"WITH own AS (SELECT t.id AS task_id, NULL::bigint AS comment_id, "  # noqa: S608 - fixed text (module docstring)
            f"ts_rank({_TASK_DOC}, {_TSQ}, 1) AS score FROM task t "
            f"WHERE {where} AND {_TASK_DOC} @@ {_TSQ} "
            "ORDER BY score DESC, t.number LIMIT :n), "
            "said AS (SELECT c.task_id, c.id AS comment_id, "
            f"ts_rank({_COMMENT_DOC}, {_TSQ}, 1) AS score "
            "FROM task_comment c JOIN task t ON t.id = c.task_id "
            f"WHERE {where} AND {_COMMENT_DOC} @@ {_TSQ} "
            "ORDER BY score DESC, c.id LIMIT :n) "
            "SELECT task_id, comment_id, score FROM own "
            "UNION ALL SELECT task_id, comment_id, score FROM said"
        ),
        params,
    )
    return [(r[0], r[1], float(r[2])) for r in rows]


async def _semantic(
    session: AsyncSession,
    where: str,
    params: dict[str, Any],
    vector: list[float],
    embedder: Embedder,
) -> list[_Row]:
    """Return (task id, comment id or None, cosine similarity) of the nearest tasks and
    comments under the embedder's model."""
    values = {
        **params,
        "v": "[" + ",".join(f"{x:.7g}" for x in vector) + "]",
        "model": embedder.model,
        "dim": embedder.dimension,
    }
    rows = await session.execute(
        text(
            "(SELECT t.id, NULL::bigint, 1 - (e.vector <=> CAST(:v AS vector)) AS score "  # noqa: S608 - fixed text (module docstring)
            "FROM task_embedding e JOIN task t ON t.id = e.task_id "
            f"WHERE {where} AND e.model = :model AND e.dimension = :dim "
            "ORDER BY e.vector <=> CAST(:v AS vector), t.number LIMIT :n) "
            "UNION ALL "
            "(SELECT t.id, e.comment_id, 1 - (e.vector <=> CAST(:v AS vector)) AS score "
            "FROM task_comment_embedding e JOIN task t ON t.id = e.task_id "
            f"WHERE {where} AND e.model = :model AND e.dimension = :dim "
            "ORDER BY e.vector <=> CAST(:v AS vector), e.comment_id LIMIT :n)"
        ),
        values,
    )
    return [(r[0], r[1], float(r[2])) for r in rows]


def _best_per_task(rows: list[_Row]) -> tuple[Scored, dict[uuid.UUID, int]]:
    """Return each task's best score, best first, and the comment it came from when it did."""
    best: dict[uuid.UUID, tuple[float, int | None]] = {}
    for task_id, comment_id, score in rows:
        held = best.get(task_id)
        if held is None or score > held[0]:
            best[task_id] = (score, comment_id)
    ranked = sorted(((tid, s) for tid, (s, _) in best.items()), key=lambda p: (-p[1], str(p[0])))
    comments = {tid: c for tid, (_, c) in best.items() if c is not None}
    return ranked, comments


async def _hits(
    session: AsyncSession,
    fused: Scored,
    comments: dict[uuid.UUID, int],
    keyword_ranks: dict[uuid.UUID, int],
    semantic_ranks: dict[uuid.UUID, int],
) -> list[TaskHit]:
    if not fused:
        return []
    ids = [tid for tid, _ in fused]
    tasks = {
        r.id: r
        for r in await session.execute(
            text("SELECT id, number, title, state FROM task WHERE id = ANY(:ids)"), {"ids": ids}
        )
    }
    wanted = [c for tid, c in comments.items() if tid in tasks]
    bodies: dict[int, str] = dict(
        (
            await session.execute(
                text("SELECT id, body FROM task_comment WHERE id = ANY(:ids)"), {"ids": wanted}
            )
        ).all()
        if wanted
        else []
    )
    shown = relevance(fused)
    hits = []
    for tid, _ in fused:
        row = tasks.get(tid)
        if row is None:  # deleted between the two statements
            continue
        comment_id = comments.get(tid)
        body = bodies.get(comment_id) if comment_id is not None else None
        hits.append(
            TaskHit(
                number=row.number,
                title=row.title,
                state=row.state,
                score=shown[tid],
                comment_id=comment_id if body is not None else None,
                comment=_snippet(body) if body is not None else None,
                keyword_rank=keyword_ranks.get(tid),
                semantic_rank=semantic_ranks.get(tid),
            )
        )
    return hits


def _snippet(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 1] + "…"


__all__ = ["MAX_QUERY_CHARS", "SEMANTIC_FLOOR", "TaskHit", "clean_query", "search_tasks"]
