"""The check of the keys when the HTTP server starts: a wrong or missing key stops the start
with a message naming the fix, before any request could seal or open a value."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import ProgrammingError

from devflow.core.services import Services
from devflow.secrets import SECRETS
from devflow.secrets.crypto import KeyringError

log = logging.getLogger(__name__)


class KeysRefused(SystemExit):
    """The server cannot start: the secrets keys are wrong or missing."""


@asynccontextmanager
async def check_keys(services: Services) -> AsyncIterator[None]:
    """Load and check the keys (`keys.SecretKeys.ring`) before serving."""
    try:
        ring = await services.get(SECRETS).keys.ring()
    except KeyringError as exc:
        log.critical("secrets: %s", exc)
        raise KeysRefused(f"DevFlow cannot start: secrets: {exc}") from None
    except ProgrammingError:
        # Not migrated yet: the server still starts and /ready says 503 until `devflow db
        # upgrade`; the keys are checked on first use.
        log.warning("secrets: the database is not migrated; keys are checked on first use")
        yield
        return
    log.info("secrets: %d key(s) given, %s seals new values", len(ring.keys), ring.active)
    yield
