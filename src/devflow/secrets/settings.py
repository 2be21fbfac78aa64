"""Settings of the secrets domain (`DEVFLOW_SECRETS__…`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from devflow.secrets.onepassword.settings import OnePasswordSettings

ProviderName = Literal["onepassword", "dotenv", "environment", "store"]
DEFAULT_ORDER: tuple[ProviderName, ...] = ("onepassword", "dotenv", "environment", "store")


class SecretsSettings(BaseModel):
    """Where the key-encryption keys come from, the order of providers, and audit rules."""

    keys: SecretStr | None = Field(
        None,
        description="The key-encryption keys, as `ID:BASE64[,ID:BASE64 …]` (32 random bytes "
        "each: `devflow secrets new-key` prints one). Takes the place of the key file.",
    )
    key_reference: str | None = Field(
        None,
        description="An `op://vault/item/field` reference whose value holds the keys in the "
        "form of `keys`: the keys then live in 1Password only.",
    )
    key_file: Path | None = Field(
        None,
        description="File holding the keys, one `ID:BASE64` a line (mode 0600). Default: "
        "$DEVFLOW_HOME/secrets/keys, created with a first key on first start when neither "
        "`keys` nor `key_reference` is set. Which key seals new values is kept in the "
        "database (`devflow secrets keys`), so every process agrees.",
    )
    providers: list[ProviderName] = Field(
        default_factory=lambda: list(DEFAULT_ORDER),
        description="The order in which each tier's providers are asked: `onepassword` "
        "(a stored `op://` reference), `dotenv` (the tier's `.env` file), `environment` "
        "(this process's environment variables) and `store` (DevFlow's encrypted values). "
        "The first that knows the name wins; see docs/secrets.md for the trade-offs.",
    )
    dotenv_dir: Path | None = Field(
        None,
        description="Folder of the tiers' `.env` files: `system.env`, `users/<user>.env`, "
        "`projects/<project>.env` (and `<name>.<environment>.env` before each). Default: "
        "$DEVFLOW_HOME/secrets/env.",
    )
    environment_prefix: str = Field(
        "DEVFLOW_SECRET_",
        description="Environment variables read as secrets start with this: "
        "`DEVFLOW_SECRET_<NAME>` (system), `DEVFLOW_SECRET_<PROJECT>__<NAME>` (project), "
        "`DEVFLOW_SECRET_USER_<USER>__<NAME>` (user); project and user names upper-cased "
        "with `-` and `.` as `_`.",
    )
    default_environment: str = Field(
        "development",
        pattern=r"^[a-z][a-z0-9-]{0,31}$",
        description="The environment a secret belongs to when none is named.",
    )
    audit_required: bool = Field(
        True,
        description="Refuse to hand out a secret's value when its audit record cannot be "
        "written (as Vault does); false hands it out and logs the failure.",
    )
    key_rotation_days: int = Field(
        0,
        ge=0,
        le=3650,
        description="Rotate the key-encryption key when the active one is this many days old "
        "(0: never on its own). With the key file DevFlow makes the new key and re-encrypts; "
        "with keys given elsewhere it sends a `secret.key.rotation_due` reminder event.",
    )
    onepassword: OnePasswordSettings = Field(
        default_factory=OnePasswordSettings, description="1Password: Connect server or `op`."
    )

    @field_validator("providers")
    @classmethod
    def _distinct(cls, value: list[ProviderName]) -> list[ProviderName]:
        if not value:
            raise ValueError("name at least one provider, e.g. ['store']")
        if len(set(value)) != len(value):
            raise ValueError("each provider may appear once")
        return value
