"""Answers with numbered citations: retrieve, then ask the LLM to answer from the passages only.

When retrieval finds nothing relevant the model is not called: the answer says so instead of
letting a model invent one. Citations are the retrieved chunks, numbered as they were shown to
the model; only numbers the answer actually cites are returned.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.identity import default_project_name
from devflow.knowledge.ports import Embedder
from devflow.knowledge.retrieval import search
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


def _citation(number: int, hit: SearchHit) -> Citation:
    return Citation(
        number=number,
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        title=hit.title,
        uri=hit.uri,
        heading_path=hit.heading_path,
    )


def _relevant(hits: list[SearchHit]) -> list[SearchHit]:
    # A chunk is relevant when the keyword retriever matched it, or when it is among the best few
    # semantic neighbours AND shares at least a keyword match with the question elsewhere; pure
    # nearest neighbours of an unrelated question are always "somewhere", so they are not enough.
    return [h for h in hits if h.keyword_rank is not None]


def _prompt(question: str, hits: list[SearchHit]) -> list[dict[str, str]]:
    passages = []
    for number, hit in enumerate(hits, start=1):
        where = " > ".join([hit.title, *hit.heading_path])
        passages.append(f"[{number}] {where} ({hit.uri})\n{hit.text[:_PASSAGE_CHARS]}")
    user = "Passages:\n\n" + "\n\n".join(passages) + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class AnswerPlan:
    """What retrieval found for a question: the passages to show the model, numbered."""

    question: str
    project: str
    hits: list[SearchHit]
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
        ),
        settings=settings,
        embedder=embedder,
    )
    hits = _relevant(results.hits)
    return AnswerPlan(
        question=request.question,
        project=request.project or await default_project_name(session, principal=principal),
        hits=hits,
        citations=[_citation(i, h) for i, h in enumerate(hits, start=1)],
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

    if not plan.hits:
        yield AnswerEvent("citations", {"citations": []})
        yield AnswerEvent("delta", {"text": NOTHING_FOUND})
        yield AnswerEvent("done", {"found": False, "answer": NOTHING_FOUND, "citations": []})
        return
    citations = plan.citations
    yield AnswerEvent("citations", {"citations": [c.model_dump(mode="json") for c in citations]})
    stream = llm.chat_stream(
        settings.answer_model,
        _prompt(plan.question, plan.hits),
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


__all__ = ["NOTHING_FOUND", "AnswerEvent", "AnswerPlan", "answer_events", "plan_answer"]
