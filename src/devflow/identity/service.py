"""Identity services: authentication, users, projects, memberships and tokens.

Every function that acts for someone takes the `Principal` and checks permissions itself.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import any_, bindparam, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events, jobs
from devflow.core.auth import (
    TOKEN_PREFIX,
    Principal,
    Role,
    Scope,
    ScopeCatalog,
    ScopeDef,
    Visibility,
    generate_token,
    hash_token,
    token_problem,
)
from devflow.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from devflow.core.reads import Reader, driver_sql
from devflow.identity.models import ApiToken, Membership, Project, SignInCode, User
from devflow.identity.schemas import (
    MemberRead,
    ProjectCreate,
    ProjectDetail,
    ProjectRead,
    SessionRead,
    TokenCreate,
    UserCreate,
    UserRead,
)

DEFAULT_PROJECT = "default"
# Token kinds: what a user made (`api`), a sign-in link's dashboard session (the user signed in,
# with the user's rights) and a dashboard session made from a pasted token (that token's rights).
SIGN_IN_SESSION = "session"
TOKEN_SESSION = "token-session"  # noqa: S105 - a kind of token, not a secret
_LAST_USED_RESOLUTION = timedelta(minutes=1)

# Every authenticated request runs this: one Core statement (token, user and the user's
# memberships in one round trip), built once so that only its cached compiled form is reused.
_AUTHENTICATE = (
    select(
        ApiToken.id,
        ApiToken.scopes,
        ApiToken.project_id,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id,
        User.username,
        User.is_admin,
        User.disabled,
        select(func.jsonb_object_agg(Membership.project_id, Membership.role))
        .where(Membership.user_id == User.id)
        .scalar_subquery(),
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_TOUCH = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


# -- authentication -------------------------------------------------------------------------------


async def authenticate(session: AsyncSession, *, token: str) -> Principal:
    """Turn a bearer token into a Principal.

    Raises:
        Unauthenticated: the token is malformed, unknown, expired or revoked (each said so).
    """
    principal, _ = await _authenticate(session, token)
    return principal


async def _authenticate(session: AsyncSession, token: str) -> tuple[Principal, datetime | None]:
    problem = token_problem(token)
    if problem is not None:
        raise Unauthenticated(f"this is not a DevFlow token: {problem}")
    row = (await session.execute(_AUTHENTICATE, {"token_hash": hash_token(token)})).first()
    if row is None:
        raise Unauthenticated(
            "unknown token: no DevFlow token has this value (a typo, another instance's token, "
            "or one deleted); create one with `devflow token create NAME`"
        )
    (token_id, scopes, project_id, expires_at, revoked_at, last_used_at) = row[:6]
    (user_id, username, is_admin, disabled, memberships) = row[6:]
    now = clock.now()
    if revoked_at is not None:
        raise Unauthenticated("this token was revoked")
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated(f"this token expired at {expires_at.isoformat()}")
    if disabled:
        raise Unauthenticated("this user is disabled")
    # Written at most once a minute per token, so reads stay reads.
    if last_used_at is None or now - last_used_at > _LAST_USED_RESOLUTION:
        await session.execute(_TOUCH, {"token_id": token_id, "now": now})
    principal = Principal(
        user_id=user_id,
        username=username,
        is_admin=is_admin,
        scopes=frozenset(scopes),
        token_id=token_id,
        project_id=project_id,
        memberships={uuid.UUID(pid): Role(role) for pid, role in (memberships or {}).items()},
    )
    return principal, expires_at


async def principal_for_user(
    session: AsyncSession, *, user_id: uuid.UUID, scopes: frozenset[str]
) -> Principal | None:
    """Return the Principal of a user authenticated by other means than a token (an SSH key),
    with `scopes` and their memberships now; None for a missing or disabled user."""
    user = await session.get(User, user_id)
    if user is None or user.disabled:
        return None
    roles = await session.execute(
        select(Membership.project_id, Membership.role).where(Membership.user_id == user.id)
    )
    return Principal(
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        scopes=scopes,
        memberships={project: Role(role) for project, role in roles},
    )


@dataclass(frozen=True)
class _Cached:
    principal: Principal
    expires_at: datetime | None  # the token's own expiry, checked on every hit
    fresh_until: float
    generation: int


class PrincipalCache:
    """Authenticated tokens of this process, reused for `ttl` seconds without a query.

    Only successes are kept (a bad token always reaches the database and its precise error). A
    token's expiry is checked on every hit. A change to identity made in this process (a token
    revoked, a membership set, a project created) clears every cache of the process when its
    transaction commits; one made by another process applies within `ttl` seconds.
    """

    _generation = 0  # bumped by `_identity_changed`, for every cache of the process

    def __init__(
        self, ttl: float, *, size: int = 10_000, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._size = size
        self._monotonic = monotonic
        self._entries: OrderedDict[str, _Cached] = OrderedDict()

    def cached(self, token: str) -> Principal | None:
        """Return the token's Principal if this process authenticated it moments ago."""
        if self.ttl <= 0:
            return None
        hit = self._entries.get(hash_token(token))
        if (
            hit is None
            or hit.generation != PrincipalCache._generation
            or self._monotonic() >= hit.fresh_until
            or (hit.expires_at is not None and hit.expires_at <= clock.now())
        ):
            return None
        # A copy: services may add to a principal's memberships within their transaction.
        return replace(hit.principal, memberships=dict(hit.principal.memberships))

    async def authenticate(self, session: AsyncSession, token: str) -> Principal:
        """Return the token's Principal, from the cache when it is fresh.

        Raises:
            Unauthenticated: as `authenticate`.
        """
        if self.ttl <= 0:
            return await authenticate(session, token=token)
        hit = self.cached(token)
        if hit is not None:
            return hit
        key = hash_token(token)
        now = self._monotonic()
        # Taken before the query: a change committed while it runs makes the entry stale at once.
        generation = PrincipalCache._generation
        principal, expires_at = await _authenticate(session, token)
        self._entries[key] = _Cached(
            replace(principal, memberships=dict(principal.memberships)),
            expires_at,
            now + self.ttl,
            generation,
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return principal


def _identity_changed(session: AsyncSession) -> None:
    """Invalidate this process's principal caches once the caller's transaction commits."""

    def bump(_: object) -> None:
        PrincipalCache._generation += 1  # noqa: SLF001 - the class's own counter

    event.listen(session.sync_session, "after_commit", bump, once=True)


def role_in(principal: Principal, project_id: uuid.UUID) -> Role | None:
    """Return the caller's effective role in a project (instance admins act as owners)."""
    if principal.project_id is not None and principal.project_id != project_id:
        return None
    if principal.admin_powers:
        return Role.OWNER
    return principal.memberships.get(project_id)


def require_role(principal: Principal, project: Project, needed: Role) -> None:
    """Raise unless the caller holds `needed` (or more) in `project`.

    Raises:
        NotFound: the caller is not a member (the project's existence is not revealed).
        PermissionDenied: a member whose role is too low, or a token without the scope.
    """
    role = role_in(principal, project.id)
    if role is None:
        raise NotFound(f"no project {project.name!r}")
    principal.require_scope(Scope.READ if needed is Role.READ else Scope.WRITE)
    if not role.allows(needed):
        raise PermissionDenied(
            f"your role in {project.name!r} is {role.value}; this needs {needed.value}"
        )


def visible_project_ids(principal: Principal) -> list[uuid.UUID] | None:
    """Return the projects whose data the caller may read (None: all of them)."""
    if principal.project_id is not None:
        return [principal.project_id] if role_in(principal, principal.project_id) else []
    if principal.is_instance_admin:
        return None
    return list(principal.memberships)


async def get_visible_job(
    session: AsyncSession, *, principal: Principal, job_id: int
) -> jobs.JobView:
    """Return a job the caller may see (a job of another project reads as missing).

    Raises:
        PermissionDenied: the token lacks `read`.
        NotFound: no such job, or not the caller's to see.
    """
    principal.require_scope(Scope.READ)
    job = await jobs.get_job(session, job_id=job_id)
    visible = visible_project_ids(principal)
    if visible is not None and job.project_id not in visible:
        raise NotFound(f"no job {job_id}")
    return job


def may_control_job(principal: Principal, job: jobs.JobView) -> bool:
    """Return whether the caller may cancel or retry `job`: a `write` token and the write role
    in the job's project (an instance-wide job: an instance admin)."""
    if not principal.has_scope(Scope.WRITE):
        return False
    if job.project_id is None:
        return principal.is_instance_admin
    role = role_in(principal, job.project_id)
    return role is not None and role.allows(Role.WRITE)


async def get_controllable_job(
    session: AsyncSession, *, principal: Principal, job_id: int
) -> jobs.JobView:
    """Return a job the caller may cancel or retry (`may_control_job`).

    Raises:
        NotFound: no such job, or not the caller's to see.
        PermissionDenied: the token lacks `write`, or the caller's role is too low.
    """
    job = await get_visible_job(session, principal=principal, job_id=job_id)
    principal.require_scope(Scope.WRITE)
    if job.project_id is None and not may_control_job(principal, job):
        raise PermissionDenied(
            f"job {job_id} is instance-wide: only an instance admin with an `admin` token may "
            "cancel or retry it"
        )
    if not may_control_job(principal, job):
        role = role_in(principal, job.project_id) if job.project_id else None
        raise PermissionDenied(
            f"your role in job {job_id}'s project is {role.value if role else 'none'}; "
            "cancelling or retrying its jobs needs write (a project admin can give it)"
        )
    return job


# -- users ----------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession, *, principal: Principal | None, data: UserCreate
) -> User:
    """Create a user (instance admins only; `principal=None` is the bootstrap on first start).

    Raises:
        Conflict: the user name is taken.
    """
    if principal is not None:
        principal.require_instance_admin()
    taken = await session.scalar(
        select(User.id).where(func.lower(User.username) == data.username.lower())
    )
    if taken is not None:
        raise Conflict(f"a user named {data.username!r} already exists")
    user = User(**data.model_dump())
    session.add(user)
    await session.flush()
    await events.emit(
        session,
        type="user.created",
        payload={"username": user.username},
        actor_id=principal.user_id if principal else None,
    )
    return user


