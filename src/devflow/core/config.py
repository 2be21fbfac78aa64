"""One typed settings tree for all of DevFlow: the core sections here, one section per domain
(its `settings.py`, named by its manifest), assembled by `devflow.settings`.

Environment variables use the prefix ``DEVFLOW_`` and ``__`` between a section and its field
(``DEVFLOW_SERVER__PORT=8080``); a ``.env`` file in the working directory is read too. The settings
are validated once at start and passed down explicitly: there is no module-level instance.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from devflow.core.errors import Invalid

if TYPE_CHECKING:
    from devflow.core.auth import Principal

ENV_PREFIX = "DEVFLOW_"
ENV_FILE = ".env"

SectionT = TypeVar("SectionT", bound=BaseModel)


def _default_home() -> Path:
    return Path("~/.devflow").expanduser()


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(3737, ge=1, le=65535, description="Port the HTTP server listens on.")
    external_url: str | None = Field(
        None,
        description="Public base URL (https://devflow.example.com) used in every absolute URL "
        "DevFlow hands out; defaults to http://<host>:<port>.",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body of the API's JSON routes; uploads have their own "
        "limits (registry.max_upload_bytes, knowledge.max_upload_bytes). A larger declared "
        "Content-Length is refused with 413 before anything is read.",
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request body may send nothing before the request is refused "
        "with 408 (a stalled or very slow upload).",
    )
    max_bodies_per_client: int = Field(
        16,
        ge=1,
        description="Request bodies one credential (or, without one, one client address) may "
        "have stalled at once (sending nothing for over a second); one more is refused with 429.",
    )
    telemetry: bool = Field(
        False,
        description="FastAPI's OpenTelemetry spans, metrics and logs per request, for an operator "
        "who exports them (OTEL_* settings); off, a request skips that work.",
    )
    ui_dir: Path | None = Field(
        None,
        description="Folder of the built dashboard (index.html and assets/) to serve; unset: "
        "the one inside the installed package (a checkout builds it with `make ui`).",
    )

    @field_validator("external_url")
    @classmethod
    def _url_has_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value


class DatabaseSettings(BaseModel):
    """Connection pool tuning; the URL itself is the top-level `database_url`."""

    pool_size: int = Field(10, ge=1, le=500, description="Connections kept open per process.")
    max_overflow: int = Field(10, ge=0, le=500, description="Extra connections under load.")
    read_pool_size: int = Field(
        8,
        ge=1,
        le=100,
        description="Connections per process for hot single-statement reads (`core.reads`).",
    )
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a connection.")
    pool_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a request waits for a free pooled connection before it is "
        "answered 503 (the database is busy).",
    )
    statement_timeout_ms: int = Field(
        30_000, ge=0, description="Server-side statement timeout for API requests (0 = none)."
    )


class EmbeddedPostgresSettings(BaseModel):
    """The PostgreSQL that `devflow up` runs when no `database_url` is set."""

    port: int = Field(
        0, ge=0, le=65535, description="TCP port on 127.0.0.1 (0 = pick a free one and keep it)."
    )
    service_user: str = Field(
        "devflow-pg",
        description="Unprivileged system user that runs PostgreSQL when DevFlow runs as root "
        "(PostgreSQL refuses to run as root).",
    )
    system_dir: Path = Field(
        Path("/var/lib/devflow"),
        description="When running as root and DEVFLOW_HOME is not reachable by the service user, "
        "the cluster and a copy of the server binaries live here instead of loosening the "
        "permissions of your home folder.",
    )
    start_timeout: float = Field(30.0, gt=0, description="Seconds to wait for PostgreSQL to start.")


class LogSettings(BaseModel):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Minimum level of log lines."
    )
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="`auto` writes JSON lines unless stderr is a terminal."
    )
    access_log: bool = Field(True, description="Log one line per HTTP request.")


class FilesSettings(BaseModel):
    """Permissions of what DevFlow writes: DEVFLOW_HOME, blobs, logs and their temporary files."""

    group_readable: bool = Field(
        False,
        description="Let the owning group read DevFlow's data (folders 0750, files 0640), for a "
        "backup agent or an operator in that group; otherwise folders are 0700 and files 0600, "
        "readable by DevFlow's user only. The credentials file stays 0600 either way, and a "
        "stricter umask narrows both.",
    )

    @property
    def dir_mode(self) -> int:
        """Mode of the folders DevFlow creates."""
        return 0o750 if self.group_readable else 0o700

    @property
    def file_mode(self) -> int:
        """Mode of the files DevFlow creates."""
        return 0o640 if self.group_readable else 0o600

    @property
    def umask(self) -> int:
        """The process umask that gives those modes to whatever else is created."""
        return 0o027 if self.group_readable else 0o077


class BlobSettings(BaseModel):
    """The blob store: content-addressed files of every domain (registry packages, CI artifacts,
    uploads), in a folder or an S3-compatible bucket.

    Formerly `DEVFLOW_REGISTRY__BLOB_BACKEND`, `__BLOB_DIR` and `__S3_*`: those names still work
    (with a warning at start) while these are unset.
    """

    backend: Literal["filesystem", "s3"] = Field(
        "filesystem", description="Where blobs live: `filesystem` (a folder) or `s3` (a bucket)."
    )
    dir: Path | None = Field(
        None, description="Folder of the filesystem blob store (default: DEVFLOW_HOME/blobs)."
    )
    s3_bucket: str = Field("", description="S3 bucket of the `s3` blob store.")
    s3_prefix: str = Field("", description="Key prefix inside the bucket (e.g. `devflow/`).")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph, moto); unset: AWS."
    )
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: SecretStr | None = Field(
        None, description="S3 access key id (unset: the usual AWS credential chain)."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")


class AuthSettings(BaseModel):
    """Identity and tokens."""

    admin_username: str = Field("admin", description="Name of the admin user made on first start.")
    sign_in_link_ttl_minutes: int = Field(
        15, ge=1, le=1440, description="Lifetime of the one-time dashboard sign-in link."
    )
    session_ttl_hours: int = Field(
        12, ge=1, le=24 * 30, description="Lifetime of a dashboard session."
    )
    principal_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a server process reuses an authenticated token without asking "
        "the database (0: never). Changes made through another process (a revoked token, a "
        "new role) apply within this time; changes made through the same process, at once.",
    )


class McpSettings(BaseModel):
    """The MCP gateway for coding agents: `devflow mcp` (stdio) and streamable HTTP at /mcp."""

    tools: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Tools to offer: names or shell patterns (`knowledge_*`); `*` offers all.",
    )
    exclude_tools: list[str] = Field(
        default_factory=list, description="Tools to withhold (names or patterns), after `tools`."
    )
    max_output_chars: int = Field(
        16_000,
        ge=1_000,
        le=1_000_000,
        description="Hard cap on the text one tool call or resource read returns (about 4 "
        "characters a token); longer output is cut and says how to get the rest.",
    )
    page_size: int = Field(
        20, ge=1, le=200, description="Items a listing returns before it hands out a cursor."
    )
    stateless: bool = Field(
        True,
        description="Serve streamable HTTP without server-side sessions, so any server behind a "
        "load balancer can answer any request.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra `Host` values accepted at /mcp besides localhost, the bind address and "
        "the external URL (`host:port`, `host:*`, or `*` for any).",
    )


class JobSettings(BaseModel):
    """The background job worker."""

    concurrency: int = Field(4, ge=1, le=256, description="Jobs one worker runs at once.")
    max_attempts: int = Field(5, ge=1, le=100, description="Attempts before a job is failed.")
    retry_base_seconds: int = Field(
        2, ge=1, description="Exponential backoff base: waits base**(attempt+1) seconds."
    )
    stalled_after_seconds: float = Field(
        30.0,
        ge=5,
        description="A job whose worker sent no heartbeat for this long is retried elsewhere.",
    )
    extra_modules: list[str] = Field(
        default_factory=list,
        description="Python modules defining a module-level procrastinate `blueprint` of extra "
        "tasks to load into the worker (plugins).",
    )


class Settings(BaseSettings):
    """Everything DevFlow can be told. Every field maps to DEVFLOW_<SECTION>__<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory: embedded PostgreSQL, blobs, repositories, logs, credentials.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="External PostgreSQL (postgresql://user:pass@host:5432/db). Unset: "
        "`devflow up` runs an embedded PostgreSQL under DEVFLOW_HOME.",
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP server.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="Pool.")
    embedded_pg: EmbeddedPostgresSettings = Field(
        default_factory=EmbeddedPostgresSettings, description="Embedded PostgreSQL."
    )
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
    files: FilesSettings = Field(
        default_factory=FilesSettings, description="Permissions of files under DEVFLOW_HOME."
    )
    blobs: BlobSettings = Field(
        default_factory=BlobSettings, description="Blob store (folder or S3 bucket)."
    )
    mcp: McpSettings = Field(default_factory=McpSettings, description="MCP gateway.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="Identity.")
    jobs: JobSettings = Field(default_factory=JobSettings, description="Job worker.")

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
            raise ValueError("must be a postgresql:// URL")
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("must name a host (postgresql://user:password@host:5432/dbname)")
        return value

    @property
    def base_url(self) -> str:
        """Return the URL clients should use to reach this server."""
        if self.server.external_url:
            return self.server.external_url
        host = self.server.host
        if host in {"0.0.0.0", "::", ""}:
            host = "127.0.0.1"
        return f"http://{host}:{self.server.port}"

    @property
    def credentials_path(self) -> Path:
        """Return where the admin token is written for the CLI and `devflow mcp`."""
        return self.home / "credentials"

    def section(self, kind: type[SectionT]) -> SectionT:
        """Return a domain's section of the tree by its class (`settings.section(LLMSettings)`).

        Raises:
            LookupError: no section of that class (its domain is not in `devflow.domains`).
        """
        for name in type(self).model_fields:
            value = getattr(self, name)
            if type(value) is kind:
                return value
        raise LookupError(f"the settings have no {kind.__name__} section")


def load_settings(settings_class: type[Settings] = Settings, **overrides: Any) -> Settings:
    """Build and validate settings from the environment, `.env` and overrides.

    `settings_class` is the tree to build: this core part (what every process needs before it
    knows its domains, such as DEVFLOW_HOME), or the whole tree with every domain's section
    (`devflow.settings.load_settings`).

    Raises:
        Invalid: naming each bad key (as its environment variable) and the reason.
    """
    try:
        return settings_class(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = "__".join(str(p) for p in error["loc"]).upper()
            problems.append(f"{ENV_PREFIX}{key}: {error['msg']}")
        raise Invalid("invalid settings: " + "; ".join(problems)) from None


def load_section(name: str, kind: type[SectionT]) -> SectionT:
    """Read one domain's section (`DEVFLOW_<NAME>__…`) without the rest of the tree, for a
    command that needs no more (`devflow llm ping`).

    Raises:
        Invalid: as `load_settings`.
    """
    section: dict[str, Any] = {name: (kind, Field(default_factory=kind))}
    tree = create_model(f"{kind.__name__}Tree", __base__=Settings, **section)
    return load_settings(tree).section(kind)


def mask_url(url: str) -> str:
    """Return the URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class SettingRow:
    """One leaf of the settings tree, for `devflow config show` and `GET /api/v1/settings`."""

    key: str
    env: str
    value: Any
    source: str
    description: str
    secret: bool = False  # the value holds a secret, shown masked


SET_AT_START = "set at start"
"""The source of a value given by the command that started the process (`--port`, the embedded
PostgreSQL's URL of `devflow up`) rather than read from the environment or `.env`."""

# A string in a mapping under such a key is a credential whatever its type says (an LLM
# provider's `headers`: Authorization, api-key, x-api-key, Cookie …).
_SENSITIVE = re.compile(r"auth|key|token|secret|passw|cookie|credential|session", re.IGNORECASE)


def describe_settings(settings: Settings) -> list[SettingRow]:
    """List every leaf setting with its effective value (secrets masked) and where it came from.

    A leaf's source is the environment or `.env` when a variable names it, one of its entries
    (`DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY` sets `llm.providers`) or its section as JSON;
    else `SET_AT_START` when the starting command gave it; else `default`. Secrets (`SecretStr`,
    anywhere in the value, and credential-like entries of a mapping) are masked.
    """
    dotenv = _read_dotenv(Path(ENV_FILE))
    environ = {k.upper(): v for k, v in os.environ.items()}
    rows: list[SettingRow] = []

    def walk(model: BaseModel, prefix: list[str]) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            path = [*prefix, name]
            if isinstance(value, BaseModel):
                walk(value, path)
                continue
            env = ENV_PREFIX + "__".join(path).upper()
            names = [ENV_PREFIX + "__".join(path[:i]).upper() for i in range(1, len(path) + 1)]
            source = "default"
            if name in model.model_fields_set:
                source = SET_AT_START
            if _names_any(dotenv, names):
                source = ENV_FILE
            if _names_any(environ, names):
                source = "environment"
            masked: list[bool] = []
            shown = _display(value, masked=masked)
            rows.append(
                SettingRow(".".join(path), env, shown, source, field.description or "", any(masked))
            )

    walk(settings, [])
    return rows


def effective_settings(settings: Settings, *, principal: Principal) -> list[SettingRow]:
    """Return `describe_settings(settings)` to an instance admin: the whole configuration, even
    masked, says where the database, the blobs and the providers are.

    Raises:
        PermissionDenied: the caller is not an instance admin with an unrestricted admin token.
    """
    principal.require_instance_admin()
    return describe_settings(settings)


def _names_any(variables: dict[str, str], names: list[str]) -> bool:
    """Return whether a variable sets the leaf (`names[-1]`), an entry below it, or one of its
    sections (`names[:-1]`, as JSON)."""
    leaf = names[-1]
    return any(n in variables for n in names) or any(v.startswith(leaf + "__") for v in variables)


def _display(value: Any, *, masked: list[bool], key: str = "") -> Any:
    """Return `value` as JSON-ready data with every secret in it masked (noted in `masked`)."""
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): _display(v, masked=masked, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_display(v, masked=masked) for v in value]
    if isinstance(value, SecretStr):
        masked.append(True)
        secret = value.get_secret_value()
        return mask_url(secret) if "://" in secret else "***"
    if isinstance(value, str) and _SENSITIVE.search(key):
        masked.append(True)
        return "***"
    return str(value) if isinstance(value, Path) else value


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    keys: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, _, val = stripped.removeprefix("export ").partition("=")
            keys[key.strip().upper()] = val
    return keys
