"""CLI of the knowledge domain: `devflow knowledge ...`, `devflow search` and `devflow ask`.

Every command talks to the running server over HTTP. A local directory or file given to
`knowledge add` is uploaded by the CLI (it works against any server); a local git repository,
bare or not, is indexed by the server in place where the server may read it (an instance admin's
token, and a folder under its `knowledge.local_roots`), and otherwise its tracked files are
uploaded.

Uploads go in requests of at most 500 files and about 8 MiB. An add that fails while uploading
removes the source it created (an add happens whole or not at all; nothing is created for a
folder with no file to send). The source records the folder it came from (`settings.origin`):
`knowledge refresh`, or adding the same folder under the same name again, uploads every file
again (the server keeps unchanged ones as they are) and then removes what is gone from it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.markup import escape

from devflow.core.cli import (
    ApiClient,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    client,
    console,
    emit_json,
    err_console,
    follow_job,
    table,
)
from devflow.core.errors import Conflict, DevflowError, Invalid, PermissionDenied
from devflow.knowledge.locations import (
    SCHEMES,
    file_url_path,
    git_layout,
    not_a_location,
    pick_default_branch,
    scheme_of,
)
from devflow.knowledge.plaintext import where
from devflow.knowledge.schemas import SearchGroup, SearchMode

app = typer.Typer(help="Knowledge sources: add, list, show, refresh, remove.", no_args_is_help=True)

ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="Project (default: default).")
]
_FINAL = {"ready", "partial", "failed", "empty"}
_UPLOAD_BATCH_BYTES = 8 * 1024 * 1024
# The server parses at most 1,000 files from one form (Starlette's `max_files`): well below it.
_UPLOAD_BATCH_FILES = 500
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


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
    """Wait until a source's ingestion ends, unless quiet showing its job's phases (fetch, then
    embed) with their rates and ETAs; return the source as it ended."""
    path = f"/api/v1/knowledge/sources/{source['id']}"
    if source.get("job_id") is not None:
        follow_job(api, source["job_id"], label=source["name"], quiet=quiet)
        source = api.get(path)
    elif source["status"] == "embedding" and not quiet:  # uploaded files: no job to follow
        err_console.print(
            f"embedding {source['name']}'s {source['chunk_count']:,} chunks (Ctrl-C stops "
            "waiting, not the embedding; `devflow knowledge show` tells the progress)",
            highlight=False,
        )
    while source["status"] not in _FINAL:  # a job ends a moment before its source settles
        time.sleep(0.5)
        source = api.get(path)
    return source


def _show(source: dict[str, Any]) -> None:
    console.print(
        f"[bold]{source['name']}[/] ({source['kind']}) {source['location']}\n"
        f"  id {source['id']}  status [bold]{source['status']}[/]  documents "
        f"{source['document_count']}  chunks {source['chunk_count']}  failed {source['failed']}\n"
        f"  model {source['embed_model'] or '-'}  last refresh {source['last_refresh_at'] or '-'}",
        highlight=False,
    )
    if source["status"] == "embedding":  # what the search notice points at
        console.print(
            f"  embedded {source.get('embedded') or 0:,} of {source['chunk_count']:,} chunks",
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


@contextmanager
def _local_files(local: Path) -> Iterator[list[tuple[str, Path]]]:
    """Yield the (name, path) of each file an upload of `local` sends; a bare repository is
    checked out (its default branch) into a temporary folder first.

    Raises:
        Invalid: nothing to upload.
    """
    with tempfile.TemporaryDirectory(prefix="devflow-upload-") as tmp:
        root = local
        if local.is_dir() and git_layout(local) == "bare":
            root = Path(tmp) / "checkout"
            _checkout_bare(local, root)
        files = _files_to_upload(root)
        if not files:
            raise Invalid(
                f"no files to upload in {local} (hidden files, and files git ignores, are left "
                "out); nothing was added"
            )
        yield [(p.name if root.is_file() else p.relative_to(root).as_posix(), p) for p in files]


def _git_out(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments, local paths
        ["git", *args],  # noqa: S607 - git from PATH
        capture_output=True,
        check=False,
    )
    return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""


def _checkout_bare(repo: Path, dest: Path) -> None:
    """Check out a bare repository's default branch (as the server reads it) into `dest`."""
    head = _git_out("-C", str(repo), "symbolic-ref", "--quiet", "--short", "HEAD")
    listed = _git_out("-C", str(repo), "for-each-ref", "--format=%(refname:short)", "refs/heads")
    branch = pick_default_branch(head, listed.split(), repo)
    subprocess.run(  # noqa: S603 - fixed arguments, local paths
        ["git", "clone", "--quiet", "--branch", branch, "--", str(repo), str(dest)],  # noqa: S607
        capture_output=True,
        check=True,
    )