async def require_user(session: AsyncSession, *, username: str) -> User:
    """Return a user by name or raise NotFound."""
    user = await session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


async def require_member(session: AsyncSession, *, project: Project, username: str) -> User:
    """Return a user who belongs to `project` (a member, or an instance admin), by name.

    For what another domain hands to a user of a project (a task's assignee): a name that is no
    member is NotFound whether or not the user exists elsewhere, so it reveals no other users.

    Raises:
        NotFound: no such user in the project.
    """
    user = await session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    if user is not None and not user.is_admin:
        member = await session.scalar(
            select(Membership.user_id).where(
                Membership.project_id == project.id, Membership.user_id == user.id
            )
        )
        user = user if member is not None else None
    if user is None:
        raise NotFound(
            f"no user {username!r} in project {project.name!r}; a project admin adds one with "
            f"`devflow project add-member {project.name} USER --role write`"
        )
    return user


async def count_users(session: AsyncSession) -> int:
    """Return how many users exist (zero means first start)."""
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


# -- projects -------------------------------------------------------------------------------------


async def get_project(session: AsyncSession, *, name: str) -> Project | None:
    """Return a project by name, or None."""
    return await session.scalar(select(Project).where(Project.name == name))


async def require_project(
    session: AsyncSession, *, principal: Principal, name: str | None, role: Role = Role.READ
) -> Project:
    """Return a project the caller holds `role` in; `name=None` means the default project.

    Raises:
        NotFound: no such project, or the caller is not a member.
        PermissionDenied: the caller's role or token scope is not enough.
    """
    project = await get_project(session, name=name or DEFAULT_PROJECT)
    if project is None:
        raise NotFound(f"no project {name or DEFAULT_PROJECT!r}")
    require_role(principal, project, role)
    return project


