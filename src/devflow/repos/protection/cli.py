"""`devflow repo protect|protections|unprotect`: branch rules, through the server's API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table
from devflow.repos.cli import ProjectOpt, RepoArg, _path, _split

BranchArg = Annotated[
    str, typer.Argument(help="A branch name, or a glob: '*' within a '/'-part, '**' across.")
]


def _rules(repo: str, project: str | None, pattern: str | None = None) -> str:
    base = _path(*_split(repo, project)) + "/protections"
    return base if pattern is None else f"{base}/{quote(pattern, safe='')}"


def _describe(rule: dict[str, Any]) -> str:
    said = [
        text
        for on, text in (
            (rule["no_force_push"], "no force push"),
            (rule["no_delete"], "no deletion"),
            (rule["require_pull_request"], "pull request required"),
            (rule["required_approvals"], f"{rule['required_approvals']} approval(s)"),
            (rule["required_checks"], "checks " + ", ".join(rule["required_checks"])),
            (rule["push_allow"], "push only by " + ", ".join(rule["push_allow"])),
            (rule["protected_files"], "files " + ", ".join(rule["protected_files"])),
        )
        if on
    ]
    return "; ".join(said) or "nothing refused yet"


def protect(
    repo: RepoArg,
    branch: BranchArg,
    project: ProjectOpt = None,
    no_force_push: Annotated[
        bool, typer.Option("--no-force-push", help="Refuse pushes that rewrite history.")
    ] = False,
    no_delete: Annotated[bool, typer.Option("--no-delete", help="Refuse deletion.")] = False,
    require_pr: Annotated[
        bool, typer.Option("--require-pr", help="Refuse direct pushes: merge a pull request.")
    ] = False,
    approvals: Annotated[
        int, typer.Option("--approvals", min=0, max=100, help="Approving reviews to merge.")
    ] = 0,
    require_check: Annotated[
        list[str] | None,
        typer.Option("--require-check", help="A status context that must be success (repeat)."),
    ] = None,
    push_allow: Annotated[
        list[str] | None,
        typer.Option("--push-allow", help="Only this user may push (repeat; default: writers)."),
    ] = None,
    protect_file: Annotated[
        list[str] | None,
        typer.Option("--protect-file", help="A file glob no push may change (repeat)."),
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Protect a branch (or a glob of branches); replaces its rule whole (project admins).

    Example: devflow repo protect api main --no-force-push --no-delete --require-check ci/test
    """
    body = {
        "no_force_push": no_force_push,
        "no_delete": no_delete,
        "require_pull_request": require_pr,
        "required_approvals": approvals,
        "required_checks": require_check or [],
        "push_allow": push_allow or [],
        "protected_files": protect_file or [],
    }
    rule = client(url, token).request("PUT", _rules(repo, project, branch), json=body)
    if as_json:
        emit_json(rule)
    else:
        console.print(f"protected {rule['pattern']}: {_describe(rule)}", highlight=False)


def protections(
    repo: RepoArg,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a repository's branch rules."""
    page = client(url, token).get(_rules(repo, project))
    if as_json:
        emit_json(page)
        return
    if not page["items"]:
        console.print("no protected branches")
        return
    table([{"pattern": r["pattern"], "rule": _describe(r)} for r in page["items"]],
          ["pattern", "rule"])  # fmt: skip


def unprotect(
    repo: RepoArg,
    branch: BranchArg,
    project: ProjectOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a branch's rule (project admins)."""
    client(url, token).request("DELETE", _rules(repo, project, branch))
    if as_json:
        emit_json({"pattern": branch, "deleted": True})
    else:
        console.print(f"unprotected {branch}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the branch rule commands to `devflow repo`."""
    app.command("protect")(protect)
    app.command("protections")(protections)
    app.command("unprotect")(unprotect)
