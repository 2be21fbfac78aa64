"""LLM tables: one usage row per call, the response and embedding caches, budget ledgers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.orm import Mapped, mapped_column

from devflow.core import clock
from devflow.core.db import Base

MONEY = Numeric(18, 9)


class LLMUsage(Base):
    """One model call (or cache hit), attributed to a project, workflow and feature."""

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_project_created_at", "project", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    # Project *names*: attribution survives a deleted project and needs no lookup per call.
    project: Mapped[str | None] = mapped_column(String(64))
    workflow: Mapped[str | None] = mapped_column(String(200))
    feature: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # chat | embed
    alias: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    attempts: Mapped[int] = mapped_column(default=1)
    # ok | error | budget_exceeded | stream_broken
    outcome: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class LLMCacheEntry(Base):
    """A deterministic chat answer, keyed by a hash of provider, model, messages and parameters."""

    __tablename__ = "llm_cache_entry"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LLMEmbeddingCacheEntry(Base):
    """One text's embedding by one `provider/model`."""

    __tablename__ = "llm_embedding_cache_entry"

    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    embedding: Mapped[list[float]] = mapped_column(ARRAY(REAL))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LLMBudgetLedger(Base):
    """Spent and reserved money of one budget (a project or a workflow) in one month."""

    __tablename__ = "llm_budget_ledger"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    spent: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    reserved: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    # Highest threshold (50, 80, 100 %) already announced, so each crossing emits one event.
    notified_pct: Mapped[int] = mapped_column(default=0)


class LLMBudget(Base):
    """A monthly spending limit set through the API: for a project, or one of its workflows.

    The spending itself is in `LLMBudgetLedger`, keyed by the same scope (`budgets.Budget`).
    """

    __tablename__ = "llm_budget"
    __table_args__ = (
        UniqueConstraint("project_id", "workflow", postgresql_nulls_not_distinct=True),
        CheckConstraint("monthly_usd >= 0", name="not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    workflow: Mapped[str | None] = mapped_column(String(200))  # None: the whole project
    monthly_usd: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
