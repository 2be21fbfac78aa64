"""`devflow workflow …`: check definitions offline, apply them, list and show versions.

`validate` and `schema` need no server: they use the same loader and schema the server does.
The others act in `--project` through the API, like `devflow task …`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from devflow.core.cli import ApiClient, JsonOpt, TokenOpt, UrlOpt, client, console, emit_json
from devflow.core.cli import table as print_table
from devflow.core.errors import Invalid
from devflow.workflows.cli_common import LimitOpt, OffsetOpt, ProjectOpt, project_path
from devflow.workflows.definitions.loader import DEFAULT_MAX_BYTES, error, parse, schema_text

workflow_app = typer.Typer(
    help="Workflow definitions: validate YAML offline, apply it to a project (a new version when "
    "it changed), import a repository's .devflow/workflows, list, show, print the JSON Schema.",
    no_args_is_help=True,
)

FilesArg = Annotated[list[Path], typer.Argument(help="YAML files ('-' reads standard input).")]


def register(root: typer.Typer) -> None:
    """Add `devflow workflow` to the root command."""
    root.add_typer(workflow_app, name="workflow")


def _base(api: ApiClient, project: str | None) -> str:
    return f"{project_path(api, project)}/workflows"


def _read(path: Path) -> tuple[str, bytes | None, dict[str, Any] | None]:
    """The file's name, its bytes, or the error that says why it cannot be read."""
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if name == "<stdin>" else path.read_bytes()
    except OSError as exc:
        return name, None, error(name, 1, 1, (), f"cannot read it: {exc.strerror or exc}")
    return name, data, None


def _line(e: dict[str, Any]) -> str:
    field = f" {e['field']}:" if e.get("field") else ""
    return f"{e['file']}:{e['line']}:{e['column']}:{field} {e['message']}"


