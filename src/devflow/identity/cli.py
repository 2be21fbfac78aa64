"""Users, projects, tokens and dashboard sign-in, through the running server's API."""

from __future__ import annotations

from typing import Annotated

import typer

from devflow.core.auth import Role
from devflow.core.cli import JsonOpt, TokenOpt, UrlOpt, client, console, emit_json, table

token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
project_app = typer.Typer(help="Projects: the tenant boundary.", no_args_is_help=True)
user_app = typer.Typer(help="Users (instance admins).", no_args_is_help=True)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Repeat for several; `devflow token scopes` lists them (default: those marked "
            "default that your own token has).",
        ),
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(help="Days until it expires.")] = None,
    project: Annotated[str | None, typer.Option(help="Restrict it to this project.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token; the secret is printed once."""
    body = {
        "name": name,
        "scopes": scope or None,
        "expires_in_days": expires_in_days,
        "project": project,
    }
    created = client(url, token).post("/api/v1/tokens", json=body)
    if as_json:
        emit_json(created)
        return
    console.print(
        f"token [bold]{created['name']}[/] ({', '.join(created['scopes'])}); "
        "copy it now, it is not shown again:"
    )
    print(created["token"])


@token_app.command("scopes")
def token_scopes(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """List the scopes a token can be given, with what each allows."""
    scopes = client(url, token).get("/api/v1/scopes")
    if as_json:
        emit_json(scopes)
        return
    rows = [
        {**s, "implied_by": ", ".join(s["implied_by"]), "default": "yes" if s["default"] else ""}
        for s in scopes
    ]
    table(rows, ["name", "description", "implied_by", "default"])


@token_app.command("list")
def token_list(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """List your tokens (without secrets)."""
    page = client(url, token).get("/api/v1/tokens")
    if as_json:
        emit_json(page["items"])
        return
    rows = [{**t, "scopes": ",".join(t["scopes"]), "state": _state(t)} for t in page["items"]]
    table(rows, ["id", "name", "hint", "scopes", "state", "expires_at", "last_used_at"])


def _state(item: dict[str, str | None]) -> str:
    return "revoked" if item.get("revoked_at") else "active"


@token_app.command("revoke")
def token_revoke(
    ref: Annotated[str, typer.Argument(help="Token id or name.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token at once."""
    revoked = client(url, token).request("DELETE", f"/api/v1/tokens/{ref}")
    if as_json:
        emit_json(revoked)
    else:
        console.print(f"revoked {revoked['name']} ({revoked['id']})")


@project_app.command("create")
def project_create(
    name: Annotated[str, typer.Argument(help="Lower-case name used in URLs.")],
    description: Annotated[str, typer.Option(help="One line about it.")] = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a project; you become its owner."""
    project = client(url, token).post(
        "/api/v1/projects", json={"name": name, "description": description}
    )
    if as_json:
        emit_json(project)
    else:
        console.print(f"created project {project['name']}")


@project_app.command("list")
def project_list(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """List the projects you can see."""
    page = client(url, token).get("/api/v1/projects")
    if as_json:
        emit_json(page["items"])
    else:
        table(page["items"], ["name", "description", "created_at"])


@project_app.command("show")
def project_show(
    name: Annotated[str, typer.Argument(help="Project name.")] = "default",
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a project and its members."""
    project = client(url, token).get(f"/api/v1/projects/{name}")
    if as_json:
        emit_json(project)
        return
    console.print(f"[bold]{project['name']}[/]  {project['description']}")
    console.print(f"your role: {project['your_role']}")
    table(project["members"], ["username", "role"], title="members")


@project_app.command("add-member")
def project_add_member(
    name: Annotated[str, typer.Argument(help="Project name.")],
    username: Annotated[str, typer.Argument(help="User to add.")],
    role: Annotated[Role, typer.Option(help="Their role.")] = Role.WRITE,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Give a user a role in a project."""
    client(url, token).request(
        "PUT", f"/api/v1/projects/{name}/members", json={"username": username, "role": role.value}
    )
    console.print(f"{username} is now {role.value} in {name}")


@project_app.command("remove-member")
def project_remove_member(
    name: Annotated[str, typer.Argument(help="Project name.")],
    username: Annotated[str, typer.Argument(help="User to take out of it.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Take a user out of a project (its last owner stays: make another owner first)."""
    client(url, token).request("DELETE", f"/api/v1/projects/{name}/members/{username}")
    console.print(f"{username} is no longer a member of {name}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Lower-case user name.")],
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make an instance admin.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user (instance admins)."""
    user = client(url, token).post(
        "/api/v1/users", json={"username": username, "email": email, "is_admin": admin}
    )
    if as_json:
        emit_json(user)
    else:
        console.print(f"created user {user['username']}")


def signin_link(
    username: Annotated[str | None, typer.Option(help="Whom to sign in (admins).")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a one-time dashboard sign-in link for you, or --username (instance admins)."""
    params = {"username": username} if username else {}
    print(client(url, token).post("/api/v1/signin-links", params=params)["url"])


def register(app: typer.Typer) -> None:
    """Add these commands to the root app."""
    app.add_typer(token_app, name="token")
    app.add_typer(project_app, name="project")
    app.add_typer(user_app, name="user")
    app.command("signin-link")(signin_link)
