"""Tables of the registry domain."""

from __future__ import annotations

from devflow.core.db import Base

__all__ = ["Base"]
