"""Who is calling and what they may do: principals, scopes, roles and API token primitives."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.errors import Invalid, PermissionDenied, Unauthenticated
from devflow.core.services import Key

TOKEN_PREFIX = "dfl_"  # noqa: S105 - a public prefix, not a secret
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class ScopeDef:
    """A token scope: what a token may be used for. Core defines `read`, `write` and `admin`
    (`Scope`); a domain defines its own and lists them in its manifest (`Domain.scopes`).

    `admin` carries every scope; any other is carried by itself and by the scopes named in
    `implied_by` (`write` carries `read`).
    """

    value: str
    description: str
    implied_by: tuple[str, ...] = ()
    default: bool = False
    """Given to a new token that names no scopes (if the caller's own token has it)."""

    def __str__(self) -> str:
        return self.value


class Scope:
    """Core's scopes."""

    READ = ScopeDef(
        "read", "read projects, knowledge, jobs and events", implied_by=("write",), default=True
    )
    WRITE = ScopeDef(
        "write", "create and change things in projects the user belongs to", default=True
    )
    ADMIN = ScopeDef(
        "admin", "manage users, every project and instance settings (implies all scopes)"
    )


CORE_SCOPES = (Scope.READ, Scope.WRITE, Scope.ADMIN)


class ScopeCatalog:
    """Every scope this DevFlow knows: core's and its domains' (`devflow.domains`)."""

    def __init__(self, scopes: Iterable[ScopeDef]) -> None:
        self._scopes: dict[str, ScopeDef] = {}
        for scope in scopes:
            if scope.value in self._scopes:
                raise ValueError(f"the scope {scope.value!r} is defined twice")
            self._scopes[scope.value] = scope

    def __iter__(self) -> Iterator[ScopeDef]:
        return iter(self._scopes.values())

    @property
    def defaults(self) -> tuple[ScopeDef, ...]:
        """The scopes a new token gets when it names none."""
        return tuple(s for s in self._scopes.values() if s.default)

    def parse(self, values: Iterable[str]) -> list[ScopeDef]:
        """Validate scope names.

        Raises:
            Invalid: naming the unknown scope and the known ones.
        """
        scopes: dict[str, ScopeDef] = {}
        for value in values:
            found = self._scopes.get(value)
            if found is None:
                known = ", ".join(self._scopes)
                raise Invalid(
                    f"unknown scope {value!r}; known scopes: {known} "
                    "(`devflow token scopes` describes them)"
                )
            scopes[value] = found
        if not scopes:
            raise Invalid("a token needs at least one scope")
        return [scopes[v] for v in sorted(scopes)]


SCOPES: Key[ScopeCatalog] = Key("scopes")
"""The process's scope catalog, among its services."""


class Visibility(StrEnum):
    """Who may read a thing of a project (a package repository, a git repository): anyone, any
    signed-in user whose token is not restricted to another project, or the project's members."""

    PUBLIC = "public"
    INTERNAL = "internal"
    PRIVATE = "private"


class Role(StrEnum):
    """A user's role in a project, from most to least powerful."""

    OWNER = "owner"
    ADMIN = "admin"
    WRITE = "write"
    READ = "read"

    @property
    def rank(self) -> int:
        """Return a number that grows with the role's power."""
        return {"read": 1, "write": 2, "admin": 3, "owner": 4}[self.value]

    def allows(self, needed: Role) -> bool:
        """Return whether this role includes `needed`."""
        return self.rank >= needed.rank


@dataclass(frozen=True)
class Principal:
    """The caller on whose behalf an edge acts. Built by authentication; never from user input."""

    user_id: uuid.UUID
    username: str
    is_admin: bool
    scopes: frozenset[str]
    """The names of the scopes its token was given."""
    token_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None  # a token may be restricted to one project
    memberships: dict[uuid.UUID, Role] = field(default_factory=dict, compare=False)

    def has_scope(self, scope: ScopeDef) -> bool:
        """Return whether the credentials carry `scope`, directly or by implication."""
        held = self.scopes
        return (
            Scope.ADMIN.value in held
            or scope.value in held
            or any(s in held for s in scope.implied_by)
        )

    def require_scope(self, scope: ScopeDef) -> None:
        """Raise PermissionDenied unless the credentials carry `scope`."""
        if not self.has_scope(scope):
            raise PermissionDenied(
                f"this token lacks the {scope.value!r} scope; create one with "
                f"`devflow token create --scope {scope.value}`",
                details={"required_scope": scope.value},
            )

    @property
    def admin_powers(self) -> bool:
        """Return whether the caller is an instance admin using an `admin` token.

        A token restricted to a project keeps those powers inside that project only: instance-wide
        actions need `is_instance_admin`.
        """
        return self.is_admin and Scope.ADMIN.value in self.scopes

    @property
    def is_instance_admin(self) -> bool:
        """Return whether the caller may act on the whole instance (an unrestricted admin token)."""
        return self.admin_powers and self.project_id is None

    def require_instance_admin(self) -> None:
        """Raise PermissionDenied unless the caller is an instance admin with an unrestricted
        `admin` token."""
        if not self.is_instance_admin:
            restricted = " not restricted to a project" if self.admin_powers else ""
            raise PermissionDenied(
                f"only an instance admin with an `admin` token{restricted} may do this"
            )


class Authenticator(Protocol):
    """Turns a bearer token into its Principal (identity provides it, with a cache)."""

    def cached(self, token: str) -> Principal | None:
        """Return the token's Principal if it is known without the database (else None)."""
        ...

    async def authenticate(self, session: AsyncSession, token: str) -> Principal:
        """Return the token's Principal.

        Raises:
            Unauthenticated: the token is malformed, unknown, expired or revoked.
        """
        ...


AUTHENTICATOR: Key[Authenticator] = Key("authenticator")


def generate_token() -> str:
    """Return a new random API token (`dfl_` + 43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    """Return whether `value` has the shape of a DevFlow token (cheap check before a lookup)."""
    return token_problem(value) is None


_TOKEN_LENGTH = len(TOKEN_PREFIX) + (4 * _TOKEN_BYTES + 2) // 3  # the prefix + unpadded base64


def token_problem(value: str) -> str | None:  # noqa: PLR0911 - one answer per way to be wrong
    """Say what keeps `value` from having a DevFlow token's shape; None when it has it.

    The words repeat at most the value's first four characters: it may be someone's secret.
    """
    if not value.strip():
        return "it is empty"
    if value != value.strip():
        return "it has spaces or a line break around it"
    if value[:7].lower() == "bearer ":
        return "it starts with 'Bearer ': give the token alone"
    if not value.startswith(TOKEN_PREFIX):
        return f"DevFlow tokens start with {TOKEN_PREFIX!r}, this one with {value[:4]!r}"
    if not 20 <= len(value) <= 100:  # noqa: PLR2004 - generous bounds around the 47-char form
        return (
            f"it is {len(value)} characters long; DevFlow tokens are {_TOKEN_LENGTH} "
            f"({TOKEN_PREFIX!r} and {_TOKEN_LENGTH - len(TOKEN_PREFIX)} letters, digits, - or _)"
        )
    if not all(c.isalnum() or c in "-_" for c in value[len(TOKEN_PREFIX) :]):
        return f"after {TOKEN_PREFIX!r} a DevFlow token has only letters, digits, - and _"
    return None


def token_from_authorization(header: str | None) -> str | None:
    """Return the DevFlow token carried by an `Authorization` header in any client's wire form.

    `Bearer <token>` (npm, the API), `Basic base64(<anything>:<token>)` (pip, twine, uv with
    `__token__`; maven, helm), or `Basic base64(<token>:)`.

    Raises:
        Unauthenticated: a header that is neither form.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        user, _, password = decoded.partition(":")
        return password or user
    raise Unauthenticated("send `Authorization: Bearer <token>` or Basic `__token__:<token>`")
