"""REST routes of secrets.

    /api/v1/secrets/system[/{name}[/history|/rollback]]        instance admins
    /api/v1/secrets/user[/{name}[/history|/rollback]]          the caller's own
    /api/v1/projects/{project}/secrets[/{name}[/…]]            project members (values: writers)
    /api/v1/secrets/resolve                                    values with provenance
    /api/v1/secrets/keys, /keys/rotate                         instance admins
    /api/v1/secrets/audit, /audit/verify                       instance admins

Values leave only through `GET …/{name}?reveal=true` and `POST /api/v1/secrets/resolve` with
`reveal`, each audited; listings, history, events and errors never hold one.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import error_responses
from devflow.core.services import Services
from devflow.secrets import SECRETS, audit, keys, rotation, scopes, service
from devflow.secrets.resolution import Resolver
from devflow.secrets.schemas import (
    AuditRead,
    AuditVerifyRead,
    KeyRead,
    Resolved,
    ResolveRequest,
    RollbackCreate,
    RotateKeyCreate,
    RotateKeyRead,
    RotationRead,
    RotationWrite,
    SecretRead,
    SecretWrite,
    VersionRead,
)
from devflow.secrets.settings import SecretsSettings

NamePath = Annotated[str, Path(max_length=200, description="The secret's name.")]
EnvQuery = Annotated[
    str | None,
    Query(max_length=64, description="The environment (default: `default_environment`)."),
]
WhereOf = Callable[..., Awaitable[scopes.Where]]


def _resolver(services: Services) -> Resolver:
    return services.get(SECRETS)


def _environment(services: Services, environment: str | None) -> str:
    default = services.settings.section(SecretsSettings).default_environment
    return scopes.check_environment(environment, default)


async def _system(principal: PrincipalDep) -> scopes.Where:
    del principal
    return scopes.system()


async def _user(principal: PrincipalDep) -> scopes.Where:
    return scopes.of_user(principal)


async def _project(
    project: Annotated[str, Path(max_length=64, description="Project name.")],
    session: SessionDep,
    principal: PrincipalDep,
) -> scopes.Where:
    return await scopes.of_project(session, principal, project)


def _tier_router(prefix: str, where_of: WhereOf, tag: str) -> APIRouter:
    """The same routes for each tier, the scope coming from `where_of`."""
    router = APIRouter(prefix=prefix, tags=[tag], responses=error_responses())
    WhereDep = Annotated[scopes.Where, Depends(where_of)]  # noqa: N806 - a type alias

    @router.get("")
    async def list_secrets(
        where: WhereDep, session: SessionDep, principal: PrincipalDep, services: ServicesDep,
        environment: EnvQuery = None,
    ) -> list[SecretRead]:  # fmt: skip
        """List the secrets here (names, versions, provenance; never values)."""
        env = None if environment is None else _environment(services, environment)
        return await service.list_secrets(
            session, _resolver(services).context(), principal=principal, where=where,
            environment=env,
        )  # fmt: skip

    @router.put("/{name}")
    async def set_secret(
        name: NamePath, data: SecretWrite, where: WhereDep, session: SessionDep,
        principal: PrincipalDep, services: ServicesDep,
    ) -> SecretRead:  # fmt: skip
        """Set a secret's value (or 1Password reference): a new version each time."""
        return await service.set_secret(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, data.environment), data=data,
        )  # fmt: skip

    @router.get("/{name}")
    async def get_secret(
        name: NamePath, where: WhereDep, session: SessionDep, principal: PrincipalDep,
        services: ServicesDep, environment: EnvQuery = None,
        reveal: Annotated[bool, Query(description="Return the value (audited).")] = False,
        reason: Annotated[str, Query(max_length=200, description="Why (audited).")] = "",
    ) -> SecretRead:  # fmt: skip
        """A secret's metadata; with `reveal`, its value (writers only; audited)."""
        return await service.get_secret(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, environment), reveal=reveal, reason=reason,
        )  # fmt: skip

    @router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_secret(
        name: NamePath, where: WhereDep, session: SessionDep, principal: PrincipalDep,
        services: ServicesDep, environment: EnvQuery = None,
    ) -> Response:  # fmt: skip
        """Delete a secret and every version of it (its audit records stay)."""
        await service.delete_secret(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, environment),
        )  # fmt: skip
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/{name}/history")
    async def history(
        name: NamePath, where: WhereDep, session: SessionDep, principal: PrincipalDep,
        services: ServicesDep, environment: EnvQuery = None,
    ) -> list[VersionRead]:  # fmt: skip
        """Every version, newest first (never values)."""
        return await service.history(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, environment),
        )  # fmt: skip

    @router.post("/{name}/rollback")
    async def rollback(
        name: NamePath, data: RollbackCreate, where: WhereDep, session: SessionDep,
        principal: PrincipalDep, services: ServicesDep,
    ) -> SecretRead:  # fmt: skip
        """Make an old version current again, as a new version."""
        return await service.rollback(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, data.environment), version=data.version,
        )  # fmt: skip

    _rotation_routes(router, WhereDep)
    return router


