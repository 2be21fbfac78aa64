"""Settings of 1Password resolution (`DEVFLOW_SECRETS__ONEPASSWORD__…`)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class OnePasswordSettings(BaseModel):
    """Where `op://vault/item[/section]/field` references are resolved, and how long values are
    kept. With `connect_host` set, through a 1Password Connect server; else through the `op`
    CLI when it is found (signed in, or `OP_SERVICE_ACCOUNT_TOKEN` in its environment)."""

    connect_host: str | None = Field(
        None,
        description="Base URL of a 1Password Connect server (as `OP_CONNECT_HOST`), e.g. "
        "`http://op-connect:8080`.",
    )
    connect_token: SecretStr | None = Field(
        None, description="Access token of the Connect server (as `OP_CONNECT_TOKEN`)."
    )
    op_path: str = Field(
        "op",
        description="The 1Password CLI, used when no Connect server is set: a name looked up on "
        "PATH, or a full path.",
    )
    service_account_token: SecretStr | None = Field(
        None,
        description="A service-account token handed to `op` as `OP_SERVICE_ACCOUNT_TOKEN` "
        "(else `op` uses its own sign-in).",
    )
    cache_ttl_seconds: float = Field(
        300,
        ge=0,
        description="How long a resolved value is reused before 1Password is asked again "
        "(service accounts are rate limited); 0 asks every time.",
    )
    timeout_seconds: float = Field(
        10, gt=0, description="How long one request to 1Password may take."
    )
    last_known_good: bool = Field(
        False,
        description="Keep every resolved value, sealed with the secrets key, in "
        "$DEVFLOW_HOME/secrets/op-cache so that references still resolve while 1Password is "
        "unreachable (opt-in: the values then also live on this machine's disk, encrypted).",
    )
    last_known_good_max_age_seconds: float = Field(
        7 * 24 * 3600,
        gt=0,
        description="The oldest last-known-good value served during an outage.",
    )
