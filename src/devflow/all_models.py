"""Imports every table so that one metadata describes the whole schema (for Alembic)."""

from devflow.core import events, jobs
from devflow.core.db import Base
from devflow.identity import models as identity_models
from devflow.llm import models as llm_models

metadata = Base.metadata

__all__ = ["events", "identity_models", "jobs", "llm_models", "metadata"]
