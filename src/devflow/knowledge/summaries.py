"""One-line LLM summaries of code examples (when `summarize_code_examples` is on).

Summaries make code examples findable by what they do ("retry with backoff") rather than only by
the identifiers they contain. A failing model call leaves the summary empty and ingestion goes
on: summaries are an improvement, never a reason for a source to fail.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.db import unit_of_work
from devflow.core.errors import DevflowError
from devflow.knowledge.models import CodeExample

if TYPE_CHECKING:
    from devflow.llm import LLMClient

log = logging.getLogger(__name__)

SUMMARY_MODEL = "chat-fast"
_MAX_PER_RUN = 500
_PROMPT = (
    "Summarise in one sentence (at most 25 words) what this {language} code example does, for a "
    "search index. Answer with the sentence only.\n\nContext: {context}\n\nCode:\n{code}"
)


async def summarize_code_examples(
    sessions: async_sessionmaker[AsyncSession], *, source_id: uuid.UUID, llm: LLMClient
) -> int:
    """Write summaries for the source's code examples that have none; return how many."""
    from devflow.llm import Tags

    async with unit_of_work(sessions) as session:
        rows = (
            await session.execute(
                select(CodeExample.id, CodeExample.language, CodeExample.context, CodeExample.code)
                .where(CodeExample.source_id == source_id, CodeExample.summary.is_(None))
                .limit(_MAX_PER_RUN)
            )
        ).all()
    if not rows:
        return 0
    done = 0
    for row in rows:
        prompt = _PROMPT.format(
            language=row.language or "", context=row.context[-600:], code=row.code[:3000]
        )
        try:
            result = await llm.chat(
                SUMMARY_MODEL,
                [{"role": "user", "content": prompt}],
                tags=Tags(feature="knowledge.code_summary"),
                temperature=0.0,
                max_tokens=60,
            )
        except DevflowError as exc:
            log.warning("code example summary failed", extra={"error": exc.message})
            break  # the provider is down or refusing: try again on the next ingestion
        summary = " ".join((result.content or "").split())[:400]
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(CodeExample).where(CodeExample.id == row.id).values(summary=summary)
            )
        done += 1
    return done


__all__ = ["summarize_code_examples"]
