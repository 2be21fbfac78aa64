"""What repos runs beside HTTP in the server process (`Domain.servers`): first the recovery of
merges a crash cut short (`pulls.recovery`), then git over SSH (`ssh.server`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from devflow.core.services import Services
from devflow.repos.pulls.recovery import recover_merges
from devflow.repos.ssh.server import ssh_server

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def servers(services: Services) -> AsyncIterator[None]:
    """Settle the merge journal, then serve git over SSH while the server process runs.

    A recovery that fails is logged and leaves the server starting: each merge runs it again
    for its repository before it begins.
    """
    try:
        settled = await recover_merges(services)
    except Exception:
        log.exception("the recovery of interrupted merges failed; each merge retries it")
    else:
        if settled:
            log.info("settled %s interrupted merge(s) from the merge journal", settled)
    async with ssh_server(services):
        yield


__all__ = ["servers"]
