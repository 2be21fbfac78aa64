"""Values other domains keep for DevFlow itself: a webhook's signing secret, a credential a job
needs. Never a user's secret, never seen by one.

Each owner (`repos.webhook:<hook id>`: the domain, then its own id) has one value, stored as a
`Secret` of tier `system`, scope `internal:<owner>`, environment `internal` and name `value`:

- sealed with the same keyring as every stored secret (the associated data binds it to that
  row), so key rotation re-seals it (`keys.reencrypt_batch` works on every `SecretVersion`);
- versioned: `keep` adds a version, as `set_secret` does;
- out of every listing and of resolution by name: those query the scopes `system`, `user:…`
  and `project:…`, never `internal:…`;
- audited as actor `devflow` with the caller's purpose as the reason: `keep` and `forget`
  always, in the caller's transaction; `read` only when `audited=True`. A read that is not
  audited hands the value to DevFlow's own code (a webhook signs with it), never out of the
  process; auditing each webhook delivery would drown the log in the same record. Callers
  that hand a value on (to a user, to another system as a credential) pass `audited=True`.

`resolve_project_secret` is the other way round: a value a project keeps for its own use
(a mirror's credentials), resolved in that project's tier only — never the user or system
tier, so a name a project lacks cannot borrow DevFlow's own secret of that name.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.errors import Invalid, NotFound
from devflow.secrets import audit
from devflow.secrets.models import Secret
from devflow.secrets.scopes import Where
from devflow.secrets.service import (
    SYSTEM_ACTOR,
    add_version,
    check_value,
    current,
    open_value,
    record_read,
    refuse,
)

if TYPE_CHECKING:
    from devflow.core.auth import Principal
    from devflow.core.services import Services

ENVIRONMENT = "internal"
NAME = "value"
PREFIX = "internal:"
_OWNER = re.compile(r"[a-z][a-z0-9_.]*:[A-Za-z0-9_.:-]+")
_SCOPE_LENGTH = 64  # secrets_secret.scope


def scope_of(owner: str) -> str:
    """The stored scope of an owner's value (Invalid: not `<domain>:<id>`, or too long)."""
    scope = PREFIX + owner
    if not _OWNER.fullmatch(owner) or len(scope) > _SCOPE_LENGTH:
        raise Invalid(
            f"an internal secret's owner is `<domain>:<id>` in at most "
            f"{_SCOPE_LENGTH - len(PREFIX)} characters, not {owner[:80]!r}"
        )
    return scope


def _where(scope: str) -> Where:
    return Where("system", scope, scope)


async def _find(session: AsyncSession, scope: str, *, lock: bool = False) -> Secret | None:
    query = select(Secret).where(
        Secret.scope == scope, Secret.environment == ENVIRONMENT, Secret.name == NAME
    )
    return await session.scalar(query.with_for_update() if lock else query)


async def keep(
    session: AsyncSession, services: Services, *, owner: str, value: str, purpose: str
) -> None:
    """Seal `value` as `owner`'s (a new version when it has one), audited with `purpose`.

    Raises:
        Invalid: a bad owner, or a value that cannot be stored (empty, NUL, too long).
        KeyringError: the secrets keys are missing or wrong.
    """
    from devflow.secrets import SECRETS

    scope = scope_of(owner)
    plain = check_value(value)
    ctx = services.get(SECRETS).context()
    secret = await _find(session, scope, lock=True)
    created = secret is None
    if secret is None:
        secret = Secret(
            tier="system", scope=scope, environment=ENVIRONMENT, name=NAME,
            description=purpose[:500], current_version=0,
        )  # fmt: skip
        session.add(secret)
        await session.flush()
    version = await add_version(
        session, ctx, secret, plain=plain, reference=None, note="internal", principal=None
    )
    await audit.append(
        session, actor=SYSTEM_ACTOR, actor_id=None, token_id=None, action="write",
        outcome="ok", scope=scope, environment=ENVIRONMENT, name=NAME, version=version.version,
        provider="store", reason=f"{'created' if created else 'new version'}: {purpose}",
    )  # fmt: skip


async def read(
    session: AsyncSession, services: Services, *, owner: str, purpose: str, audited: bool = False
) -> str | None:
    """The value `owner` keeps (None: none), for DevFlow's own use; audited when `audited`
    (in a transaction of its own: do not call it after `keep` or `forget` in one transaction).

    Raises:
        Invalid: the stored value does not open (tampered or moved; audited as failed).
        Conflict: `audited` and the record could not be written (`secrets.audit_required`).
    """
    from devflow.secrets import SECRETS

    scope = scope_of(owner)
    secret = await _find(session, scope)
    if secret is None:
        return None
    ctx = services.get(SECRETS).context()
    version = await current(session, secret)
    try:
        value = await open_value(ctx, secret, version)
    except Invalid as exc:
        await refuse(ctx, None, _where(scope), exc, action="read", name=NAME,
                     environment=ENVIRONMENT)  # fmt: skip
    if audited:
        await record_read(ctx, None, _where(scope), name=NAME, environment=ENVIRONMENT,
                          version=version.version, provider="store", reason=purpose)  # fmt: skip
    return value


async def forget(session: AsyncSession, *, owner: str, purpose: str = "forgotten") -> None:
    """Delete `owner`'s value with every version (audited when there was one)."""
    scope = scope_of(owner)
    gone = (
        await session.execute(
            delete(Secret)
            .where(Secret.scope == scope, Secret.environment == ENVIRONMENT, Secret.name == NAME)
            .returning(Secret.current_version)
        )
    ).all()
    for (version,) in gone:
        await audit.append(
            session, actor=SYSTEM_ACTOR, actor_id=None, token_id=None, action="delete",
            outcome="ok", scope=scope, environment=ENVIRONMENT, name=NAME, version=version,
            reason=purpose,
        )  # fmt: skip


async def resolve_project_secret(
    session: AsyncSession,
    services: Services,
    *,
    principal: Principal | None,
    project_id: uuid.UUID,
    project: str,
    name: str,
    purpose: str,
    reveal: bool = True,
) -> str | None:
    """The value of `name` in a project's tier (`secrets.default_environment`, through the
    configured providers), for `principal` (None: DevFlow itself); None when not `reveal` (a
    check that it exists and the caller may read it). A revealed value is audited with
    `purpose`.

    Raises:
        NotFound: the project's tier has no `name`, or the caller may not read its values.
        Invalid: a bad name, a value that does not open, 1Password failing (audited).
        Conflict: the read could not be audited (`secrets.audit_required`).
    """
    from devflow.secrets import SECRETS

    resolver = services.get(SECRETS)
    where = Where(
        "project", f"project:{project_id}", f"project:{project}", project_id=project_id,
        owner=project,
    )  # fmt: skip
    environment = resolver.conf.default_environment
    missing = NotFound(
        f"no secret {name!r} ({environment}) in project {project} that "
        + ("DevFlow" if principal is None else "you")
        + " may read",
        details={"name": name, "environment": environment},
    )
    for revealing in (False, True) if reveal else (False,):
        # First without the value: a name only the user or system tier knows is refused
        # before any value of theirs is opened or audited.
        [found] = await resolver.resolve_many(
            session, principal=principal, names=[name], project=where, user=None,
            environment=environment, reveal=revealing, reason=purpose,
        )  # fmt: skip
        if found.tier != "project":
            raise missing
        if revealing:
            return found.value
    return None


__all__ = [
    "ENVIRONMENT",
    "NAME",
    "PREFIX",
    "forget",
    "keep",
    "read",
    "resolve_project_secret",
    "scope_of",
]
