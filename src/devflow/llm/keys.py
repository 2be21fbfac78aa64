"""API keys: given directly, from the environment or `.env` (`env:NAME`), from DevFlow's secrets
store (`secret://NAME`) or from 1Password (`op://…`).

The last two are resolved by the secrets domain (`devflow.secrets.resolve_setting`: the system
tier, audited; 1Password's cache and last-known-good), handed in as a `ReferenceResolver` by the
process's services. A client made without services (a script, `devflow llm ping --local`) takes
keys given directly or through `env:` only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from devflow.core.errors import Invalid
from devflow.llm.settings import LLMProviderSettings

REFERENCE_SCHEMES = ("secret://", "op://")


class ReferenceResolver(Protocol):
    """Turns a `secret://NAME` or `op://…` setting into its value (`devflow.secrets`)."""

    async def __call__(self, value: str, *, purpose: str, label: str) -> str: ...


def raw_key(provider: LLMProviderSettings) -> str:
    """Return the provider's `api_key` setting as written (a key or a reference), or ''."""
    return provider.api_key.get_secret_value().strip() if provider.api_key else ""


def is_indirect(provider: LLMProviderSettings) -> bool:
    """Return whether the key is looked up (`env:`, `secret://`, `op://`): it may change."""
    return raw_key(provider).startswith(("env:", *REFERENCE_SCHEMES))


async def resolve_api_key(
    name: str,
    provider: LLMProviderSettings,
    *,
    resolve_reference: ReferenceResolver | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: Path = Path(".env"),
) -> str | None:
    """Return the provider's API key in clear, or None when it needs none.

    Raises:
        Invalid: no key where one is required, an unset variable, a reference this client cannot
            resolve; each names the provider, never the key.
        NotFound, OnePasswordError, ...: from `resolve_reference`, naming the provider and the
            reference (`provider 'x': secret://NAME is not set in the system tier …`).
    """
    raw = raw_key(provider)
    prefix = f"DEVFLOW_LLM__PROVIDERS__{name.upper()}"
    if not raw:
        if provider.key_required:
            # Said to whoever asked, often through the CLI: the setting is the server's.
            raise Invalid(
                f"provider {name!r} has no API key: set {prefix}__API_KEY (the key, `env:NAME`, "
                "`secret://NAME` or `op://vault/item/field`) where DevFlow runs and restart it, "
                f"or {prefix}__KEY_REQUIRED=false for a local server; to try DevFlow without a "
                "provider, `devflow llm fake-server` prints the settings of an offline stand-in"
            )
        return None
    if raw.startswith("env:"):
        return _from_environment(name, raw.removeprefix("env:"), environ, dotenv)
    if raw.startswith(REFERENCE_SCHEMES):
        if resolve_reference is None:
            scheme = raw.split("//", 1)[0] + "//"
            raise Invalid(
                f"provider {name!r}: a `{scheme}…` API key is resolved by DevFlow's services (the "
                "server, the worker, `devflow mcp`), and this client was made without them; ask "
                "the server (`devflow llm ping` without --local) or give the key as `env:NAME`"
            )
        return await resolve_reference(
            raw, purpose=f"llm provider {name}", label=f"provider {name!r}"
        )
    return raw


def _from_environment(name: str, var: str, environ: Mapping[str, str] | None, dotenv: Path) -> str:
    values = os.environ if environ is None else environ
    if values.get(var):
        return values[var]
    if dotenv.is_file():
        for line in dotenv.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.strip().removeprefix("export ").partition("=")
            if sep and key.strip() == var and value.strip():
                return value.strip().strip("'\"")
    raise Invalid(f"provider {name!r}: the API key variable {var} is not set (environment or .env)")
