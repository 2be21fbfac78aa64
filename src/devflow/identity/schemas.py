"""Identity input and output shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from devflow.core.auth import Role

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$",
    ),
]


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserCreate(BaseModel):
    """A new user."""

    username: Name = Field(description="Lower-case letters, digits, '.', '_' and '-'.")
    email: str | None = Field(None, max_length=254)
    display_name: str = Field("", max_length=200)
    is_admin: StrictBool = Field(False, description="Instance administrator (true or false).")


class UserRead(_Read):
    """A user."""

    id: uuid.UUID
    username: str
    email: str | None
    display_name: str
    is_admin: bool
    created_at: datetime


class ProjectCreate(BaseModel):
    """A new project."""

    name: Name = Field(description="Unique name used in URLs and commands.")
    description: str = Field("", max_length=2000)


class ProjectRead(_Read):
    """A project."""

    id: uuid.UUID
    name: str
    description: str
    created_at: datetime


class MemberRead(BaseModel):
    """A project member."""

    user_id: uuid.UUID
    username: str
    role: Role


class ProjectDetail(ProjectRead):
    """A project with its members and the caller's role."""

    members: list[MemberRead]
    your_role: Role | None


class MembershipSet(BaseModel):
    """Give a user a role in a project."""

    username: str = Field(min_length=1, max_length=64)
    role: Role


class TokenCreate(BaseModel):
    """A new API token for the calling user."""

    name: str = Field(min_length=1, max_length=100, description="What the token is for.")
    scopes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="Scope names (`GET /api/v1/scopes` lists them). Default: the scopes marked "
        "default there that your own token has.",
    )
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="None: no expiry.")
    project: str | None = Field(None, description="Restrict the token to this project.")


class ScopeRead(BaseModel):
    """A token scope: what a token with it may do."""

    name: str
    description: str
    implied_by: list[str] = Field(description="Scopes that carry this one (`admin` carries all).")
    default: bool = Field(description="Given to a new token that names no scopes.")


class TokenRead(_Read):
    """A token, without its secret."""

    id: uuid.UUID
    name: str
    hint: str
    scopes: list[str]
    project_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    """A new token; the secret is shown once, here, and never again."""

    token: str


class SessionCreate(BaseModel):
    """A token to exchange for a dashboard session."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=200, description="An API token (`dfl_…`).")


class SessionRead(BaseModel):
    """Who the caller is, and with what powers: its token's scopes, project and expiry."""

    user: UserRead
    scopes: list[str]
    project: str | None = Field(description="The one project the credential may act in.")
    expires_at: datetime | None
    kind: str = Field(
        description="`api` (a token), `session` (a sign-in link's dashboard session) or "
        "`token-session` (a dashboard session made from a pasted token)."
    )
