"""Imports every table so that one metadata describes the whole schema (for Alembic)."""

from devflow.core import events, jobs
from devflow.core.db import Base
from devflow.domains import load_models

load_models()
metadata = Base.metadata

__all__ = ["events", "jobs", "metadata"]
