"""Input and output shapes of imports and pull mirrors, and the checks of a source URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StrictBool

from devflow.core.auth import Visibility
from devflow.core.errors import Invalid
from devflow.repos.schemas import RepoName, name_problem

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
DAY = 86400
SECRET_SCHEME = "secret://"  # noqa: S105 - a scheme, not a credential
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
TOKEN_USER = "x-access-token"  # noqa: S105 - a user name, not a credential
"""The user name sent with a credential that is a token alone (as GitHub's)."""


@dataclass(frozen=True)
class SourceUrl:
    """A checked source URL: http(s), a host, no credentials."""

    url: str
    host: str
    port: int


def check_source_url(url: str) -> SourceUrl:
    """Return the URL checked, or raise Invalid saying why it cannot be a source.

    Only `http://` and `https://` (git's `file://`, `ssh://`, `ext::` and scp-like forms are
    refused, and git is run with those transports off anyway), with a host, no user name or
    password (credentials would be stored and shown with the URL: DevFlow refuses them),
    no whitespace or control characters.
    """
    if _CONTROL.search(url):
        raise Invalid("a source URL may not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("not a URL: give http(s)://host/path") from None
    if parts.scheme not in {"http", "https"}:
        raise Invalid("only http:// and https:// sources can be imported or mirrored")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Invalid(
            "a source URL may not hold a user name or password: DevFlow does not store "
            "credentials for imports; import a public repository, or push yours instead"
        )
    if not parts.hostname:
        raise Invalid("a source URL needs a host")
    return SourceUrl(
        url=url,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
    )


def check_credentials(reference: str) -> str:
    """Return a credentials reference (`secret://NAME`) checked (ValueError: not one)."""
    name = reference.removeprefix(SECRET_SCHEME)
    if not reference.startswith(SECRET_SCHEME) or not _SECRET_NAME.fullmatch(name):
        raise ValueError(
            "credentials are a reference to a secret of the project, `secret://NAME` (set it "
            "with `devflow secrets set NAME --project P`), never the credentials themselves"
        )
    return reference


def secret_name(reference: str) -> str:
    """The secret a checked credentials reference names."""
    return reference.removeprefix(SECRET_SCHEME)


def basic_auth(value: str) -> tuple[str, str]:
    """The user and password a credentials secret's value gives: `user:password`, or a token
    alone (sent as the password of user `x-access-token`, as GitHub takes it)."""
    user, sep, password = value.partition(":")
    return (user, password) if sep and user else (TOKEN_USER, value)


Credentials = Annotated[str, AfterValidator(check_credentials)]


def name_from_url(url: str) -> str:
    """Return the repository name a URL suggests (its last path part, without `.git`).

    Raises:
        Invalid: that part is not a valid name (give one with --name).
    """
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").lower()
    if not last or name_problem(last):
        raise Invalid(f"cannot name the repository after {last!r}: give a name (--name)")
    return last


class ImportCreate(BaseModel):
    """A repository to import from a URL, once or as a pull mirror."""

    url: str = Field(max_length=2000, description="An http(s) git URL, without credentials.")
    name: RepoName | None = Field(None, description="Default: the URL's last part.")
    description: str = Field("", max_length=2000)
    visibility: Visibility = Visibility.PRIVATE
    mirror: StrictBool = Field(
        False, description="Keep fetching from the URL at `interval_seconds`; refuses pushes."
    )
    interval_seconds: int = Field(
        3600,
        ge=60,
        le=7 * DAY,
        description="How often a mirror fetches (at least the "
        "setting `repos.mirrors.min_interval_seconds`).",
    )
    credentials: Credentials | None = Field(
        None,
        max_length=200,
        description="`secret://NAME`: a secret of the project whose value is `user:password` "
        "or a token (sent as user `x-access-token`); used for the clone and every fetch.",
    )


class ImportStarted(BaseModel):
    """An import under way: follow its job (`devflow job show ID --watch`)."""

    job_id: int
    project: str
    name: str
    mirror: bool


class MirrorRead(BaseModel):
    """A pull mirror: its source, interval and last fetch."""

    url: str
    interval_seconds: int
    next_fetch_at: datetime
    last_fetched_at: datetime | None
    last_error: str | None
    credentials: str | None = Field(
        None, description="The reference `secret://NAME` fetches authenticate with."
    )


class SyncStarted(BaseModel):
    """A mirror fetch queued."""

    job_id: int


__all__ = [
    "ImportCreate",
    "ImportStarted",
    "MirrorRead",
    "SourceUrl",
    "SyncStarted",
    "basic_auth",
    "check_credentials",
    "check_source_url",
    "name_from_url",
    "secret_name",
]
