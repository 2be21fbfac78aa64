"""Fakes of 1Password for tests and offline use.

`FakeConnect` is a real HTTP server on 127.0.0.1 (uvicorn in a thread) speaking the parts of the
Connect REST API that `connect.ConnectClient` uses: vaults by name filter or id, items by title
filter or id, full items with sections and fields. It checks the bearer token (401 otherwise),
logs every request, and plays scripted faults: an HTTP status for every request (`fail`), a
stall (`stall`), or no server at all on its port (`go_down` / `come_back`).

`FakeOp` writes a fake `op` executable (a Python script) answering `op read [--no-newline] ref`
from a JSON file next to it, failing as `op` does for unknown vaults, items and fields, for a
missing service-account token, and for a network outage.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import orjson
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devflow.core.threaded_server import ThreadedServer
from devflow.secrets.onepassword.settings import OnePasswordSettings

_ID_ALPHABET = string.ascii_lowercase + string.digits
_FILTER = re.compile(r'(?P<attr>name|title) eq "(?P<value>[^"]*)"')


def new_id() -> str:
    """Return a 1Password-style id: 26 lowercase letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


@dataclass(frozen=True)
class LoggedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    authorized: bool


@dataclass
class FakeConnect:
    """The fake Connect server. Use as a context manager, or `start()` / `stop()`."""

    token: str = "fake-connect-token"  # noqa: S105 - the fake's own, not a credential
    host: str = "127.0.0.1"
    port: int = 0
    _vaults: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    _log: list[LoggedRequest] = field(default_factory=list, init=False, repr=False)
    _status: int | None = field(default=None, init=False, repr=False)
    _stall: float | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _thread: ThreadedServer | None = field(default=None, init=False, repr=False)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the server's URL, as `OP_CONNECT_HOST` takes it."""
        return f"http://{self.host}:{self.port}"

    def settings(self, **overrides: Any) -> OnePasswordSettings:
        """Return 1Password settings pointing here with the right token; `overrides` replace
        fields."""
        values: dict[str, Any] = {
            "connect_host": self.base_url,
            "connect_token": SecretStr(self.token),
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return OnePasswordSettings.model_validate(values)

    def build_app(self) -> Starlette:
        """Return the ASGI app."""
        return Starlette(
            routes=[
                Route("/heartbeat", self._heartbeat, methods=["GET"]),
                Route("/v1/vaults", self._vaults_list, methods=["GET"]),
                Route("/v1/vaults/{vault_id}", self._vault, methods=["GET"]),
                Route("/v1/vaults/{vault_id}/items", self._items_list, methods=["GET"]),
                Route("/v1/vaults/{vault_id}/items/{item_id}", self._item, methods=["GET"]),
            ]
        )

    def start(self) -> Self:
        """Start serving in a background thread; return once it accepts connections."""
        if self._thread is None:
            self._thread = ThreadedServer(
                self.build_app(), self.host, self.port, "fake-1password-connect"
            )
        self.port = self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server (the port is kept for `come_back`)."""
        if self._thread is not None:
            self._thread.stop()

    def go_down(self) -> None:
        """Stop serving, keeping the port: connections are refused until `come_back()`."""
        self.stop()

    def come_back(self) -> None:
        """Serve again on the same port."""
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content -----------------------------------------------------------------------------------

    def add_vault(self, name: str) -> str:
        """Add a vault (or find the one of that name); return its id."""
        with self._lock:
            for vault in self._vaults.values():
                if vault["name"] == name:
                    return str(vault["id"])
            vault_id = new_id()
            self._vaults[vault_id] = {"id": vault_id, "name": name, "items": {}}
            return vault_id

    def add_item(
        self,
        vault: str,
        title: str,
        fields: Mapping[str, str] | None = None,
        sections: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Add an item to `vault` (created if new) with top-level `fields` ({label: value}) and
        `sections` ({section label: {label: value}}); return its JSON as Connect serves it."""
        vault_id = self.add_vault(vault)
        item_id = new_id()
        item_fields: list[dict[str, Any]] = [
            {"id": new_id(), "label": label, "value": value, "type": "CONCEALED"}
            for label, value in (fields or {}).items()
        ]
        item_sections = []
        for section_label, section_fields in (sections or {}).items():
            section_id = new_id()
            item_sections.append({"id": section_id, "label": section_label})
            item_fields += [
                {
                    "id": new_id(),
                    "label": label,
                    "value": value,
                    "type": "CONCEALED",
                    "section": {"id": section_id},
                }
                for label, value in section_fields.items()
            ]
        item: dict[str, Any] = {
            "id": item_id,
            "title": title,
            "vault": {"id": vault_id},
            "category": "LOGIN",
            "sections": item_sections,
            "fields": item_fields,
        }
        with self._lock:
            self._vaults[vault_id]["items"][item_id] = item
        copy: dict[str, Any] = json.loads(json.dumps(item))
        return copy

    # -- scripting ---------------------------------------------------------------------------------

    def fail(self, status: int = 503) -> None:
        """Answer every request with `status` until `clear_faults()`."""
        with self._lock:
            self._status = status

    def stall(self, seconds: float = 30.0) -> None:
        """Wait `seconds` before answering each request (past the client's timeout)."""
        with self._lock:
            self._stall = seconds

    def clear_faults(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._status = self._stall = None

    @property
    def requests(self) -> list[LoggedRequest]:
        """Return the requests received so far, oldest first."""
        with self._lock:
            return list(self._log)

    def count(self, kind: str) -> int:
        """Count the requests of one kind: `vaults`, `vault`, `items` or `item` (a full item)."""
        patterns = {
            "vaults": r"/v1/vaults",
            "vault": r"/v1/vaults/[^/]+",
            "items": r"/v1/vaults/[^/]+/items",
            "item": r"/v1/vaults/[^/]+/items/[^/]+",
        }
        return sum(1 for r in self.requests if re.fullmatch(patterns[kind], r.path))

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._log.clear()

    # -- protocol ----------------------------------------------------------------------------------

    async def _admit(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        authorized = secrets.compare_digest(auth.encode(), f"Bearer {self.token}".encode())
        with self._lock:
            self._log.append(
                LoggedRequest(
                    method=request.method,
                    path=request.url.path,
                    query=dict(request.query_params),
                    authorized=authorized,
                )
            )
            status, stall = self._status, self._stall
        if stall is not None:
            await asyncio.sleep(stall)
        if status is not None:
            return _error(status, "the fake is failing on purpose")
        if not authorized:
            return _error(401, "Invalid token signature")
        return None

    async def _heartbeat(self, _request: Request) -> Response:
        return Response(".", media_type="text/plain")

    async def _vaults_list(self, request: Request) -> Response:
        if (refusal := await self._admit(request)) is not None:
            return refusal
        wanted = _filtered(request, "name")
        with self._lock:
            found = [
                {"id": v["id"], "name": v["name"], "type": "USER_CREATED"}
                for v in self._vaults.values()
                if wanted is None or v["name"] == wanted
            ]
        return _json(found)

    async def _vault(self, request: Request) -> Response:
        if (refusal := await self._admit(request)) is not None:
            return refusal
        with self._lock:
            vault = self._vaults.get(request.path_params["vault_id"])
            found = None if vault is None else {"id": vault["id"], "name": vault["name"]}
        return _error(404, "Invalid Vault UUID") if found is None else _json(found)

    async def _items_list(self, request: Request) -> Response:
        if (refusal := await self._admit(request)) is not None:
            return refusal
        wanted = _filtered(request, "title")
        with self._lock:
            vault = self._vaults.get(request.path_params["vault_id"])
            if vault is None:
                return _error(404, "Invalid Vault UUID")
            found = [
                {k: i[k] for k in ("id", "title", "vault", "category")}
                for i in vault["items"].values()
                if wanted is None or i["title"] == wanted
            ]
        return _json(found)

    async def _item(self, request: Request) -> Response:
        if (refusal := await self._admit(request)) is not None:
            return refusal
        with self._lock:
            vault = self._vaults.get(request.path_params["vault_id"])
            item = None if vault is None else vault["items"].get(request.path_params["item_id"])
            body = None if item is None else orjson.dumps(item)
        if body is None:
            return _error(404, "item not found")
        return Response(body, media_type="application/json")


def _filtered(request: Request, attribute: str) -> str | None:
    raw = request.query_params.get("filter")
    if raw is None:
        return None
    match = _FILTER.fullmatch(raw)
    if match is None or match["attr"] != attribute:
        return "\x00"  # an unknown filter matches nothing
    return match["value"]


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _error(status: int, message: str) -> Response:
    return Response(
        orjson.dumps({"status": status, "message": message}),
        status_code=status,
        media_type="application/json",
    )


# -- the fake `op` ---------------------------------------------------------------------------------

_OP_SCRIPT = r'''#!{python}
"""A fake 1Password CLI written by devflow.secrets.onepassword.fake: `op read` only."""
import json, os, sys, time

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "op-state.json"), encoding="utf-8") as f:
    state = json.load(f)
with open(os.path.join(here, "op-calls"), "a", encoding="utf-8") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")


def fail(message):
    sys.stderr.write("[ERROR] 2026/01/01 00:00:00 " + message + "\n")
    sys.exit(1)


args = sys.argv[1:]
if not args or args[0] != "read":
    fail("unknown command %r for \"op\"" % (args[:1],))
newline = "--no-newline" not in args
rest = [a for a in args[1:] if a != "--no-newline"]
if len(rest) != 1:
    fail("expected exactly one secret reference")
ref = rest[0]
if state.get("stall"):
    time.sleep(state["stall"])
if state.get("down"):
    fail('could not read secret %r: error initializing client: Get '
         '"https://my.1password.com/api/v2/auth": dial tcp: lookup my.1password.com: '
         'no such host' % ref)
token = state.get("token")
if token is not None and os.environ.get("OP_SERVICE_ACCOUNT_TOKEN") != token:
    fail("You are not currently signed in. Please run `op signin --help` for instructions")
known = state["secrets"]
if ref in known:
    sys.stdout.write(known[ref] + ("\n" if newline else ""))
    sys.exit(0)
parts = ref[len("op://"):].split("/")
if not ref.startswith("op://") or len(parts) not in (3, 4):
    fail("could not parse secret reference %r" % ref)
vault, item = parts[0], parts[1]
paths = [k[len("op://"):].split("/") for k in known]
if not any(p[0] == vault for p in paths):
    fail('could not read secret %r: error resolving vault: "%s" isn\'t a vault in this '
         'account. Specify the vault with its ID or name.' % (ref, vault))
if not any(p[0] == vault and p[1] == item for p in paths):
    fail("could not read secret %r: could not find item %s in vault %s" % (ref, item, vault))
fail('could not read secret %r: "%s" isn\'t a field in the "%s" item' % (ref, parts[-1], item))
'''


def write_fake_op(
    folder: Path, values: Mapping[str, str] | None = None, *, token: str | None = None
) -> Path:
    """Write a fake `op` into `folder` answering `op read` with `values` ({reference: value});
    with `token`, it refuses to run unless `OP_SERVICE_ACCOUNT_TOKEN` is that. Return its path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    executable = folder / "op"
    executable.write_text(_OP_SCRIPT.replace("{python}", sys.executable), encoding="utf-8")
    executable.chmod(0o755)
    state = {"secrets": dict(values or {}), "token": token, "down": False, "stall": None}
    (folder / "op-state.json").write_text(json.dumps(state), encoding="utf-8")
    (folder / "op-calls").write_text("", encoding="utf-8")
    return executable


@dataclass
class FakeOp:
    """A fake `op` in `folder` (see `write_fake_op`), scripted through its JSON file."""

    folder: Path

    @classmethod
    def install(
        cls, folder: Path, values: Mapping[str, str] | None = None, *, token: str | None = None
    ) -> FakeOp:
        """Write the fake into `folder` and return it."""
        write_fake_op(folder, values, token=token)
        return cls(folder)

    @property
    def executable(self) -> Path:
        """The path of the fake `op`."""
        return self.folder / "op"

    def settings(self, **overrides: Any) -> OnePasswordSettings:
        """Return 1Password settings using this `op` (no Connect server)."""
        values: dict[str, Any] = {"op_path": str(self.executable), "timeout_seconds": 10.0}
        values.update(overrides)
        return OnePasswordSettings.model_validate(values)

    def set(self, reference: str, value: str) -> None:
        """Make `reference` resolve to `value`."""
        self._update(lambda state: state["secrets"].__setitem__(reference, value))

    def go_down(self, *, down: bool = True) -> None:
        """Fail every read as `op` does when 1Password cannot be reached (or stop failing)."""
        self._update(lambda state: state.__setitem__("down", down))

    def stall(self, seconds: float | None) -> None:
        """Sleep `seconds` before answering (None: answer at once)."""
        self._update(lambda state: state.__setitem__("stall", seconds))

    @property
    def calls(self) -> list[list[str]]:
        """The arguments of every run, oldest first."""
        lines = (self.folder / "op-calls").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def _update(self, change: Any) -> None:
        path = self.folder / "op-state.json"
        state = json.loads(path.read_text(encoding="utf-8"))
        change(state)
        path.write_text(json.dumps(state), encoding="utf-8")
