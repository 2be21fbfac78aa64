"""`devflow secrets …`: set, read, list, delete, history, rollback, import, export and run with
secrets; keys and the audit log. Values are never printed unless asked with `--reveal` (or
`export`), and never taken from the command line unless given there."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table
from devflow.core.errors import Invalid
from devflow.secrets.names import check_name

app = typer.Typer(
    help="Secrets: values sealed in DevFlow, 1Password references, .env files and environment "
    "variables, resolved project → user → system; every read audited.",
    no_args_is_help=True,
)

ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="A project's secrets (default project).")
]
UserOpt = Annotated[bool, typer.Option("--user", help="Your own secrets.")]
SystemOpt = Annotated[bool, typer.Option("--system", help="DevFlow's own (instance admins).")]
EnvOpt = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Environment: development, staging, production … "
                 "(default: the server's default_environment)."),
]  # fmt: skip


def _path(base: str, name: str, tail: str = "") -> str:
    """The URL of secret `name` under `base` (the name checked here: a `/` would otherwise
    reach the server as another route)."""
    return f"{base}/{quote(check_name(name), safe='')}{tail}"


def _base(project: str | None, user: bool, system: bool) -> str:
    if sum((project is not None, user, system)) > 1:
        raise Invalid("choose one of --project, --user and --system")
    if user:
        return "/api/v1/secrets/user"
    if system:
        return "/api/v1/secrets/system"
    return f"/api/v1/projects/{quote(project or 'default', safe='')}/secrets"


def _params(env: str | None, **more: Any) -> dict[str, Any]:
    return {k: v for k, v in {"environment": env, **more}.items() if v not in (None, False)}


def _read_value(value: str | None, from_stdin: bool) -> str:
    if value is not None and from_stdin:
        raise Invalid("give the value as an argument or --from-stdin, not both")
    if value is not None:
        return value
    if from_stdin or not sys.stdin.isatty():
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") and text.count("\n") == 1 else text
    return typer.prompt("value", hide_input=True)  # type: ignore[no-any-return]


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="Letters, digits and `_` (an env var's name).")],
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value (it stays in your shell history: prefer --from-stdin or the prompt)."
        ),
    ] = None,
    from_stdin: Annotated[bool, typer.Option("--from-stdin", help="Read it from stdin.")] = False,
    reference: Annotated[
        str | None, typer.Option("--reference", "--op", help="Store `op://vault/item/field`.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a secret (a new version each time): `devflow secrets set DB_PASSWORD --from-stdin
    < file`, or `--op op://vault/item/field` to store a 1Password reference."""
    body: dict[str, Any] = {"environment": env, "description": description}
    if reference is not None:
        if value is not None or from_stdin:
            raise Invalid("give a value or --reference, not both")
        body["reference"] = reference
    else:
        body["value"] = _read_value(value, from_stdin)
    made = client(url, token).request(
        "PUT", _path(_base(project, user, system), name),
        json={k: v for k, v in body.items() if v is not None},
    )  # fmt: skip
    if as_json:
        emit_json(made)
        return
    console.print(
        f"{made['name']} set in {made['scope']} ({made['environment']}): version "
        f"{made['version']}", highlight=False,
    )  # fmt: skip