async def default_project_name(session: AsyncSession, *, principal: Principal) -> str:
    """Return the project a caller acts in when it names none: its token's project, or
    `default`."""
    if principal.project_id is not None:
        project = await session.get(Project, principal.project_id)
        if project is not None:
            return project.name
    return DEFAULT_PROJECT


# The listing is one prepared statement (`core.reads`): tuples go straight into the schema the
# route answers with. CPU per `GET /api/v1/projects`: ORM objects, then `model_validate` of each,
# 0.83 ms; the four columns through `session.execute` 0.69 ms; the statement on the session's
# connection 0.60 ms; on a connection of the read pool, with no session, 0.29 ms.
_PROJECT_COLUMNS = select(Project.id, Project.name, Project.description, Project.created_at)
_PROJECTS_SQL = driver_sql(_PROJECT_COLUMNS.order_by(Project.name))
_VISIBLE_PROJECTS_SQL = driver_sql(
    _PROJECT_COLUMNS.where(Project.id == any_(bindparam("ids"))).order_by(Project.name)
)


async def list_projects(reader: Reader, *, principal: Principal) -> list[ProjectRead]:
    """Return the projects the caller can see, by name.

    `reader` is the process's `READ_POOL`, or a `SessionReader` inside a unit of work.
    """
    principal.require_scope(Scope.READ)
    visible = visible_project_ids(principal)
    if visible == []:
        return []
    rows = await reader.all(
        _PROJECTS_SQL if visible is None else _VISIBLE_PROJECTS_SQL,
        None if visible is None else {"ids": visible},
    )
    return [
        ProjectRead(id=id_, name=name, description=description, created_at=created_at)
        for id_, name, description, created_at in rows
    ]


