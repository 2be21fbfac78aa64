"""CLI of the knowledge domain: `devflow knowledge ...`, `devflow search` and `devflow ask`.

Every command talks to the running server over HTTP. A local directory or file given to
`knowledge add` is uploaded by the CLI (it works against any server); a local git repository is
indexed by the server in place where the server may read it (an instance admin's token, and a
folder under its `knowledge.local_roots`), and otherwise its tracked files are uploaded.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from devflow.core.cli import (
    ApiClient,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    client,
    console,
    emit_json,
    err_console,
    table,
)
from devflow.core.errors import Invalid, PermissionDenied

app = typer.Typer(help="Knowledge sources: add, list, show, refresh, remove.", no_args_is_help=True)

ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="Project (default: default).")
]
_FINAL = {"ready", "partial", "failed"}
_UPLOAD_BATCH_BYTES = 8 * 1024 * 1024


def register(root: typer.Typer) -> None:
    """Add this domain's commands to the root `devflow` command."""
    root.add_typer(app, name="knowledge")
    root.command("search")(search)
    root.command("ask")(ask)


def _source_ref(api: ApiClient, ref: str, project: str | None) -> dict[str, Any]:
    params = {"project": project} if project else {}
    sources = api.get("/api/v1/knowledge/sources", params=params)["items"]
    matches = [s for s in sources if ref in {s["id"], s["name"]}]
    if not matches:
        raise Invalid(f"no source {ref!r}; `devflow knowledge list` shows them")
    if len(matches) > 1:
        raise Invalid(f"several sources are named {ref!r}; use its id or --project")
    found: dict[str, Any] = matches[0]
    return found


