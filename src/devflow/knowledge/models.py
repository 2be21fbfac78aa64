"""Tables of the knowledge domain."""

from __future__ import annotations

from devflow.core.db import Base

__all__ = ["Base"]