async def create_project(
    session: AsyncSession, *, principal: Principal, data: ProjectCreate
) -> Project:
    """Create a project owned by the caller.

    Raises:
        Conflict: the name is taken.
    """
    principal.require_scope(Scope.WRITE)
    if principal.project_id is not None:
        raise PermissionDenied("a project-scoped token cannot create projects")
    if await get_project(session, name=data.name) is not None:
        raise Conflict(f"a project named {data.name!r} already exists")
    project = Project(name=data.name, description=data.description, created_by=principal.user_id)
    session.add(project)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"a project named {data.name!r} already exists") from None
    session.add(Membership(project_id=project.id, user_id=principal.user_id, role=Role.OWNER))
    await session.flush()
    principal.memberships[project.id] = Role.OWNER
    _identity_changed(session)
    await events.emit(
        session,
        type="project.created",
        project_id=project.id,
        actor_id=principal.user_id,
        payload={"name": project.name},
    )
    return project


async def describe_project(
    session: AsyncSession, *, principal: Principal, name: str | None
) -> ProjectDetail:
    """Return a project with its members."""
    project = await require_project(session, principal=principal, name=name)
    rows = await session.execute(
        select(Membership.user_id, User.username, Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project.id)
        .order_by(User.username)
    )
    members = [MemberRead(user_id=uid, username=u, role=Role(r)) for uid, u, r in rows]
    return ProjectDetail(
        **ProjectRead.model_validate(project).model_dump(),
        members=members,
        your_role=role_in(principal, project.id),
    )


async def set_membership(
    session: AsyncSession, *, principal: Principal, project_name: str, username: str, role: Role
) -> Membership:
    """Give a user a role in a project (project admins and owners; only owners grant owner)."""
    project = await require_project(
        session, principal=principal, name=project_name, role=Role.ADMIN
    )
    caller = role_in(principal, project.id)
    if role is Role.OWNER and caller is not Role.OWNER:
        raise PermissionDenied("only an owner can make someone an owner")
    user = await require_user(session, username=username)
    membership = await session.get(Membership, (project.id, user.id))
    if membership is None:
        membership = Membership(project_id=project.id, user_id=user.id, role=role)
        session.add(membership)
    else:
        await _keep_a_manager(session, project, membership, role)
        membership.role = role
    await session.flush()
    _identity_changed(session)
    await events.emit(
        session,
        type="project.member_set",
        project_id=project.id,
        actor_id=principal.user_id,
        payload={"username": user.username, "role": role.value},
    )
    return membership


