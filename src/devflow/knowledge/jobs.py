"""Background jobs of the knowledge domain."""

from __future__ import annotations

import procrastinate

blueprint = procrastinate.Blueprint()
