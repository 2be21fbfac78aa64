"""What repos runs beside HTTP in the server process (`Domain.servers`): first the recovery of
merges a crash cut short (`pulls.recovery`) and the sealing of webhook secrets still stored in
clear from before migration 0024 (`webhooks.service.seal_legacy_secrets`), then git over SSH
(`ssh.server`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from devflow.core.services import Services
from devflow.repos.pulls.recovery import recover_merges
from devflow.repos.ssh.server import ssh_server
from devflow.repos.webhooks.service import seal_legacy_secrets

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def servers(services: Services) -> AsyncIterator[None]:
    """Settle the merge journal and seal webhook secrets left in clear, then serve git over SSH
    while the server process runs.

    A recovery or sealing that fails is logged and leaves the server starting: each merge runs
    the recovery again for its repository before it begins, each delivery seals its hook's
    secret before it signs.
    """
    try:
        settled = await recover_merges(services)
    except Exception:
        log.exception("the recovery of interrupted merges failed; each merge retries it")
    else:
        if settled:
            log.info("settled %s interrupted merge(s) from the merge journal", settled)
    try:
        sealed = await seal_legacy_secrets(services)
    except Exception:
        log.exception("webhook secrets stored in clear could not be sealed; deliveries retry it")
    else:
        if sealed:
            log.info("sealed %s webhook secret(s) stored in clear before migration 0024", sealed)
    async with ssh_server(services):
        yield


__all__ = ["servers"]