async def remove_membership(
    session: AsyncSession, *, principal: Principal, project_name: str, username: str
) -> None:
    """Take a user out of a project (project admins and owners; only owners remove an owner).

    Raises:
        NotFound: no such project (or not the caller's to see), user, or membership.
        PermissionDenied: the caller's role or token scope is not enough.
        Conflict: the user is the project's last owner (or, with no owner, its last admin).
    """
    project = await require_project(
        session, principal=principal, name=project_name, role=Role.ADMIN
    )
    user = await require_user(session, username=username)
    membership = await session.get(Membership, (project.id, user.id))
    if membership is None:
        raise NotFound(f"{username!r} is not a member of {project.name!r}")
    role = Role(membership.role)
    if role is Role.OWNER and role_in(principal, project.id) is not Role.OWNER:
        raise PermissionDenied(
            f"{username!r} is an owner of {project.name!r}: only an owner may remove them"
        )
    await _keep_a_manager(session, project, membership, None)
    await session.delete(membership)
    await session.flush()
    _identity_changed(session)
    await events.emit(
        session,
        type="project.member_removed",
        project_id=project.id,
        actor_id=principal.user_id,
        payload={"username": user.username, "role": role.value},
    )


async def _keep_a_manager(
    session: AsyncSession, project: Project, membership: Membership, new_role: Role | None
) -> None:
    """Refuse a change that would leave a project without an owner (or, in one that has no
    owner, without an admin): nobody but an instance admin could manage its members then."""
    current = Role(membership.role)
    if new_role is not None and new_role.allows(current):
        return  # the same role or a higher one
    # One change of a project's managers at a time: two admins removing each other at once
    # would each see the other stay.
    await session.execute(select(Project.id).where(Project.id == project.id).with_for_update())
    others = set(
        await session.scalars(
            select(Membership.role).where(
                Membership.project_id == project.id, Membership.user_id != membership.user_id
            )
        )
    )
    owners = Role.OWNER in others
    if current is Role.OWNER and not owners:
        last = "owner"
    elif current is Role.ADMIN and not owners and Role.ADMIN not in others:
        last = "admin"
    else:
        return
    user = await session.get_one(User, membership.user_id)
    change = "removed" if new_role is None else f"made {new_role.value}"
    raise Conflict(
        f"{user.username!r} is the last {last} of {project.name!r} and cannot be {change}: "
        f"make another member {last} first (devflow project add-member {project.name} <user> "
        f"--role {last}, or the project's page in the dashboard)",
        details={"fix": f"PUT /api/v1/projects/{project.name}/members with role {last}"},
    )


# -- tokens ---------------------------------------------------------------------------------------


