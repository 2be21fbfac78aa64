"""The PyPI router with every route: the index (`index`) and uploads (`upload`)."""

from __future__ import annotations

from devflow.registry.formats.pypi import index, upload
from devflow.registry.formats.pypi._common import router
from devflow.registry.formats.pypi.index import HOT_ROUTES

del index, upload  # imported for the routes they add to `router`

__all__ = ["HOT_ROUTES", "router"]
