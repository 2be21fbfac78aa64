"""API keys: given directly, from the environment, from `.env`, or from 1Password (`op://`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from devflow.core.errors import Invalid
from devflow.llm.settings import LLMProviderSettings

_OP_TIMEOUT = 30.0


def resolve_api_key(
    name: str,
    provider: LLMProviderSettings,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv: Path = Path(".env"),
) -> str | None:
    """Return the provider's API key in clear, or None when it needs none.

    Raises:
        Invalid: no key where one is required, an unset variable, or a 1Password reference that
            cannot be read (the `op` CLI missing or failing); each names the provider.
    """
    raw = provider.api_key.get_secret_value().strip() if provider.api_key else ""
    prefix = f"DEVFLOW_LLM__PROVIDERS__{name.upper()}"
    if not raw:
        if provider.key_required:
            # Said to whoever asked, often through the CLI: the setting is the server's.
            raise Invalid(
                f"provider {name!r} has no API key: set {prefix}__API_KEY (the key, `env:NAME` "
                f"or `op://vault/item/field`) where DevFlow runs and restart it, or "
                f"{prefix}__KEY_REQUIRED=false for a local server; to try DevFlow without a "
                "provider, `devflow llm fake-server` prints the settings of an offline stand-in"
            )
        return None
    if raw.startswith("env:"):
        return _from_environment(name, raw.removeprefix("env:"), environ, dotenv)
    if raw.startswith("op://"):
        return _from_1password(name, raw)
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


def _from_1password(name: str, reference: str) -> str:
    op = shutil.which("op")
    if op is None:
        raise Invalid(
            f"provider {name!r}: the API key is a 1Password reference, but the `op` CLI is not "
            "installed (https://developer.1password.com/docs/cli/); install it and sign in, or "
            "give the key another way"
        )
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [op, "read", "--no-newline", reference],
            capture_output=True,
            text=True,
            timeout=_OP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Invalid(f"provider {name!r}: `op read` timed out (is 1Password signed in?)") from None
    if done.returncode != 0 or not done.stdout.strip():
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no value"
        # The reference names a vault item, not the secret itself: safe to show.
        raise Invalid(f"provider {name!r}: `op read {reference}` failed: {reason}")
    return done.stdout.strip()