def _upload(api: ApiClient, source_id: str, files: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    """Upload the files in requests of at most _UPLOAD_BATCH_FILES files and about
    _UPLOAD_BATCH_BYTES bytes; return the server's outcome of each."""
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

    for name, path in files:
        data = path.read_bytes()
        if size + len(data) > _UPLOAD_BATCH_BYTES or len(batch) >= _UPLOAD_BATCH_FILES:
            send()
        batch.append((name, data))
        size += len(data)
    send()
    return results


def _sync(api: ApiClient, source: dict[str, Any], local: Path) -> dict[str, Any]:
    """Bring an upload source in step with `local`: upload every file (the server keeps the
    unchanged ones as they are), then remove the documents of files that are gone."""
    with _local_files(local) as files:
        uploaded = _upload(api, source["id"], files)
        removed = api.post(
            f"/api/v1/knowledge/sources/{source['id']}/files/retain",
            json={"files": [name for name, _ in files], "origin": str(local.resolve())},
        )["removed"]
    return {"uploaded": uploaded, "removed": removed}


def _add_upload(api: ApiClient, body: dict[str, Any], local: Path) -> dict[str, Any]:
    """Create an upload source and upload `local` into it; return the source with what was
    uploaded. An add that fails on the way removes the source it created: an add happens whole
    or not at all. A source of that name uploaded from the same folder is synced instead."""
    origin = str(local.resolve())
    body.update(location="upload", kind="files", name=body.get("name") or local.resolve().name)
    body["settings"] = {"origin": origin}  # what a crawl or a checkout reads does not apply
    with _local_files(local) as files:
        try:
            source = api.post("/api/v1/knowledge/sources", json=body)
        except Conflict as exc:
            source = _same_folder(api, exc, body["name"], origin)
            err_console.print(
                f"[yellow]note:[/] {source['name']} was uploaded from this folder before; "
                "bringing it up to date (changed files uploaded, removed ones removed)",
                highlight=False,
            )
            return {**_sync(api, source, local), "source": source}
        try:
            uploaded = _upload(api, source["id"], files)
        except BaseException:
            _discard(api, source)
            raise
    return {"source": source, "uploaded": uploaded, "removed": []}


def _same_folder(api: ApiClient, exc: Conflict, name: str, origin: str) -> dict[str, Any]:
    """Return the source a name conflict is about when it holds this folder's files."""
    taken = exc.details.get("source_id")
    if exc.details.get("reason") != "name_taken" or not taken:
        raise exc
    source: dict[str, Any] = api.get(f"/api/v1/knowledge/sources/{taken}")
    if source["location"] == "upload" and source["settings"].get("origin") == origin:
        return source
    where = source["settings"].get("origin") or source["location"]
    raise Conflict(
        f"a source named {name!r} already exists ({where}). Pick another name with --name, or "
        f"replace its files with this folder's: `devflow knowledge refresh {name} --from "
        f"{origin}`",
        details=exc.details,
    )


def _discard(api: ApiClient, source: dict[str, Any]) -> None:
    """Remove a source an add created before it failed, so that no empty source is left."""
    try:
        api.request("DELETE", f"/api/v1/knowledge/sources/{source['id']}")
    except DevflowError as exc:
        err_console.print(
            f"[yellow]note:[/] the upload failed and {source['name']} could not be removed "
            f"({exc.message}); remove it with `devflow knowledge remove {source['id']} -y`",
            highlight=False,
        )
        return
    err_console.print(
        f"[yellow]note:[/] the upload failed; {source['name']} was removed again, nothing "
        "was added",
        highlight=False,
    )


def _add_repository(api: ApiClient, body: dict[str, Any], local: Path) -> dict[str, Any]:
    """Add a local git repository for the server to read in place; where the server may not
    read it, upload its tracked files instead."""
    repo = dict(body, location=str(local.resolve()), kind="git")
    try:
        return {"source": api.post("/api/v1/knowledge/sources", json=repo)}
    except PermissionDenied as exc:
        if exc.details.get("reason") != "outside_local_roots":
            raise
    err_console.print(
        f"[yellow]note:[/] the server may not read {local.resolve()} "
        "(DEVFLOW_KNOWLEDGE__LOCAL_ROOTS); uploading its tracked files instead",
        highlight=False,
    )
    return _add_upload(api, body, local)


def _local_path(location: str) -> Path | None:
    """Return the file or folder of this machine that `location` names, if there is one."""
    path = Path(file_url_path(location) or location).expanduser()
    return path if path.exists() else None


def _check_remote(location: str) -> None:
    """Refuse, with what is wrong and what to write, a location that names nothing here and
    is no URL or server path either (`./nope`, `nope.example`, `htp:/bad`)."""
    scheme = scheme_of(location)
    if scheme is None and not _SCP_LIKE.match(location) and not Path(location).is_absolute():
        raise Invalid(not_a_location(location, here=f"in {Path.cwd()}"))
    if scheme is not None and scheme not in SCHEMES:
        raise Invalid(not_a_location(location))


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
    """Add a knowledge source and ingest it (a progress bar follows the job).

    A folder or file of yours is uploaded; adding it again under the same name brings the
    source up to date (as `devflow knowledge refresh` does).
    """
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
    body: dict[str, Any] = {
        "location": location,
        "settings": {k: v for k, v in settings.items() if v is not None},
    }
    if name:
        body["name"] = name
    if project:
        body["project"] = project
    local = _local_path(location)
    if local is None:
        _check_remote(location)
        added = {"source": api.post("/api/v1/knowledge/sources", json=body)}
    elif local.is_dir() and git_layout(local) is not None:
        added = _add_repository(api, body, local)
    else:
        added = _add_upload(api, body, local)
    _report(api, added, wait=wait, as_json=as_json)


def _report(api: ApiClient, done: dict[str, Any], *, wait: bool, as_json: bool) -> None:
    """Follow the source's ingestion if asked, then print it with what its upload did."""
    source = done["source"]
    uploaded: list[dict[str, Any]] | None = done.get("uploaded")
    if uploaded is not None:  # read after its files arrived, not as it was before them
        source = api.get(f"/api/v1/knowledge/sources/{source['id']}")
    source = _follow(api, source, quiet=as_json) if wait else source
    removed: list[str] = done.get("removed", [])
    if as_json:
        extra = {} if uploaded is None else {"uploaded": uploaded, "removed": removed}
        emit_json({**source, **extra})
        return
    _show(source)
    if uploaded is not None:
        counts = Counter(u["status"] for u in uploaded)
        said = ", ".join(f"{counts[s]} {s}" for s in ("new", "changed", "unchanged", "failed"))
        console.print(
            f"  uploaded {len(uploaded)} file{'' if len(uploaded) == 1 else 's'} ({said}); "
            f"removed {len(removed)}",
            highlight=False,
        )
    for failure in [u for u in uploaded or [] if u["status"] == "failed"]:
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
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Upload sources: the folder to upload from (default: where it was)."
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the refresh.")] = True,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-fetch a source; unchanged pages are skipped, removed pages removed.

    An upload source is brought up to date from the folder it was uploaded from (or --from):
    changed files are uploaded, files that are gone are removed.
    """
    api = client(url, token)
    source = _source_ref(api, ref, project)
    if source["location"] != "upload":
        if from_ is not None:
            raise Invalid(
                f"--from is for sources of uploaded files; {source['name']} is read from "
                f"{source['location']}"
            )
        source = api.post(f"/api/v1/knowledge/sources/{source['id']}/refresh")
        _report(api, {"source": source}, wait=wait, as_json=as_json)
        return
    local = _upload_origin(source, from_)
    _report(api, {**_sync(api, source, local), "source": source}, wait=wait, as_json=as_json)


def _upload_origin(source: dict[str, Any], given: Path | None) -> Path:
    """Return the folder or file an upload source is refreshed from."""
    origin = source["settings"].get("origin")
    folder = given.expanduser() if given is not None else Path(origin) if origin else None
    if folder is None:
        raise Invalid(
            f"{source['name']} holds uploaded files and DevFlow does not know where from: "
            f"give the folder, `devflow knowledge refresh {source['name']} --from <folder>`"
        )
    if not folder.exists():
        said = "was uploaded from" if given is None else "is to be refreshed from"
        raise Invalid(
            f"{source['name']} {said} {folder}, which is not on this machine: give the folder "
            f"with `devflow knowledge refresh {source['name']} --from <folder>`"
        )
    return folder


@app.command("remove")
def remove(
    ref: Annotated[str, typer.Argument(help="Source name or id.")],
    project: ProjectOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a source and everything indexed from it (asks first, unless -y)."""
    api = client(url, token)
    source = _source_ref(api, ref, project)
    if not yes:
        what = f"{source['name']} ({source['document_count']} documents)"
        if not sys.stdin.isatty():
            raise Invalid(
                f"removing {what} needs a yes, and this shell cannot ask: pass -y (--yes)"
            )
        if not typer.confirm(f"Delete {what}?"):
            err_console.print("nothing removed", highlight=False)
            raise typer.Exit(1)
    api.request("DELETE", f"/api/v1/knowledge/sources/{source['id']}")
    console.print(f"removed {source['name']}", highlight=False)


def _said(text: str, what: str, example: str) -> str:
    """Return the query or question stripped; refuse an empty one in plain words."""
    if not text.strip():
        raise Invalid(f"the {what} is empty: {example}")
    return text


def _one_of(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise typer.BadParameter(
            f"{value!r}: choose one of {', '.join(choices)}", param_hint=option
        )
    return value


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    source: Annotated[list[str] | None, typer.Option("--source", help="Source name or id.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, keyword or semantic.")] = "hybrid",
    limit: Annotated[int, typer.Option("--limit", "-n", help="Results.")] = 10,
    group: Annotated[
        str,
        typer.Option(
            "--group",
            help="documents: one result per document, its other matching passages under it; "
            "passages: each passage on its own.",
        ),
    ] = "documents",
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base."""
    query = _said(query, "query", "say what to look for, e.g. `devflow search 'rotate keys'`")
    mode = _one_of(mode, get_args(SearchMode), "--mode")
    group = _one_of(group, get_args(SearchGroup), "--group")
    api = client(url, token)
    body: dict[str, Any] = {"query": query, "mode": mode, "limit": limit, "group": group}
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
        head = escape(where(hit["title"], hit["heading_path"]))
        lines = [
            f"[bold]{i}. {head}[/]  [dim]relevance {hit['score']:.2f}[/]",
            f"   [cyan]{escape(hit['uri'])}[/]",
            f"   {escape(hit['snippet'])}",
        ]
        for other in hit.get("passages", []):
            section = where(hit["title"], other["heading_path"]).removeprefix(hit["title"])
            section = section.removeprefix(" > ") or "(top)"
            lines.append(f"   [dim]also in {escape(section)}:[/] {escape(other['snippet'])}")
        console.print("\n".join(lines), highlight=False)


def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    source: Annotated[list[str] | None, typer.Option("--source", help="Source name or id.")] = None,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the knowledge base, with numbered citations."""
    question = _said(question, "question", "ask one, e.g. `devflow ask 'How are backups made?'`")
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
        console.print(
            f"[{c['number']}] {where(c['title'], c['heading_path'])}  {c['uri']}",
            highlight=False,
            markup=False,
        )
