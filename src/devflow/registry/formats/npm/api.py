"""The npm router with every route: reads (`reads`) and writes (`writes`, `upload`)."""

from __future__ import annotations

from devflow.registry.formats.npm import reads, writes
from devflow.registry.formats.npm._common import router
from devflow.registry.formats.npm.reads import HOT_ROUTES

del reads, writes  # imported for the routes they add to `router`

__all__ = ["HOT_ROUTES", "router"]
