"""`devflow pr`: pull requests, through the server's API."""

from __future__ import annotations

import subprocess
from typing import Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

app = typer.Typer(
    help="Pull requests: open one from a pushed branch, review it, merge it.",
    no_args_is_help=True,
)

RepoOpt = Annotated[
    str, typer.Option("--repo", "-r", help="NAME in the default project, or PROJECT/NAME.")
]
NumberArg = Annotated[int, typer.Argument(min=1, help="The pull request's number.")]


def _path(repo: str, number: int | None = None, tail: str = "") -> str:
    project, _, name = repo.rpartition("/")
    base = (
        f"/api/v1/projects/{quote(project or 'default', safe='')}/repos/"
        f"{quote(name.removesuffix('.git'), safe='')}/pulls"
    )
    return base if number is None else f"{base}/{number}{tail}"


def _print(pr: dict[str, Any], verb: str | None = None) -> None:
    state = "draft" if pr["draft"] and pr["state"] == "open" else pr["state"]
    console.print(
        f"{verb + ' ' if verb else ''}#{pr['number']} {pr['title']} [{state}]",
        highlight=False,
        markup=False,
    )
    console.print(
        f"{pr['head']} ({pr['head_sha'][:12]}) into {pr['base']} ({pr['base_sha'][:12]}), "
        f"by {pr['author']}; {pr['approvals']} approval(s), "
        f"{pr['changes_requested']} request(s) for changes",
        highlight=False,
    )
    status = pr["merge_status"]
    if status == "conflicts":
        status += ": " + ", ".join(pr["conflicts"])
    if pr["state"] == "merged":
        status = f"merged by {pr['merged_by']} ({pr['merge_method']}) as {pr['merge_commit_sha']}"
    console.print(status, highlight=False, markup=False, soft_wrap=True)