async def issue_token(
    session: AsyncSession,
    *,
    user: User,
    name: str,
    scopes: list[ScopeDef],
    expires_in: timedelta | None = None,
    project_id: uuid.UUID | None = None,
    kind: str = "api",
    parent_id: uuid.UUID | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user` and return it with its secret (which is not stored)."""
    secret = generate_token()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        hint=secret[: len(TOKEN_PREFIX) + 4] + "…",
        scopes=[s.value for s in scopes],
        project_id=project_id,
        kind=kind,
        parent_id=parent_id,
        expires_at=clock.now() + expires_in if expires_in else None,
    )
    session.add(token)
    await session.flush()
    return token, secret


async def token_expiry(session: AsyncSession, *, token_id: uuid.UUID) -> datetime | None:
    """Return when a token expires (None: never, or no such token)."""
    expires_at: datetime | None = await session.scalar(
        select(ApiToken.expires_at).where(ApiToken.id == token_id)
    )
    return expires_at


async def delete_expired_tokens(
    session: AsyncSession, *, user_id: uuid.UUID, kind: str, before: datetime
) -> int:
    """Delete a user's tokens of `kind` that expired before `before` (short-lived kinds)."""
    gone = await session.execute(
        delete(ApiToken).where(
            ApiToken.user_id == user_id,
            ApiToken.kind == kind,
            ApiToken.expires_at.is_not(None),
            ApiToken.expires_at < before,
        )
    )
    return int(getattr(gone, "rowcount", 0) or 0)


async def create_token(
    session: AsyncSession, *, principal: Principal, data: TokenCreate, catalog: ScopeCatalog
) -> tuple[ApiToken, str]:
    """Create a token for the caller, with no more power than the caller's own token.

    `catalog` is every scope DevFlow knows (the process's `SCOPES` service).

    Raises:
        Invalid: an unknown scope.
        PermissionDenied: asking for a scope the caller's token lacks.
    """
    if data.scopes is None:
        scopes = [s for s in catalog.defaults if principal.has_scope(s)]
    else:
        scopes = catalog.parse(data.scopes)
    for scope in scopes:
        if not principal.has_scope(scope):
            raise PermissionDenied(f"your token lacks {scope.value!r}, so a new one cannot have it")
    if Scope.ADMIN in scopes:
        principal.require_instance_admin()
    project_id = principal.project_id
    if data.project is not None:
        project = await require_project(session, principal=principal, name=data.project)
        project_id = project.id
    user = await session.get_one(User, principal.user_id)
    expires = timedelta(days=data.expires_in_days) if data.expires_in_days else None
    expires = await _within_caller_lifetime(session, principal=principal, expires_in=expires)
    return await issue_token(
        session, user=user, name=data.name, scopes=scopes, expires_in=expires, project_id=project_id
    )


async def _within_caller_lifetime(
    session: AsyncSession, *, principal: Principal, expires_in: timedelta | None
) -> timedelta | None:
    """Cap a new token's lifetime at the expiry of the API token that asks for it.

    A token that expires cannot mint one that outlives it. A sign-in link's dashboard session is
    the user signed in, not a credential handed to a script, so its own short life is not passed
    on; a session made from a pasted token stands for that token and is capped like it (at the
    session's end, which is no later than the token's).
    """
    if principal.token_id is None:
        return expires_in
    row = (
        await session.execute(
            select(ApiToken.expires_at, ApiToken.kind).where(ApiToken.id == principal.token_id)
        )
    ).first()
    if row is None or row.expires_at is None or row.kind == SIGN_IN_SESSION:
        return expires_in
    left = row.expires_at - clock.now()
    return left if expires_in is None or expires_in > left else expires_in


async def list_tokens(session: AsyncSession, *, principal: Principal) -> list[ApiToken]:
    """Return the caller's API tokens, newest first."""
    principal.require_scope(Scope.READ)
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == principal.user_id, ApiToken.kind == "api")
        .order_by(ApiToken.created_at.desc())
    )
    if principal.project_id is not None:  # a restricted token sees only its project's tokens
        query = query.where(ApiToken.project_id == principal.project_id)
    return list(await session.scalars(query))


async def revoke_token(session: AsyncSession, *, principal: Principal, token_ref: str) -> ApiToken:
    """Revoke one of the caller's tokens by id or name (admins: anyone's, by id).

    Raises:
        NotFound: no such token of the caller's.
    """
    principal.require_scope(Scope.WRITE)
    query = select(ApiToken)
    try:
        query = query.where(ApiToken.id == uuid.UUID(token_ref))
    except ValueError:
        query = query.where(ApiToken.name == token_ref)
    if not principal.is_instance_admin:
        query = query.where(ApiToken.user_id == principal.user_id)
    if principal.project_id is not None:
        # A token restricted to a project acts there only: it may revoke tokens restricted to
        # the same project (itself included), never its user's wider ones.
        query = query.where(ApiToken.project_id == principal.project_id)
    matches = list(await session.scalars(query))
    if not matches:
        raise NotFound(f"no token {token_ref!r}")
    if len(matches) > 1:
        raise Invalid(f"{len(matches)} tokens are named {token_ref!r}; revoke one by its id")
    token = matches[0]
    if token.revoked_at is None:
        await _revoke(session, token)
    return token


async def _revoke(session: AsyncSession, token: ApiToken) -> None:
    """Revoke a valid token and the dashboard sessions opened with it."""
    token.revoked_at = clock.now()
    await session.execute(
        update(ApiToken)
        .where(ApiToken.parent_id == token.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=token.revoked_at)
    )
    await session.flush()
    _identity_changed(session)


async def retire_token(session: AsyncSession, *, token_id: uuid.UUID) -> bool:
    """Revoke a token by id for DevFlow itself (a rotation's revoke step, whose caller was
    checked when the rotation was set up). Returns whether it was still valid."""
    token = await session.get(ApiToken, token_id, with_for_update=True)
    if token is None or token.revoked_at is not None:
        return False
    await _revoke(session, token)
    return True


# -- first start and dashboard sign-in ------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """What first start created: the admin's token and a sign-in code (both shown once)."""

    token: str
    sign_in_code: str


async def bootstrap(
    session: AsyncSession, *, admin_username: str, code_ttl: timedelta
) -> Bootstrap | None:
    """On an empty instance, create the admin, its token and the default project.

    Returns None when users already exist. Safe against two processes starting at once: the
    unique user name lets only one transaction win.
    """
    if await count_users(session) > 0:
        return None
    admin = await create_user(
        session,
        principal=None,
        data=UserCreate(username=admin_username, display_name="Administrator", is_admin=True),
    )
    _, secret = await issue_token(session, user=admin, name="local-admin", scopes=[Scope.ADMIN])
    project = Project(
        name=DEFAULT_PROJECT, description="Used when no project is named.", created_by=admin.id
    )
    session.add(project)
    await session.flush()
    session.add(Membership(project_id=project.id, user_id=admin.id, role=Role.OWNER))
    code = await create_sign_in_code(session, user=admin, ttl=code_ttl)
    return Bootstrap(token=secret, sign_in_code=code)


async def create_sign_in_code(session: AsyncSession, *, user: User, ttl: timedelta) -> str:
    """Return a one-time code that signs `user` in to the dashboard."""
    code = secrets.token_urlsafe(24)
    session.add(
        SignInCode(user_id=user.id, code_hash=hash_token(code), expires_at=clock.now() + ttl)
    )
    await session.flush()
    return code


async def redeem_sign_in_code(session: AsyncSession, *, code: str, session_ttl: timedelta) -> str:
    """Exchange a sign-in code for a dashboard session token (the code works once).

    Raises:
        Unauthenticated: the code is unknown, used or expired.
    """
    row = await session.scalar(
        select(SignInCode).where(SignInCode.code_hash == hash_token(code)).with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        raise Unauthenticated(
            "this sign-in link is invalid, used or expired; run `devflow signin-link` for a new one"
        )
    row.used_at = clock.now()
    user = await session.get_one(User, row.user_id)
    scopes = [Scope.ADMIN] if user.is_admin else [Scope.READ, Scope.WRITE]
    _, secret = await issue_token(
        session,
        user=user,
        name="dashboard session",
        scopes=scopes,
        expires_in=session_ttl,
        kind=SIGN_IN_SESSION,
    )
    return secret


async def open_token_session(
    session: AsyncSession, *, token: str, catalog: ScopeCatalog, session_ttl: timedelta
) -> tuple[ApiToken, str]:
    """Exchange a token for a dashboard session that carries no more than it: the same scopes
    and project, ending at `session_ttl` or at the token's own expiry, whichever is sooner.

    Unlike a sign-in link's session, which carries its user's rights, this one carries the
    token's: a read-only or project-restricted token cannot widen itself by signing in.

    Raises:
        Unauthenticated: the token is malformed, unknown, expired or revoked.
    """
    principal = await authenticate(session, token=token)
    source = await session.get(ApiToken, principal.token_id) if principal.token_id else None
    if source is None:
        raise Unauthenticated(
            "this token cannot open a session; create one with `devflow token create`"
        )
    user = await session.get_one(User, principal.user_id)
    made, secret = await issue_token(
        session,
        user=user,
        name="dashboard session (pasted token)",
        scopes=catalog.parse(source.scopes),
        expires_in=session_ttl,
        project_id=source.project_id,
        kind=TOKEN_SESSION,
        parent_id=source.id,
    )
    if source.expires_at is not None and (
        made.expires_at is None or made.expires_at > source.expires_at
    ):
        made.expires_at = source.expires_at
        await session.flush()
    return made, secret


async def end_session(session: AsyncSession, *, token: str) -> None:
    """Sign a dashboard session out: revoke its token (API tokens are left alone: a cookie
    holding one is only forgotten by the browser)."""
    if token_problem(token) is not None:
        return
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.kind.in_((SIGN_IN_SESSION, TOKEN_SESSION)),
            ApiToken.revoked_at.is_(None),
        )
    )
    if row is not None:
        row.revoked_at = clock.now()
        await session.flush()
        _identity_changed(session)


async def describe_session(session: AsyncSession, *, principal: Principal) -> SessionRead:
    """Return who the caller is and what its credential may do (the dashboard's who-am-I)."""
    user = await require_user(session, username=principal.username)
    token = await session.get(ApiToken, principal.token_id) if principal.token_id else None
    project = await session.get(Project, principal.project_id) if principal.project_id else None
    return SessionRead(
        user=UserRead.model_validate(user),
        scopes=sorted(principal.scopes),
        project=project.name if project else None,
        expires_at=token.expires_at if token else None,
        kind=token.kind if token else "api",
    )


# -- access ---------------------------------------------------------------------------------------


def require_access(
    principal: Principal,
    project: Project | uuid.UUID,
    role: Role,
    *,
    scope: ScopeDef | None = None,
    missing: str | None = None,
    visible: bool = False,
    denied: str | None = None,
) -> Role:
    """Return the caller's role in `project` if it holds `role` (or more) there, with the token
    scope the action needs: the one permission check of every domain's things in a project.

    Private things stay hidden: a caller who holds no role in the project is told the thing does
    not exist, unless `visible` says the caller may see it anyway (a public repository), in which
    case it is refused instead. Instance admins act as owners (`role_in`).

    Args:
        scope: the scope the action needs (default: `read` for the read role, `write` above it).
        missing: the NotFound message, naming the thing (default: "no project <name>").
        visible: the caller may see the thing whatever its role: refuse, do not hide.
        denied: the PermissionDenied message for a role too low (default: the role held and
            the one needed).

    Raises:
        NotFound: no role in the project, and not `visible`.
        PermissionDenied: the token lacks `scope`, or the role is too low.
    """
    if isinstance(project, Project):
        project_id, where, unseen = project.id, repr(project.name), f"no project {project.name!r}"
    else:
        project_id, where, unseen = project, "its project", "no such project"
    held = role_in(principal, project_id)
    if held is None and not visible:
        raise NotFound(missing or unseen)
    principal.require_scope(scope or (Scope.READ if role is Role.READ else Scope.WRITE))
    if held is None or not held.allows(role):
        yours = held.value if held is not None else "none"
        raise PermissionDenied(
            denied or f"your role in {where} is {yours}; this needs {role.value}"
        )
    return held


def require_readable(
    principal: Principal | None,
    visibility: str | None,
    project_id: uuid.UUID | None,
    *,
    scope: ScopeDef,
    missing: str,
    anonymous: str,
) -> None:
    """Check that the caller may read a thing of a project that has a `Visibility` (a package
    repository, a git repository): public to anyone; internal to any signed-in caller whose
    token is not restricted to another project, with `scope`; private to the project's members
    (`require_access`). `visibility` (a `Visibility` value) None: the thing does not exist.

    A caller who may not read it learns nothing of it: anonymous callers are asked to
    authenticate (`anonymous`), signed-in ones are told it does not exist (`missing`).

    Raises:
        Unauthenticated: no caller, and the thing is missing or not public.
        NotFound: a signed-in caller who may not see it (or it does not exist).
        PermissionDenied: a caller who may see it, with a token lacking `scope`.
    """
    if visibility == Visibility.PUBLIC:
        return
    if principal is None:
        raise Unauthenticated(anonymous)
    if visibility is None or project_id is None:
        raise NotFound(missing)
    if visibility == Visibility.INTERNAL and principal.project_id in {None, project_id}:
        principal.require_scope(scope)  # any signed-in user: no role needed
        return
    require_access(principal, project_id, Role.READ, scope=scope, missing=missing)
