"""Resolution: the value of a name for a project, a user and an environment, with provenance.

`Resolver.resolve` walks the tiers from the most specific (project → user → system) and, in
each, the providers in the configured order (default: `onepassword`, `dotenv`, `environment`,
`store`). The first provider that knows the name answers, with its tier, provider and version:

- `onepassword`: the tier's stored secret, when its current version is an `op://` reference;
- `dotenv`: the tier's `.env` file (`<dotenv_dir>/system.env`, `users/<user>.env`,
  `projects/<project>.env`, each after its `.<environment>.env` sibling), parsed with
  python-dotenv's `dotenv_values` (never touching `os.environ`), re-read when it changes;
- `environment`: this process's environment (`DEVFLOW_SECRET_<NAME>`,
  `DEVFLOW_SECRET_<PROJECT>__<NAME>`, `DEVFLOW_SECRET_USER_<USER>__<NAME>`);
- `store`: the tier's stored secret, when its current version is a sealed value.

A `.env` or environment value that is itself an `op://` reference is resolved through
1Password. A caller only walks tiers it may reveal values of (`scopes.may`); DevFlow's own use
(principal None: settings, jobs) walks all. Each value handed out is audited (`record_read`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import dotenv_values
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devflow.core.auth import Principal
from devflow.core.config import Settings
from devflow.core.errors import Invalid, NotFound
from devflow.secrets.keys import SecretKeys
from devflow.secrets.masking import Masker
from devflow.secrets.models import Secret, SecretVersion
from devflow.secrets.schemas import Resolved
from devflow.secrets.scopes import Where, check_name, may
from devflow.secrets.scopes import system as system_tier
from devflow.secrets.service import Context, open_value, record_reads, refuse
from devflow.secrets.settings import SecretsSettings

if TYPE_CHECKING:
    from devflow.secrets.onepassword import OnePassword

_ENV_PART = re.compile(r"[^A-Za-z0-9_]")


def env_part(name: str) -> str:
    """A project or user name as it appears in an environment variable's name."""
    return _ENV_PART.sub("_", name).upper()


@dataclass
class _DotenvFile:
    stamp: tuple[int, int]
    values: dict[str, str]


