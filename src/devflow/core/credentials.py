"""The local credentials file: the admin token and server URL, for the CLI and `devflow mcp`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from devflow.core.errors import Invalid


@dataclass(frozen=True)
class Credentials:
    """Where the server is and the token to use."""

    url: str
    token: str


def write_credentials(path: Path, credentials: Credentials) -> None:
    """Write the file atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a file left there keeps its mode: O_CREAT's only sets a new one
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"url": credentials.url, "token": credentials.token}, handle)
        handle.write("\n")
    tmp.replace(path)


def read_credentials(path: Path) -> Credentials | None:
    """Read the file; None when it does not exist.

    Raises:
        Invalid: the file exists but cannot be understood.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(url=str(raw["url"]), token=str(raw["token"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise Invalid(
            f"{path} is not a DevFlow credentials file; delete it and restart "
            "`devflow up`, or pass --token"
        ) from None


def update_url(path: Path, url: str) -> None:
    """Point an existing credentials file at `url` (the port may change between starts)."""
    current = read_credentials(path)
    if current is not None and current.url != url:
        write_credentials(path, Credentials(url=url, token=current.token))
