"""Background jobs of the registry domain."""

from __future__ import annotations

import procrastinate

blueprint = procrastinate.Blueprint()
