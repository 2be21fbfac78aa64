"""Secrets: one place for every credential DevFlow and its users need.

Values are sealed with AES-GCM under key-encryption keys that never enter the database
(`crypto`, `keys`), versioned per tier (system, user, project) and environment (`service`),
resolved through an ordered cascade of providers with provenance (`resolution`: 1Password,
`.env`, the environment, the store), and every access is in a hash-chained audit log (`audit`).
Other domains and the surfaces use only the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devflow.core.domain import Domain, lazy
from devflow.core.services import Key, Provider, Services
from devflow.secrets.internal import forget as forget_internal
from devflow.secrets.internal import keep as keep_internal
from devflow.secrets.internal import read as read_internal
from devflow.secrets.internal import resolve_project_secret
from devflow.secrets.masking import Masker
from devflow.secrets.references import resolve_setting
from devflow.secrets.settings import SecretsSettings

if TYPE_CHECKING:
    from devflow.secrets.resolution import Resolver

SECRETS: Key[Resolver] = Key("secrets")


def _resolver(services: Services) -> Resolver:
    from devflow.secrets.keys import SecretKeys
    from devflow.secrets.onepassword import OnePassword
    from devflow.secrets.resolution import Resolver

    settings = services.settings
    conf = settings.section(SecretsSettings)

    async def key_reference(reference: str) -> str:
        return (await onepassword.resolve(reference)).value

    keys = SecretKeys(settings, services.sessions, resolve_reference=key_reference)
    onepassword = OnePassword(conf.onepassword, sealer=keys.sealer(), home=settings.home)
    return Resolver(settings, keys, services.sessions, onepassword)


async def _close(resolver: Resolver) -> None:
    await resolver.onepassword.aclose()


DOMAIN = Domain(
    name="secrets",
    settings=SecretsSettings,
    provides=(Provider(SECRETS, _resolver, _close),),
    routers=lazy("devflow.secrets.api:ROUTERS"),
    cli=lazy("devflow.secrets.cli:register"),
    jobs=lazy("devflow.secrets.jobs:blueprint"),
    models=lazy("devflow.secrets.models"),
    servers=lazy("devflow.secrets.startup:check_keys"),
)

__all__ = [
    "DOMAIN",
    "SECRETS",
    "Masker",
    "SecretsSettings",
    "forget_internal",
    "keep_internal",
    "read_internal",
    "resolve_project_secret",
    "resolve_setting",
]