@app.command("get")
def get(
    name: str,
    reveal: Annotated[bool, typer.Option("--reveal", help="Print the value (audited).")] = False,
    reason: Annotated[str, typer.Option(help="Why you read it (in the audit log).")] = "",
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a secret's metadata; with --reveal, its value alone on stdout."""
    found = client(url, token).get(
        _path(_base(project, user, system), name),
        params=_params(env, reveal=reveal, reason=reason or None),
    )
    if as_json:
        emit_json(found)
    elif reveal and found.get("value") is not None:
        sys.stdout.write(found["value"] + ("\n" if sys.stdout.isatty() else ""))
    else:
        what = found["reference"] if found["kind"] == "reference" else "sealed value"
        console.print(
            f"{found['name']} in {found['scope']} ({found['environment']}): version "
            f"{found['version']}, {what}", highlight=False,
        )  # fmt: skip


@app.command("list")
def list_(
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List secrets: names, environments, versions (never values)."""
    rows = client(url, token).get(_base(project, user, system), params=_params(env))
    if as_json:
        emit_json(rows)
        return
    table(rows, ["name", "environment", "version", "kind", "reference", "updated_at"])


@app.command("delete")
def delete(
    name: str,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a secret and all its versions (the audit log keeps their records)."""
    client(url, token).request(
        "DELETE", _path(_base(project, user, system), name), params=_params(env)
    )
    console.print(f"deleted {name}", highlight=False)


@app.command("history")
def history(
    name: str,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every version of a secret, newest first (never values)."""
    rows = client(url, token).get(
        _path(_base(project, user, system), name, "/history"), params=_params(env)
    )
    if as_json:
        emit_json(rows)
        return
    table(rows, ["version", "current", "kind", "note", "key_id", "created_by", "created_at"])


@app.command("rollback")
def rollback(
    name: str,
    version: Annotated[int, typer.Argument(help="The version whose value becomes current.")],
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an old version's value current again (as a new version)."""
    made = client(url, token).post(
        _path(_base(project, user, system), name, "/rollback"),
        json={"version": version, "environment": env},
    )
    if as_json:
        emit_json(made)
        return
    console.print(f"{name} is version {made['version']} (the value of {version})", highlight=False)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="A .env file (KEY=value lines).", exists=True, dir_okay=False)
    ],
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store every variable of a .env file as a secret (a new version where one exists)."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(file, interpolate=False).items() if v}
    api = client(url, token)
    base = _base(project, user, system)
    done, failed = [], []
    for name, value in values.items():
        body: dict[str, Any] = {"environment": env}
        body["reference" if value.startswith("op://") else "value"] = value
        try:
            made = api.request("PUT", _path(base, name),
                               json={k: v for k, v in body.items() if v is not None})  # fmt: skip
            done.append({"name": name, "version": made["version"]})
        except Exception as exc:  # noqa: BLE001 - each variable on its own, reported
            failed.append({"name": name, "error": str(exc)})
    if as_json:
        emit_json({"imported": done, "failed": failed})
    else:
        console.print(f"imported {len(done)} of {len(values)} from {file}", highlight=False)
        for item in failed:
            console.print(f"[red]{item['name']}: {item['error']}[/red]", highlight=False)
    if failed:
        raise typer.Exit(1)


def _resolved(
    url: str | None, token: str | None, project: str | None, env: str | None
) -> dict[str, str]:
    rows = client(url, token).post(
        "/api/v1/secrets/resolve",
        json={"project": project, "environment": env, "reveal": True, "names": []},
    )
    return {row["name"]: row["value"] for row in rows}


@app.command("export")
def export(
    project: ProjectOpt = None,
    env: EnvOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="dotenv or json.")] = "dotenv",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print every secret you may read for a project (project → user → system, most specific
    wins) as a .env file or JSON: values in clear, every one audited."""
    values = _resolved(url, token, project, env)
    if fmt == "json":
        emit_json(values)
        return
    if fmt != "dotenv":
        raise Invalid("--format is dotenv or json")
    for name, value in values.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        sys.stdout.write(f'{name}="{escaped}"\n')


def _pump(source: IO[bytes], target: IO[bytes], masker: Any) -> None:
    stream = masker.stream() if masker is not None else None
    for chunk in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
        out = stream.feed(chunk).encode() if stream is not None else chunk
        target.write(out)
        target.flush()
    if stream is not None:
        target.write(stream.flush().encode())
        target.flush()


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    project: ProjectOpt = None,
    env: EnvOpt = None,
    no_masking: Annotated[
        bool, typer.Option("--no-masking", help="Let values through in the output.")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Run a command with the resolved secrets as environment variables:
    `devflow secrets run -p web -e staging -- ./deploy.sh`. Its output is masked (every value,
    and its base64 and URL-encoded forms, becomes ***) unless --no-masking."""
    command = list(ctx.args)
    if not command:
        raise Invalid("name the command after --: devflow secrets run -- CMD [ARGS]")
    values = _resolved(url, token, project, env)
    from devflow.secrets.masking import Masker

    masker = None if no_masking else Masker(values.values())
    try:
        child = subprocess.Popen(  # noqa: S603 - the user's own command
            command, env={**os.environ, **values},
            stdout=None if masker is None else subprocess.PIPE,
            stderr=None if masker is None else subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        raise Invalid(f"cannot run {command[0]!r}: {exc.strerror}") from None
    pumps = []
    if masker is not None:
        assert child.stdout is not None  # noqa: S101 - piped
        assert child.stderr is not None  # noqa: S101 - piped
        for source, target in (
            (child.stdout, sys.stdout.buffer),
            (child.stderr, sys.stderr.buffer),
        ):
            pump = threading.Thread(target=_pump, args=(source, target, masker), daemon=True)
            pump.start()
            pumps.append(pump)
    code = child.wait()
    for pump in pumps:
        pump.join()
    raise typer.Exit(code)


@app.command("keys")
def keys(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """The key-encryption keys: ids, states and how many values each seals (admins)."""
    rows = client(url, token).get("/api/v1/secrets/keys")
    if as_json:
        emit_json(rows)
        return
    table(rows, ["key_id", "state", "sealed", "fingerprint", "created_at", "retired_at"])


@app.command("new-key")
def new_key_() -> None:
    """Print a new random key as `ID:BASE64`, for DEVFLOW_SECRETS__KEYS or 1Password."""
    from devflow.secrets.crypto import new_key

    key_id, encoded = new_key()
    sys.stdout.write(f"{key_id}:{encoded}\n")


@app.command("rotate-key")
def rotate_key(
    to: Annotated[
        str | None, typer.Option(help="A key already given (else a new one in the key file).")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Seal new values with a new key and re-encrypt every stored value under it in the
    background (`devflow job show ID` follows it); the old key retires when nothing uses it."""
    made = client(url, token).post("/api/v1/secrets/keys/rotate", json={"to": to})
    if as_json:
        emit_json(made)
        return
    console.print(
        f"{made['new']} seals new values; re-encrypting {made['remaining']} value(s) from "
        f"{made['old']}: job {made['job_id']}", highlight=False,
    )  # fmt: skip


@app.command("audit")
def audit(
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain.")] = False,
    name: Annotated[str | None, typer.Option(help="Only this secret.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (read, write …).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log of secrets, newest first; --verify checks its chain and names the first
    broken link (exit 1)."""
    api = client(url, token)
    if verify:
        report = api.post("/api/v1/secrets/audit/verify")
        if as_json:
            emit_json(report)
        elif report["ok"]:
            console.print(f"audit chain intact: {report['checked']} record(s)", highlight=False)
        else:
            console.print(f"[red]audit chain broken at record {report['broken_at']}: "
                          f"{report['problem']}[/red]", highlight=False)  # fmt: skip
        if not report["ok"]:
            raise typer.Exit(1)
        return
    rows = api.get("/api/v1/secrets/audit",
                   params={k: v for k, v in {"name": name, "action": action,
                                             "limit": limit}.items() if v})  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    table(rows, ["seq", "at", "actor", "action", "outcome", "scope", "environment", "name",
                 "version", "provider", "reason"])  # fmt: skip


rotation_app = typer.Typer(
    help="Rotation policies: DevFlow rotates API tokens itself; other secrets get reminders.",
    no_args_is_help=True,
)
app.add_typer(rotation_app, name="rotation")
_MAX_DIGITS = 9
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _seconds(text: str, option: str) -> int:
    """`90d`, `12h`, `30m`, `45s`, `2w` or plain seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    if not number.isdigit() or len(number) > _MAX_DIGITS:
        raise Invalid(f"{option} takes a duration like 90d, 12h, 30m or 3600 (seconds)")
    return int(number) * (unit or 1)


def _show_policy(made: dict[str, Any]) -> None:
    console.print(
        f"{made['name']} ({made['environment']}): {made['rotator']} every "
        f"{made['interval_seconds']}s, overlap {made['overlap_seconds']}s, state "
        f"{made['state']}, next due {made['next_due_at']}"
        + (f", last error: {made['last_error']}" if made.get("last_error") else ""),
        highlight=False,
    )


@rotation_app.command("set")
def rotation_set(
    name: str,
    rotator: Annotated[str, typer.Option(help="devflow-token or manual.")] = "manual",
    every: Annotated[str, typer.Option(help="How often: 90d, 12h, 30m …")] = "90d",
    overlap: Annotated[str, typer.Option(help="How long the old value stays valid.")] = "1h",
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the check step.")] = False,
    no_revoke: Annotated[bool, typer.Option("--no-revoke", help="Keep the old value.")] = False,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rotate a secret on a schedule: `--rotator devflow-token` has DevFlow mint a new API
    token and revoke the old one after the overlap; `manual` sends reminder events when due."""
    body = {
        "rotator": rotator, "interval_seconds": _seconds(every, "--every"),
        "overlap_seconds": _seconds(overlap, "--overlap"), "verify": not no_verify,
        "revoke": not no_revoke, "environment": env,
    }  # fmt: skip
    made = client(url, token).request(
        "PUT", _path(_base(project, user, system), name, "/rotation"), json=body
    )
    if as_json:
        emit_json(made)
        return
    _show_policy(made)


@rotation_app.command("show")
def rotation_show(
    name: str,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a secret's rotation policy and where its rotation stands."""
    made = client(url, token).get(
        _path(_base(project, user, system), name, "/rotation"), params=_params(env)
    )
    if as_json:
        emit_json(made)
        return
    _show_policy(made)


@rotation_app.command("remove")
def rotation_remove(
    name: str,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Stop rotating a secret."""
    client(url, token).request(
        "DELETE", _path(_base(project, user, system), name, "/rotation"),
        params=_params(env),
    )  # fmt: skip
    console.print(f"{name} is no longer rotated", highlight=False)


@app.command("rotate")
def rotate(
    name: str,
    project: ProjectOpt = None,
    user: UserOpt = False,
    system: SystemOpt = False,
    env: EnvOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rotate a secret now (its policy's rotator; the old value is revoked after the overlap)."""
    made = client(url, token).post(
        _path(_base(project, user, system), name, "/rotate"), params=_params(env)
    )
    if as_json:
        emit_json(made)
        return
    _show_policy(made)


def register(root: typer.Typer) -> None:
    """Add `devflow secrets` to the root command."""
    root.add_typer(app, name="secrets")


__all__ = ["app", "register"]