def _errors_of(exc: Invalid, file: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = exc.details.get("errors") or []
    return found or [error(file, 1, 1, (), exc.message)]


@workflow_app.command("validate")
def validate(files: FilesArg, as_json: JsonOpt = False) -> None:
    """Check definition files offline (no server): schema, phases, `next` links.

    Each problem is printed as `file:line:column: field: message`; the exit status is 1 when
    any file is invalid.

    Example: devflow workflow validate .devflow/workflows/*.yml
    """
    results: list[dict[str, Any]] = []
    for path in files:
        name, data, unreadable = _read(path)
        if data is None:
            results.append({"file": name, "valid": False, "errors": [unreadable]})
            continue
        try:
            spec = parse(data, file=name, max_bytes=DEFAULT_MAX_BYTES)
        except Invalid as exc:
            results.append({"file": name, "valid": False, "errors": _errors_of(exc, name)})
            continue
        phases = [p.id for p in spec.phases]
        results.append({"file": name, "valid": True, "name": spec.name, "phases": phases})
    if as_json:
        emit_json(results)
    else:
        for result in results:
            if result["valid"]:
                flow = " → ".join(result["phases"])
                console.print(f"{escape(result['file'])}: ok ({result['name']}: {flow})")
            for problem in result.get("errors", []):
                typer.echo(_line(problem))
    if not all(r["valid"] for r in results):
        raise typer.Exit(1)


@workflow_app.command("apply")
def apply(
    files: Annotated[
        list[Path] | None, typer.Argument(help="YAML files ('-' reads standard input).")
    ] = None,
    from_repo: Annotated[
        str | None,
        typer.Option(
            "--from-repo", help="Import .devflow/workflows/*.yml of this DevFlow repository."
        ),
    ] = None,
    ref: Annotated[
        str | None, typer.Option(help="Branch, tag or commit (with --from-repo).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check only; store nothing.")] = False,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store definitions in the project: a new version of each whose spec changed.

    Examples: devflow workflow apply release.yml;
    devflow workflow apply --from-repo app --ref main
    """
    if bool(files) == bool(from_repo):
        raise Invalid("give definition files or --from-repo REPO (not both)")
    api = client(url, token)
    base = _base(api, project)
    if from_repo:
        if dry_run:
            raise Invalid("--dry-run works with files, not with --from-repo")
        done = api.post(f"{base}/import", json={"repository": from_repo, "ref": ref})
        _print_applied(done["items"], as_json, extra=done)
        return
    applied, failed = [], False
    for path in files or []:
        name, data, unreadable = _read(path)
        if data is None:
            failed = True
            typer.echo(_line(unreadable or error(name, 1, 1, (), "cannot read it")))
            continue
        body = {"source": data.decode("utf-8", "replace"), "file": name}
        try:
            applied.append(api.post(base, json=body, params={"dry_run": dry_run}))
        except Invalid as exc:
            failed = True
            for problem in _errors_of(exc, name):
                typer.echo(_line(problem))
    _print_applied(applied, as_json)
    if failed:
        raise typer.Exit(1)


def _print_applied(items: list[dict[str, Any]], as_json: bool, extra: Any = None) -> None:
    if as_json:
        emit_json(extra if extra is not None else items)
        return
    for item in items:
        if "valid" in item:  # a dry run
            what = "would store version" if item["changed"] else "unchanged at version"
            console.print(f"{escape(item['name'])}: valid; {what} {item['next_version']}")
        else:
            what = "stored" if item["created"] else "unchanged"
            console.print(f"{what} {escape(item['name'])} version {item['version']}")


@workflow_app.command("list")
def list_(
    limit: LimitOpt = 100,
    offset: OffsetOpt = 0,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the project's definitions (latest versions) and DevFlow's built-ins."""
    api = client(url, token)
    page = api.get(_base(api, project), params={"limit": limit, "offset": offset})
    if as_json:
        emit_json(page)
        return
    rows = [
        {
            **d,
            "version": d["version"] or "-",
            "origin": "builtin" if d["builtin"] else d["origin"],
            "phases": " → ".join(d["phases"]),
        }
        for d in page["items"]
    ]
    columns = ["name", "version", "origin", "phases", "description"]
    print_table(rows, columns, title=f"{len(rows)} of {page['total']} workflow definitions")


@workflow_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Definition name, e.g. prd-to-code.")],
    version: Annotated[int | None, typer.Option(help="A version (default: latest).", min=1)] = None,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print its YAML as stored.")] = False,
    versions: Annotated[bool, typer.Option("--versions", help="List its versions.")] = False,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a definition: its phases, gates and checks (or its YAML with --yaml)."""
    api = client(url, token)
    base = f"{_base(api, project)}/{name}"
    if versions:
        page = api.get(f"{base}/versions", params={"limit": 500})
        if as_json:
            emit_json(page)
        else:
            print_table(
                page["items"], ["version", "origin", "origin_ref", "created_by", "created_at"]
            )
        return
    found = api.get(base, params={"version": version} if version else None)
    if as_json:
        emit_json(found)
    elif as_yaml:
        typer.echo(found["source"], nl=not found["source"].endswith("\n"))
    else:
        _describe(found)


def _describe(found: dict[str, Any]) -> None:
    version = f"version {found['version']}" if found["version"] else "built-in, not yet used"
    console.print(f"[bold]{escape(found['name'])}[/] ({version}, {found['origin']})")
    if found["description"]:
        console.print(escape(found["description"]), highlight=False)
    spec = found["spec"]
    for param in spec["parameters"]:
        need = "required" if param["required"] else f"default {param['default']!r}"
        console.print(f"  param {param['name']} ({param['type']}, {escape(need)})")
    for phase in spec["phases"]:
        gate = " [yellow]approval[/]" if phase["approval"] else ""
        check = phase["validation"]["kind"]
        check = (
            f" check: {escape(phase['validation']['command'] or check)}" if check != "none" else ""
        )
        nxt = f" → {', '.join(phase['next'])}" if phase["next"] else ""
        console.print(f"  [bold]{phase['id']}[/] {escape(phase['name'])}{gate}{check}{nxt}")


@workflow_app.command("schema")
def schema(as_json: JsonOpt = False) -> None:
    """Print the JSON Schema of a definition (offline; the server serves the same at
    /api/v1/workflows/schema). Editors take it for completion and checks."""
    del as_json  # it is JSON either way
    sys.stdout.write(schema_text())


__all__ = ["register", "workflow_app"]
