"""Imports every table so that one metadata describes the whole schema (for Alembic)."""

from devflow.core import events, jobs
from devflow.core.db import Base
from devflow.identity import models as identity_models
from devflow.knowledge import models as knowledge_models
from devflow.llm import models as llm_models
from devflow.registry import models as registry_models

metadata = Base.metadata

__all__ = [
    "events",
    "identity_models",
    "jobs",
    "knowledge_models",
    "llm_models",
    "metadata",
    "registry_models",
]