def _follow(api: ApiClient, source: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    """Poll a source until its ingestion ends; unless quiet, with a progress bar."""
    if quiet:
        while source["status"] not in _FINAL:
            time.sleep(0.5)
            source = api.get(f"/api/v1/knowledge/sources/{source['id']}")
        return source
    return _wait(api, source)


def _wait(api: ApiClient, source: dict[str, Any]) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    path = f"/api/v1/knowledge/sources/{source['id']}"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(source["name"], total=None)
        while True:
            source = api.get(path)
            total = max(source["discovered"], source["fetched"]) or None
            bar.update(
                task,
                completed=source["fetched"],
                total=total,
                description=f"{source['name']} [{source['status']}] chunked {source['chunked']} "
                f"embedded {source['embedded']} failed {source['failed']}",
            )
            if source["status"] in _FINAL:
                return source
            time.sleep(0.5)


def _show(source: dict[str, Any]) -> None:
    console.print(
        f"[bold]{source['name']}[/] ({source['kind']}) {source['location']}\n"
        f"  id {source['id']}  status [bold]{source['status']}[/]  documents "
        f"{source['document_count']}  chunks {source['chunk_count']}  failed {source['failed']}\n"
        f"  model {source['embed_model'] or '-'}  last refresh {source['last_refresh_at'] or '-'}",
        highlight=False,
    )
    if source.get("last_error"):
        console.print(f"  [red]error:[/] {source['last_error']}", highlight=False)


def _files_to_upload(root: Path) -> list[Path]:
    """Return the files a folder upload sends: a git repository's tracked files (never what
    .gitignore keeps out, such as secrets and build output), or every file not hidden."""
    if (root / ".git").exists():
        listed = subprocess.run(  # noqa: S603 - fixed arguments, a local path
            ["git", "-C", str(root), "ls-files", "-z"],  # noqa: S607 - git from PATH
            capture_output=True,
            check=True,
        ).stdout
        tracked = (root / name for name in listed.decode().split("\0") if name)
        return sorted(p for p in tracked if p.is_file())
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    base = root.parent if root.is_file() else root
    return [p for p in files if not any(part.startswith(".") for part in p.relative_to(base).parts)]


def _upload(api: ApiClient, source_id: str, root: Path) -> list[dict[str, Any]]:
    files = _files_to_upload(root)
    results: list[dict[str, Any]] = []
    batch: list[tuple[str, bytes]] = []
    size = 0

    def send() -> None:
        nonlocal batch, size
        if batch:
            multipart = [("files", (name, data)) for name, data in batch]
            body = api.post(f"/api/v1/knowledge/sources/{source_id}/files", files=multipart)
            results.extend(body["files"])
        batch, size = [], 0

    for path in files:
        name = path.name if root.is_file() else path.relative_to(root).as_posix()
        data = path.read_bytes()
        if size + len(data) > _UPLOAD_BATCH_BYTES:
            send()
        batch.append((name, data))
        size += len(data)
    send()
    return results


def _create(
    api: ApiClient, body: dict[str, Any], local: Path, *, upload: bool
) -> tuple[dict[str, Any], bool]:
    """Create the source; return it and whether its files are to be uploaded."""
    try:
        return api.post("/api/v1/knowledge/sources", json=body), upload
    except PermissionDenied as exc:
        if upload or exc.details.get("reason") != "outside_local_roots":
            raise
    # The server may not read this repository where it lies: send its tracked files.
    err_console.print(
        f"[yellow]note:[/] the server may not read {local.resolve()} "
        "(DEVFLOW_KNOWLEDGE__LOCAL_ROOTS); uploading its tracked files instead",
        highlight=False,
    )
    body.update(location="upload", kind="files", name=body.get("name") or local.resolve().name)
    body["settings"].pop("ref", None)
    return api.post("/api/v1/knowledge/sources", json=body), True


@app.command("add")
def add(
    location: Annotated[str, typer.Argument(help="URL, git URL, local directory, file or repo.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    project: ProjectOpt = None,
    depth: Annotated[int | None, typer.Option("--depth", help="Link depth (web).")] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help="Page limit (web).")] = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Only matching URLs/paths.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Skip matching URLs/paths.")
    ] = None,
    single_page: Annotated[bool, typer.Option("--single-page", help="Only this page.")] = False,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Allow private addresses (intranet).")
    ] = False,
    ref: Annotated[str | None, typer.Option("--ref", help="Git branch, tag or commit.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow ingestion.")] = True,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a knowledge source and ingest it (a progress bar follows the job)."""
    api = client(url, token)
    settings: dict[str, Any] = {
        "max_depth": depth,
        "max_pages": max_pages,
        "include": include or [],
        "exclude": exclude or [],
        "single_page": single_page,
        "allow_private": allow_private,
        "ref": ref,
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    local = Path(location).expanduser()
    body: dict[str, Any] = {"location": location, "settings": settings}
    upload = local.exists() and not (local / ".git").exists()
    if local.exists() and not upload:
        body["location"] = str(local.resolve())
        body["kind"] = "git"
    if upload:
        body.update(location="upload", kind="files", name=name or local.resolve().name)
    if name:
        body["name"] = name
    if project:
        body["project"] = project
    source, upload = _create(api, body, local, upload=upload)
    uploaded: list[dict[str, Any]] = []
    if upload:
        uploaded = _upload(api, source["id"], local)
    if wait:
        source = _follow(api, source, quiet=as_json)
    if as_json:
        emit_json({**source, "uploaded": uploaded} if upload else source)
        return
    _show(source)
    for failure in [u for u in uploaded if u["status"] == "failed"]:
        console.print(
            f"  [red]failed[/] {failure['filename']}: {failure['error']}", highlight=False
        )


@app.command("list")
def list_(
    project: ProjectOpt = None, url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List knowledge sources."""
    params = {"project": project} if project else {}
    items = client(url, token).get("/api/v1/knowledge/sources", params=params)["items"]
    if as_json:
        emit_json(items)
        return
    columns = ["name", "kind", "status", "document_count", "chunk_count", "failed", "location"]
    table(items, columns, title="knowledge sources")


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Source name or id.")],
    project: ProjectOpt = None,
    failed: Annotated[bool, typer.Option("--failed", help="List documents that failed.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a source: status, counts and (with --failed) its documents' errors."""
    api = client(url, token)
    source = _source_ref(api, ref, project)
    docs = None
    if failed:
        docs = api.get(
            f"/api/v1/knowledge/sources/{source['id']}/documents",
            params={"failed": True, "limit": 500},
        )["items"]
    if as_json:
        emit_json({**source, "failed_documents": docs} if docs is not None else source)
        return
    _show(source)
    if docs:
        table(docs, ["uri", "error"], title="documents that failed")


@app.command("refresh")
def refresh(
    ref: Annotated[str, typer.Argument(help="Source name or id.")],
    project: ProjectOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the refresh.")] = True,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-fetch a source; unchanged pages are skipped, removed pages removed."""
    api = client(url, token)
    source = _source_ref(api, ref, project)
    source = api.post(f"/api/v1/knowledge/sources/{source['id']}/refresh")
    if wait:
        source = _follow(api, source, quiet=as_json)
    if as_json:
        emit_json(source)
        return
    _show(source)


@app.command("remove")
def remove(
    ref: Annotated[str, typer.Argument(help="Source name or id.")],
    project: ProjectOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a source and everything indexed from it."""
    api = client(url, token)
    source = _source_ref(api, ref, project)
    if not yes:
        typer.confirm(
            f"Delete {source['name']} ({source['document_count']} documents)?", abort=True
        )
    api.request("DELETE", f"/api/v1/knowledge/sources/{source['id']}")
    console.print(f"removed {source['name']}", highlight=False)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    source: Annotated[list[str] | None, typer.Option("--source", help="Source name or id.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, keyword or semantic.")] = "hybrid",
    limit: Annotated[int, typer.Option("--limit", "-n", help="Results.")] = 10,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base."""
    api = client(url, token)
    body: dict[str, Any] = {"query": query, "mode": mode, "limit": limit}
    if project:
        body["project"] = project
    if source:
        body["sources"] = [_source_ref(api, s, project)["id"] for s in source]
    results = api.post("/api/v1/knowledge/search", json=body)
    if as_json:
        emit_json(results)
        return
    for notice in results["notices"]:
        console.print(f"[yellow]note:[/] {notice}", highlight=False)
    if not results["hits"]:
        console.print("no results", highlight=False)
    for i, hit in enumerate(results["hits"], start=1):
        where = " > ".join(hit["heading_path"])
        console.print(
            f"[bold]{i}. {hit['title']}[/]"
            + (f" > {where}" if where else "")
            + f"  [dim]{hit['score']:.4f}[/]\n   [cyan]{hit['uri']}[/]\n   {hit['snippet']}",
            highlight=False,
        )


def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    source: Annotated[list[str] | None, typer.Option("--source", help="Source name or id.")] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the knowledge base, with numbered citations."""
    api = client(url, token)
    body: dict[str, Any] = {"question": question, "stream": not as_json}
    if project:
        body["project"] = project
    if source:
        body["sources"] = [_source_ref(api, s, project)["id"] for s in source]
    if as_json:
        emit_json(api.post("/api/v1/knowledge/answer", json=body))
        return
    done: dict[str, Any] = {}
    for event, payload in api.stream_events("/api/v1/knowledge/answer", body):
        if event == "delta":
            console.print(payload["text"], end="", highlight=False, markup=False)
        elif event == "done":
            done = payload
    console.print()
    for c in done.get("citations", []):
        where = " > ".join(c["heading_path"])
        console.print(
            f"[{c['number']}] {c['title']}" + (f" > {where}" if where else "") + f"  {c['uri']}",
            highlight=False,
            markup=False,
        )