@dataclass
class Resolver:
    """Resolution for one process (a long-lived object of the services)."""

    settings: Settings
    keys: SecretKeys
    sessions: async_sessionmaker[AsyncSession]
    onepassword: OnePassword
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _dotenv: dict[Path, _DotenvFile] = field(default_factory=dict)

    @property
    def conf(self) -> SecretsSettings:
        return self.settings.section(SecretsSettings)

    def context(self) -> Context:
        """The store's context for this process."""
        return Context(self.keys, self.sessions, self.conf.audit_required)

    def dotenv_dir(self) -> Path:
        return self.conf.dotenv_dir or self.settings.home / "secrets" / "env"

    def dotenv_files(self, where: Where, environment: str) -> list[Path]:
        """The `.env` files of a tier, most specific first."""
        base = self.dotenv_dir()
        stem = {
            "system": base / "system",
            "user": base / "users" / where.owner,
            "project": base / "projects" / where.owner,
        }[where.tier]
        return [
            stem.with_name(f"{stem.name}.{environment}.env"),
            stem.with_name(f"{stem.name}.env"),
        ]

    def _read_dotenv(self, path: Path) -> dict[str, str]:
        try:
            stat = path.stat()
        except OSError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._dotenv.get(path)
        if cached is None or cached.stamp != stamp:
            values = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v}
            cached = self._dotenv[path] = _DotenvFile(stamp, values)
        return cached.values

    def environment_variable(self, where: Where, name: str) -> str:
        """The environment variable a tier's `name` is read from."""
        prefix = self.conf.environment_prefix
        if where.tier == "system":
            return f"{prefix}{name}"
        if where.tier == "project":
            return f"{prefix}{env_part(where.owner)}__{name}"
        return f"{prefix}USER_{env_part(where.owner)}__{name}"

    async def _through_1password(self, reference: str) -> tuple[str, bool]:
        resolved = await self.onepassword.resolve(reference)
        return resolved.value, resolved.stale

    async def _stored(
        self, session: AsyncSession, tiers: list[Where], environment: str, names: list[str]
    ) -> dict[tuple[str, str], tuple[Secret, SecretVersion]]:
        rows = await session.execute(
            select(Secret, SecretVersion)
            .join(
                SecretVersion,
                (SecretVersion.secret_id == Secret.id)
                & (SecretVersion.version == Secret.current_version),
            )
            .where(
                Secret.scope.in_([w.key for w in tiers]),
                Secret.environment == environment,
                Secret.name.in_(names),
            )
        )
        return {(s.scope, s.name): (s, v) for s, v in rows}

    def tiers(
        self, principal: Principal | None, project: Where | None, user: Where | None
    ) -> list[Where]:
        """The tiers walked for a caller, most specific first."""
        walked = [w for w in (project, user, system_tier()) if w is not None]
        if principal is None:
            return walked
        return [w for w in walked if may(principal, w, "reveal")]

    async def resolve_many(
        self,
        session: AsyncSession,
        *,
        principal: Principal | None,
        names: list[str],
        project: Where | None,
        user: Where | None,
        environment: str,
        reveal: bool = True,
        reason: str = "",
        missing_ok: bool = False,
    ) -> list[Resolved]:
        """Resolve `names` (see the module docstring); audited when values are revealed.

        Raises:
            NotFound: a name no tier knows (unless `missing_ok`), audited.
            Invalid: a bad name, a value that does not open, 1Password failing (audited).
        """
        for name in names:
            check_name(name)
        tiers = self.tiers(principal, project, user)
        stored = await self._stored(session, tiers, environment, names) if tiers else {}
        await self._prefetch(stored, reveal)
        ctx = self.context()
        found: list[Resolved] = []
        where_of: dict[str, Where] = {}
        for name in names:
            answer = None
            for where in tiers:
                answer = await self._in_tier(ctx, principal, reveal, where, name, environment,
                                             stored.get((where.key, name)))  # fmt: skip
                if answer is not None:
                    where_of[name] = where
                    break
            if answer is None:
                if missing_ok:
                    continue
                exc = NotFound(
                    f"no secret {name!r} for environment {environment!r} in "
                    + ", ".join(w.label for w in tiers)
                    + (" (no tier you may read)" if not tiers else "")
                )
                await refuse(ctx, principal, project or user or system_tier(), exc,
                             action="resolve", name=name, environment=environment)  # fmt: skip
            found.append(answer)
        if reveal:
            await record_reads(ctx, principal, [
                (where_of[item.name], item.name, environment, item.version, item.provider,
                 reason or "resolved" + (" (stale)" if item.stale else ""))
                for item in found
            ])  # fmt: skip
        else:
            for item in found:
                item.value = None
        return found

    async def _prefetch(
        self, stored: dict[tuple[str, str], tuple[Secret, SecretVersion]], reveal: bool
    ) -> None:
        """Resolve the stored 1Password references in one batch (one item fetch per item), so
        the walk that follows finds them in the cache. Failures are left to that walk, which
        reports them by name; with no cache (`cache_ttl_seconds` 0) the walk asks itself."""
        refs = {v.reference for _s, v in stored.values() if v.kind == "reference" and v.reference}
        if reveal and len(refs) > 1 and self.conf.onepassword.cache_ttl_seconds > 0:
            await self.onepassword.resolve_many(sorted(refs))

    async def _stored_answer(
        self,
        ctx: Context,
        principal: Principal | None,
        reveal: bool,
        provider: str,
        where: Where,
        name: str,
        environment: str,
        stored: tuple[Secret, SecretVersion] | None,
    ) -> tuple[str | None, int | None, str | None]:
        """What a tier's stored secret gives `provider` (`onepassword`: its reference;
        `store`: its opened value, or "" when only provenance is asked)."""
        if stored is None:
            return None, None, None
        secret, current = stored
        if provider == "onepassword" and current.kind == "reference":
            return None, current.version, current.reference
        if provider != "store" or current.kind != "value":
            return None, None, None
        if not reveal:  # provenance only: nothing is opened
            return "", current.version, None
        try:
            return await open_value(ctx, secret, current), current.version, None
        except Invalid as exc:
            await refuse(ctx, principal, where, exc, action="resolve", name=name,
                         environment=environment)  # fmt: skip

    async def _from_provider(
        self,
        ctx: Context,
        principal: Principal | None,
        reveal: bool,
        provider: str,
        where: Where,
        name: str,
        environment: str,
        stored: tuple[Secret, SecretVersion] | None,
    ) -> tuple[str | None, int | None, str | None]:
        """What one provider of a tier holds for `name`: (value, version, reference)."""
        if provider in ("onepassword", "store"):
            return await self._stored_answer(ctx, principal, reveal, provider, where, name,
                                             environment, stored)  # fmt: skip
        value = None
        if provider == "dotenv":
            for path in self.dotenv_files(where, environment):
                value = self._read_dotenv(path).get(name)
                if value is not None:
                    break
        else:
            value = self.environ.get(self.environment_variable(where, name)) or None
        if value is not None and value.startswith("op://"):
            return None, None, value
        return value, None, None

    async def _in_tier(
        self,
        ctx: Context,
        principal: Principal | None,
        reveal: bool,
        where: Where,
        name: str,
        environment: str,
        stored: tuple[Secret, SecretVersion] | None,
    ) -> Resolved | None:
        for provider in self.conf.providers:
            value, version, reference = await self._from_provider(
                ctx, principal, reveal, provider, where, name, environment, stored
            )
            stale = False
            if reference is not None and not reveal:
                value = ""  # provenance only: 1Password is not asked (its rate limits)
            elif reference is not None:
                try:
                    value, stale = await self._through_1password(reference)
                except Exception as exc:  # noqa: BLE001 - every 1Password failure is said so
                    await refuse(
                        ctx, principal, where,
                        Invalid(f"secret {name!r} is the 1Password reference {reference}, which "
                                f"could not be resolved: {exc}"),
                        action="resolve", name=name, environment=environment,
                    )  # fmt: skip
            if value is not None:
                return Resolved(
                    name=name, tier=where.tier, provider=provider,
                    environment=environment, version=version, reference=reference, stale=stale,
                    value=value,
                )  # fmt: skip
        return None

    async def names_for(
        self,
        session: AsyncSession,
        principal: Principal | None,
        project: Where | None,
        user: Where | None,
        environment: str,
    ) -> list[str]:
        """The names stored in the tiers the caller may read, in one environment."""
        tiers = self.tiers(principal, project, user)
        found = await session.scalars(
            select(Secret.name).where(
                Secret.scope.in_([w.key for w in tiers]), Secret.environment == environment
            )
        )
        return sorted(set(found))

    async def environment_for(
        self,
        session: AsyncSession,
        *,
        principal: Principal | None,
        project: Where | None,
        user: Where | None,
        environment: str,
        names: list[str] | None = None,
        reason: str = "injected",
    ) -> tuple[dict[str, str], Masker]:
        """The environment variables for a job or an agent session: every stored name of the
        tiers the caller may read (or `names`), the most specific tier winning, and a masker
        that knows every value (hand it the job's log stream)."""
        if names is None:
            names = await self.names_for(session, principal, project, user, environment)
        resolved = await self.resolve_many(
            session, principal=principal, names=names, project=project, user=user,
            environment=environment, reason=reason, missing_ok=True,
        )  # fmt: skip
        masker = Masker()
        values = {}
        for item in resolved:
            assert item.value is not None  # noqa: S101 - revealed
            values[item.name] = item.value
            masker.add(item.value)
        return values, masker