def _rotation_routes(router: APIRouter, WhereDep: Any) -> None:  # noqa: N803 - a type alias
    """The rotation routes of a tier's router."""

    @router.get("/{name}/rotation")
    async def get_rotation(
        name: NamePath, where: WhereDep, session: SessionDep, principal: PrincipalDep,
        services: ServicesDep, environment: EnvQuery = None,
    ) -> RotationRead:  # fmt: skip
        """The secret's rotation policy and where its rotation stands."""
        return await rotation.get_policy(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, environment),
        )  # fmt: skip

    @router.put("/{name}/rotation")
    async def set_rotation(
        name: NamePath, data: RotationWrite, where: WhereDep, session: SessionDep,
        principal: PrincipalDep, services: ServicesDep,
    ) -> RotationRead:  # fmt: skip
        """Set how the secret is rotated: by DevFlow (`devflow-token`) or by hand with
        reminders (`manual`), how often, with what overlap."""
        return await rotation.set_policy(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, data.environment), data=data,
        )  # fmt: skip

    @router.delete("/{name}/rotation", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_rotation(
        name: NamePath, where: WhereDep, session: SessionDep, principal: PrincipalDep,
        services: ServicesDep, environment: EnvQuery = None,
    ) -> Response:  # fmt: skip
        """Remove the secret's rotation policy."""
        await rotation.delete_policy(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, environment),
        )  # fmt: skip
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/{name}/rotate")
    async def rotate_now(
        name: NamePath, where: WhereDep, session: SessionDep, principal: PrincipalDep,
        services: ServicesDep, environment: EnvQuery = None,
    ) -> RotationRead:  # fmt: skip
        """Rotate now: the new value is issued (and verified); the old one is revoked when
        the overlap ends."""
        return await rotation.rotate_now(
            session, _resolver(services).context(), principal=principal, where=where, name=name,
            environment=_environment(services, environment),
        )  # fmt: skip


system_router = _tier_router("/api/v1/secrets/system", _system, "secrets")
user_router = _tier_router("/api/v1/secrets/user", _user, "secrets")
project_router = _tier_router("/api/v1/projects/{project}/secrets", _project, "secrets")
router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"], responses=error_responses())


@router.post("/resolve")
async def resolve(
    data: ResolveRequest, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> list[Resolved]:
    """Resolve names for a project and the caller (project → user → system, each tier's
    providers in order), with provenance; values only with `reveal` (audited). Without names:
    every name the caller may read there."""
    resolver = _resolver(services)
    env = _environment(services, data.environment)
    project = await scopes.of_project(session, principal, data.project)
    user = scopes.of_user(principal) if principal.project_id is None else None
    names = data.names or await resolver.names_for(session, principal, project, user, env)
    return await resolver.resolve_many(
        session, principal=principal, names=names, project=project, user=user, environment=env,
        reveal=data.reveal,
    )  # fmt: skip


@router.get("/keys")
async def list_keys(session: SessionDep, principal: PrincipalDep) -> list[KeyRead]:
    """The key-encryption keys in use: ids, states, check values, values sealed (never keys)."""
    principal.require_instance_admin()
    return [
        KeyRead(
            key_id=k.key_id,
            state=k.state,
            fingerprint=k.fingerprint,
            sealed=sealed,
            created_at=k.created_at,
            activated_at=k.activated_at,
            retired_at=k.retired_at,
        )
        for k, sealed in await keys.described(session)
    ]


@router.post("/keys/rotate", status_code=status.HTTP_202_ACCEPTED)
async def rotate_key(
    data: RotateKeyCreate, session: SessionDep, principal: PrincipalDep, services: ServicesDep
) -> RotateKeyRead:
    """Make a new key active and queue the re-encryption of every value under it (old keys
    keep opening values meanwhile; they are retired when nothing uses them)."""
    principal.require_instance_admin()
    old, new, job_id = await rotation.rotate_key(
        session, _resolver(services).context(), principal=principal, to=data.to
    )
    return RotateKeyRead(
        old=old, new=new, job_id=job_id, remaining=await keys.remaining(session, new)
    )


@router.get("/audit")
async def audit_log(
    session: SessionDep,
    principal: PrincipalDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Older than this seq.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRead]:
    """The audit log, newest first (instance admins)."""
    principal.require_instance_admin()
    rows = await audit.list_entries(
        session, name=name, action=action, actor=actor, before_seq=before, limit=limit
    )
    return [AuditRead.model_validate(row, from_attributes=True) for row in rows]


@router.post("/audit/verify")
async def verify_audit(session: SessionDep, principal: PrincipalDep) -> AuditVerifyRead:
    """Check the whole audit chain; report the first broken link (instance admins)."""
    principal.require_instance_admin()
    report = await audit.verify(session)
    broken = report.broken
    problem = None
    if broken is not None:
        problem = (
            f"row {broken.seq} was changed: its columns hash to {broken.expected}, it holds "
            f"{broken.found}" if broken.problem == "hash" else
            f"the link into row {broken.seq} is broken (a row before it was removed or one "
            f"inserted): expected {broken.expected}, found {broken.found}"
        )  # fmt: skip
    return AuditVerifyRead(
        ok=report.ok, checked=report.checked, broken_at=broken.seq if broken else None,
        problem=problem,
    )  # fmt: skip


ROUTERS = (router, system_router, user_router, project_router)
