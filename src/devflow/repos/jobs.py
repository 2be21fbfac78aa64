"""Background work of the git-hosting domain: one blueprint, to which each part adds its tasks
(`register(blueprint)`), named `repos:<verb_noun>`."""

from __future__ import annotations

import procrastinate

from devflow.repos.mirrors import jobs as mirror_jobs
from devflow.repos.webhooks import jobs as webhook_jobs

blueprint = procrastinate.Blueprint()
webhook_jobs.register(blueprint)
mirror_jobs.register(blueprint)

__all__ = ["blueprint"]
