"""Answers with numbered citations: retrieve, then ask the LLM to answer from the passages only.

When retrieval finds nothing relevant the model is not called: the answer says so instead of
letting a model invent one. The model is given the best passages (`limit` of them), numbered by
document: two passages of one page are one source, so an answer never cites the same page as [1]
and [3]. Only numbers the answer actually cites are returned.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.identity import default_project_name
from devflow.knowledge.plaintext import passage_text, where
from devflow.knowledge.ports import Embedder
from devflow.knowledge.retrieval import group_by_document, search
from devflow.knowledge.schemas import AnswerRequest, Citation, SearchHit, SearchRequest
from devflow.knowledge.settings import KnowledgeSettings

if TYPE_CHECKING:
    from devflow.llm import LLMClient

NOTHING_FOUND = (
    "The knowledge base has nothing relevant to this question, so I cannot answer it from "
    "your sources. Add a source that covers it (`devflow knowledge add ...`) or rephrase."
)
_SYSTEM = (
    "You answer questions using only the numbered passages provided. Cite every claim with the "
    "passage number in square brackets, like [1] or [2][3]. If the passages do not contain the "
    "answer, say that the knowledge base does not cover it. Be concise; keep code as code."
)
_CITE = re.compile(r"\[(\d{1,3})\]")
_PASSAGE_CHARS = 2500


@dataclass
class AnswerEvent:
    """One piece of a streamed answer: `citations` first, then `delta`s, then `done`."""

    type: str  # citations | delta | done
    data: dict[str, Any]


def _citation(number: int, passages: list[SearchHit]) -> Citation:
    best = passages[0]
    return Citation(
        number=number,
        chunk_id=best.chunk_id,
        document_id=best.document_id,
        title=best.title,
        uri=best.uri,
        heading_path=best.heading_path,
        start=best.start,
        end=best.end,
        chunk_ids=[p.chunk_id for p in passages],
    )


def _relevant(hits: list[SearchHit]) -> list[SearchHit]:
    # A chunk is relevant when the keyword retriever matched it, or when it is among the best few
    # semantic neighbours AND shares at least a keyword match with the question elsewhere; pure
    # nearest neighbours of an unrelated question are always "somewhere", so they are not enough.
    return [h for h in hits if h.keyword_rank is not None]


def _prompt(question: str, sources: list[list[SearchHit]]) -> list[dict[str, str]]:
    shown = []
    for number, passages in enumerate(sources, start=1):
        first, *more = passages
        parts = [f"[{number}] {where(first.title, first.heading_path)} ({first.uri})"]
        parts.append(passage_text(first.text)[:_PASSAGE_CHARS])
        for other in more:  # the same document, another section
            parts.append(f"[{number}, {where('', other.heading_path) or 'continued'}]")
            parts.append(passage_text(other.text)[:_PASSAGE_CHARS])
        shown.append("\n".join(parts))
    user = "Passages:\n\n" + "\n\n".join(shown) + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class AnswerPlan:
    """What retrieval found for a question: the passages to show the model, numbered by document
    (`sources[n - 1]` holds the passages of citation `n`, best first)."""

    question: str
    project: str
    sources: list[list[SearchHit]]
    citations: list[Citation]


async def plan_answer(
    session: AsyncSession,
    *,
    principal: Principal,
    request: AnswerRequest,
    settings: KnowledgeSettings,
    embedder: Embedder | None = None,
) -> AnswerPlan:
    """Retrieve the passages an answer may cite (the database part of answering).

    The answer is charged to the project asked about, or else to the one the caller acts in when
    it names none (its token's project, or `default`), so no answer escapes a project's budget.

    Raises:
        NotFound, PermissionDenied: the project.
    """
    results = await search(
        session,
        principal=principal,
        request=SearchRequest(
            query=request.question,
            project=request.project,
            sources=request.sources,
            limit=request.limit,
            group="passages",  # the best passages, whichever documents they come from
        ),
        settings=settings,
        embedder=embedder,
    )
    hits = _relevant(results.hits)
    sources = group_by_document(hits, lambda h: h.document_id, limit=len(hits), attached=len(hits))
    return AnswerPlan(
        question=request.question,
        project=request.project or await default_project_name(session, principal=principal),
        sources=sources,
        citations=[_citation(i, passages) for i, passages in enumerate(sources, start=1)],
    )


async def answer_events(
    plan: AnswerPlan, *, settings: KnowledgeSettings, llm: LLMClient
) -> AsyncIterator[AnswerEvent]:
    """Stream a cited answer to a planned question as events (see `AnswerEvent`).

    It touches no database itself (the LLM client writes its usage in its own short
    transactions), so a caller holds no connection while the model answers.

    Raises:
        devflow.llm errors: the model could not be reached (before the first delta).
    """
    from devflow.llm import Tags

    if not plan.sources:
        yield AnswerEvent("citations", {"citations": []})
        yield AnswerEvent("delta", {"text": NOTHING_FOUND})
        yield AnswerEvent("done", {"found": False, "answer": NOTHING_FOUND, "citations": []})
        return
    citations = plan.citations
    yield AnswerEvent("citations", {"citations": [c.model_dump(mode="json") for c in citations]})
    stream = llm.chat_stream(
        settings.answer_model,
        _prompt(plan.question, plan.sources),
        tags=Tags(feature="knowledge.answer", project=plan.project),
        temperature=0.0,
    )
    parts: list[str] = []
    async for piece in stream:
        parts.append(piece)
        yield AnswerEvent("delta", {"text": piece})
    text = "".join(parts)
    cited = {int(n) for n in _CITE.findall(text)}
    used = [c for c in citations if c.number in cited]
    yield AnswerEvent(
        "done",
        {
            "found": True,
            "answer": text,
            "citations": [c.model_dump(mode="json") for c in used],
            "model": stream.result.model if stream.result else None,
        },
    )


__all__ = [
    "NOTHING_FOUND",
    "AnswerEvent",
    "AnswerPlan",
    "answer_events",
    "plan_answer",
]
