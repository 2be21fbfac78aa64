"""`devflow ssh-key add|list|remove`: the caller's SSH keys, through the server's API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table
from devflow.core.errors import Invalid

app = typer.Typer(
    help="Your SSH keys, which let `git` reach DevFlow over SSH.", no_args_is_help=True
)
_KEYS = "/api/v1/users/me/keys"


def add(
    file: Annotated[str, typer.Argument(help="A public key file (~/.ssh/id_ed25519.pub), or -.")],
    title: Annotated[str | None, typer.Option("--title", help="A name for the key.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a public key to your account.

    Example: devflow ssh-key add ~/.ssh/id_ed25519.pub
    """
    if file == "-":
        text = sys.stdin.read(64 * 1024)
    else:
        path = Path(file).expanduser()
        if not path.is_file():
            raise Invalid(f"no file {file}")
        text = path.read_text(errors="replace")[: 64 * 1024]
    key = client(url, token).request("POST", _KEYS, json={"key": text, "title": title})
    if as_json:
        emit_json(key)
    else:
        console.print(f"added {key['fingerprint']} ({key['title']})", highlight=False)


def list_keys(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """List your SSH keys."""
    keys = client(url, token).get(_KEYS)
    if as_json:
        emit_json(keys)
        return
    if not keys:
        console.print("no SSH keys: add one with `devflow ssh-key add ~/.ssh/id_ed25519.pub`")
        return
    rows = [
        {"id": k["id"], "title": k["title"], "fingerprint": k["fingerprint"],
         "last used": k["last_used_at"] or "never"}
        for k in keys
    ]  # fmt: skip
    table(rows, ["id", "title", "fingerprint", "last used"])


def remove(
    key_id: Annotated[
        str, typer.Argument(metavar="ID", help="The key's id (`devflow ssh-key list`).")
    ],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove one of your SSH keys."""
    client(url, token).request("DELETE", f"{_KEYS}/{quote(key_id, safe='')}")
    if as_json:
        emit_json({"id": key_id, "deleted": True})
    else:
        console.print(f"removed SSH key {key_id}", highlight=False)


app.command("add")(add)
app.command("list")(list_keys)
app.command("remove")(remove)


def register(root: typer.Typer) -> None:
    """Add `devflow ssh-key` to the root command."""
    root.add_typer(app, name="ssh-key")