@app.command("create")
def create(
    repo: RepoOpt,
    head: Annotated[str, typer.Option(help="The branch with the changes.")],
    title: Annotated[str, typer.Option(help="One line.")],
    base: Annotated[
        str | None, typer.Option(help="The branch to merge into (default branch).")
    ] = None,
    body: Annotated[str, typer.Option(help="Markdown; 'Fixes #12' closes task 12 on merge.")] = "",
    draft: Annotated[bool, typer.Option("--draft", help="Not ready to merge yet.")] = False,
    head_repo: Annotated[
        str | None, typer.Option(help="PROJECT/NAME of the fork --head is in (default: --repo).")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a pull request from a pushed branch (prints its number)."""
    data: dict[str, str | bool | None] = {
        "head": head,
        "base": base,
        "title": title,
        "body": body,
        "draft": draft,
    }
    if head_repo:
        data["head_repository"] = head_repo
    made = client(url, token).post(_path(repo), json=data)
    if as_json:
        emit_json(made)
    else:
        _print(made, "opened")


@app.command("list")
def list_(
    repo: RepoOpt,
    state: Annotated[str, typer.Option(help="open, closed, merged or all.")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a repository's pull requests, newest first."""
    page = client(url, token).get(
        _path(repo), params={"state": state, "limit": limit, "offset": offset}
    )
    if as_json:
        emit_json(page)
        return
    table(page["items"], ["number", "title", "state", "draft", "head", "base", "merge_status",
                          "author"])  # fmt: skip


@app.command("view")
def view(
    number: NumberArg, repo: RepoOpt, url: UrlOpt = None, token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Show a pull request: branches, reviews' verdicts, mergeability."""
    found = client(url, token).get(_path(repo, number))
    if as_json:
        emit_json(found)
    else:
        _print(found)
        if found["body"]:
            console.print(found["body"], highlight=False, markup=False)


@app.command("diff")
def diff(
    number: NumberArg,
    repo: RepoOpt,
    stat: Annotated[bool, typer.Option("--stat", help="Only the files and their counts.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print what a pull request changes (the patch, or --stat)."""
    found = client(url, token).get(_path(repo, number, "/diff"))
    if as_json:
        emit_json(found)
        return
    if stat:
        for item in found["files"]:
            counts = (
                f"+{item['additions']} -{item['deletions']}"
                if item["additions"] is not None
                else "binary"
            )
            console.print(f"{item['status']:<9} {counts:<14} {item['path']}", highlight=False,
                          markup=False)  # fmt: skip
        console.print(
            f"{found['total_files']} file(s), +{found['additions']} -{found['deletions']}"
        )
        return
    typer.echo(found["patch"], nl=False)
    if found["patch_truncated"]:
        console.print("[yellow]the patch is cut at the size limit[/]")


@app.command("review")
def review(
    number: NumberArg,
    repo: RepoOpt,
    approve: Annotated[bool, typer.Option("--approve", help="Approve it.")] = False,
    request_changes: Annotated[
        bool, typer.Option("--request-changes", help="Ask for changes (say which in --body).")
    ] = False,
    body: Annotated[str, typer.Option(help="What the review says.")] = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Review a pull request: a comment (--body), --approve or --request-changes."""
    if approve and request_changes:
        raise typer.BadParameter("--approve or --request-changes, not both")
    event = "approve" if approve else "request_changes" if request_changes else "comment"
    made = client(url, token).post(
        _path(repo, number, "/reviews"), json={"event": event, "body": body}
    )
    if as_json:
        emit_json(made)
    else:
        console.print(
            f"#{number}: {made['state']} at {made['commit_sha'][:12]}",
            highlight=False,
            markup=False,
        )


@app.command("merge")
def merge(
    number: NumberArg,
    repo: RepoOpt,
    method: Annotated[str, typer.Option(help="merge, squash, rebase or ff.")] = "merge",
    sha: Annotated[
        str | None,
        typer.Option(help="The head you reviewed (default: the head shown now); 409 if it moved."),
    ] = None,
    delete_branch: Annotated[
        bool, typer.Option("--delete-branch", help="Delete the head branch afterwards.")
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge a pull request into its base branch."""
    api = client(url, token)
    expected = sha or api.get(_path(repo, number))["head_sha"]
    data = {"sha": expected, "method": method, "delete_branch": delete_branch}
    done = api.post(_path(repo, number, "/merge"), json=data)
    if as_json:
        emit_json(done)
        return
    _print(done["pull"], "merged")
    if done["closed_tasks"]:
        console.print("closed tasks " + ", ".join(f"#{n}" for n in done["closed_tasks"]))


def _state(number: int, repo: str, action: str, url: str | None, token: str | None,
           as_json: bool) -> None:  # fmt: skip
    done = client(url, token).post(_path(repo, number, f"/{action}"))
    if as_json:
        emit_json(done)
    else:
        _print(done, "closed" if action == "close" else "reopened")


@app.command("close")
def close(
    number: NumberArg, repo: RepoOpt, url: UrlOpt = None, token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Close a pull request without merging it."""
    _state(number, repo, "close", url, token, as_json)


@app.command("reopen")
def reopen(
    number: NumberArg, repo: RepoOpt, url: UrlOpt = None, token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Reopen a closed pull request."""
    _state(number, repo, "reopen", url, token, as_json)


@app.command("checkout")
def checkout(
    number: NumberArg,
    repo: RepoOpt,
    remote: Annotated[str, typer.Option(help="The git remote of the repository.")] = "origin",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a pull request's head into branch pr/N of the clone you are in, and check it out."""
    found = client(url, token).get(_path(repo, number))
    branch = f"pr/{number}"
    for args in (
        ["fetch", "--quiet", "--", remote, f"+refs/pull/{number}/head:refs/heads/{branch}"],
        ["checkout", "--quiet", branch],
    ):
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
        if done.returncode != 0:
            console.print(
                f"git {args[0]} failed: {done.stderr.strip()}", highlight=False, markup=False
            )
            raise typer.Exit(1)
    if as_json:
        emit_json({"number": number, "branch": branch, "head_sha": found["head_sha"]})
    else:
        console.print(f"on {branch} at {found['head_sha'][:12]}", highlight=False, markup=False)


def register(root: typer.Typer) -> None:
    """Add `devflow pr` to the root command."""
    root.add_typer(app, name="pr")
