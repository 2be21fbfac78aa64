"""Who may call what: every route of the app against every kind of caller.

Each route is declared once below with the rule it follows (who may call it) and how to build a
request that an allowed caller would have answered with success. The test calls each route as:
no token, a malformed token, a revoked one, an expired one, a token without the scope the route
needs, an admin's token restricted to another project, a plain member of the project with the
read, write and admin roles, an admin's token restricted to the project, and an unrestricted
instance admin. A route of the app without a declaration fails the test: a new route has to say
who may call it.

Everything happens in project `beta` (private repositories, a source, a job); `alpha` is the
other project. Real uvicorn, real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.routing import _IncludedRouter
from sqlalchemy import select, text
from starlette.routing import BaseRoute

from devflow.core.db import create_engine, libpq_url, session_factory, unit_of_work
from devflow.core.jobs import defer
from devflow.domains import scope_catalog
from devflow.identity import service as identity
from devflow.settings import load_settings
from devflow.testing import FakeOpenAI
from devflow.web import create_app
from devflow.workflows.models import RunStep
from devflow.workflows.runs import engine as run_engine
from tests.registry_fixtures import RegistryServer, build_wheel, npm_document, running_server
from tests.secret_values import secret_value

# -- the callers ----------------------------------------------------------------------------------

BROKEN = ("anonymous", "malformed", "revoked", "expired")
CALLERS = (
    *BROKEN,
    "wrong_scope",
    "other_project",
    "reader",
    "writer",
    "project_admin",
    "beta_admin",
    "admin",
)
ALLOW = "allow"  # a success (2xx or a redirect)
DENY = "deny"  # 403 or 404: refused, or not even shown to exist
SHOWN = "shown"  # a success whose listing includes beta's private thing
HIDDEN = "hidden"  # a success whose listing leaves it out

# What a "wrong scope" token carries, per rule: everything but what the route needs.
API_ONLY = ("read", "write")
REGISTRY_ONLY = ("registry:read", "registry:publish")
READ_ONLY = ("read",)

Expect = dict[str, str | int]


@dataclass(frozen=True)
class Rule:
    expect: Expect
    wrong_scope: tuple[str, ...]


def _rule(scopes: tuple[str, ...], /, **outcomes: str | int) -> Rule:
    """A rule with 401 for the broken credentials; `scopes` are the wrong-scope token's."""
    expect: Expect = dict.fromkeys(BROKEN, 401)
    expect.update(outcomes)
    assert set(expect) == set(CALLERS), set(CALLERS) - set(expect)
    return Rule(expect, scopes)


def anyone() -> Rule:
    """No credentials needed, and bad ones are not even looked at."""
    return Rule(dict.fromkeys(CALLERS, ALLOW), READ_ONLY)


def signed_in() -> Rule:
    """Any valid token, whatever its scopes or project."""
    return _rule(
        REGISTRY_ONLY,
        **dict.fromkeys(CALLERS[len(BROKEN) :], ALLOW),
    )


def listing(*, wrong_scope: str | int = 403, scopes: tuple[str, ...] = REGISTRY_ONLY) -> Rule:
    """A listing any token with the scope may ask for, showing only what the caller may see."""
    return _rule(
        scopes,
        wrong_scope=wrong_scope,
        other_project=HIDDEN,
        **dict.fromkeys(("reader", "writer", "project_admin", "beta_admin", "admin"), SHOWN),
    )


def member(role: str) -> Rule:
    """Needs `role` (read, write, admin) in project beta."""
    rank = {"read": 1, "write": 2, "admin": 3}[role]
    return _rule(
        REGISTRY_ONLY if role == "read" else READ_ONLY,
        wrong_scope=403,
        other_project=DENY,
        reader=ALLOW if rank <= 1 else 403,
        writer=ALLOW if rank <= 2 else 403,
        project_admin=ALLOW,
        beta_admin=ALLOW,
        admin=ALLOW,
    )


def registry(role: str) -> Rule:
    """A private repository of beta: `read` downloads, `write` publishes, `admin` deletes."""
    rule = member(role)
    return Rule({**rule.expect, "other_project": 404}, API_ONLY)


def instance_admin() -> Rule:
    """Instance-wide: an instance admin with an unrestricted `admin` token only."""
    return _rule(
        API_ONLY,
        **dict.fromkeys(CALLERS[len(BROKEN) : -1], 403),
        admin=ALLOW,
    )


def unrestricted_writer() -> Rule:
    """Any user's write token that is not restricted to a project (creating a project)."""
    return _rule(
        READ_ONLY,
        wrong_scope=403,
        other_project=403,
        reader=ALLOW,
        writer=ALLOW,
        project_admin=ALLOW,
        beta_admin=403,
        admin=ALLOW,
    )


# -- the world the requests act in ----------------------------------------------------------------


@dataclass
class World:
    server: RegistryServer
    tokens: dict[str, str]
    wrong_scope: dict[tuple[str, ...], str]
    ids: dict[str, Any] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def api(self, token: str | None = None) -> httpx.Client:
        return self.server.api(token)

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def admin(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        with self.api() as api:
            response = api.request(method, url, **kwargs)
        assert response.status_code < 300, (method, url, response.text)
        return response


async def _issue(db_url: str, username: str, scopes: tuple[str, ...], **options: Any) -> str:
    engine = create_engine(db_url, load_settings(database_url=db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            user = await identity.require_user(session, username=username)
            project_name = options.pop("project", None)
            if project_name is not None:
                project = await identity.get_project(session, name=project_name)
                assert project is not None
                options["project_id"] = project.id
            token, secret = await identity.issue_token(
                session,
                user=user,
                name=f"matrix-{uuid.uuid4().hex[:8]}",
                scopes=scope_catalog().parse(scopes),
                **options,
            )
            if options.get("kind") == "revoked":
                token.kind = "api"
            return secret
    finally:
        await engine.dispose()


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def _wheel(tmp: Any, name: str, version: str) -> tuple[str, bytes]:
    path = build_wheel(tmp, name, version)
    return path.name, path.read_bytes()


def _pypi_form(filename: str, data: bytes, name: str, version: str) -> dict[str, Any]:
    return {
        "data": {
            ":action": "file_upload",
            "protocol_version": "1",
            "name": name,
            "version": version,
            "filetype": "bdist_wheel",
            "pyversion": "py3",
            "metadata_version": "2.1",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        },
        "files": {"content": (filename, data, "application/octet-stream")},
    }


def _oci_push(world: World, name: str, tag: str) -> str:
    """Push an image (one layer, a config, a manifest) as the admin; return its digest."""
    blobs = [b'{"architecture":"amd64","os":"linux"}', uuid.uuid4().bytes]
    descriptors = []
    for data in blobs:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        world.admin(
            "POST",
            f"/v2/{name}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers=_basic(world.server.token),
        )
        descriptors.append({"digest": digest, "size": len(data)})
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {**descriptors[0], "mediaType": "application/vnd.oci.image.config.v1+json"},
            "layers": [{**descriptors[1], "mediaType": "application/vnd.oci.image.layer.v1.tar"}],
        }
    ).encode()
    world.admin(
        "PUT",
        f"/v2/{name}/manifests/{tag}",
        content=manifest,
        headers={
            **_basic(world.server.token),
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


@pytest.fixture(scope="module")
def world(pg_server, template_url, tmp_path_factory) -> Iterator[World]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    dist = tmp_path_factory.mktemp("ui_dist")  # a dashboard build, whatever this checkout has
    (dist / "assets").mkdir()
    (dist / "index.html").write_text('<script type="module" src="/assets/matrix.js"></script>')
    (dist / "assets" / "matrix.js").write_text("export {};")
    with (
        FakeOpenAI() as llm,
        running_server(
            pg_server, home, settings={"llm": llm.llm_settings(), "server": {"ui_dir": str(dist)}}
        ) as server,
    ):
        tokens = {"admin": server.token}
        first = World(server, tokens, {})
        for project in ("alpha", "beta"):
            first.admin("POST", "/api/v1/projects", json={"name": project})
        for username, role in (("reader", "read"), ("writer", "write"), ("boss", "admin")):
            first.admin("POST", "/api/v1/users", json={"username": username})
            first.admin(
                "PUT", "/api/v1/projects/beta/members", json={"username": username, "role": role}
            )

        def issue(username: str, scopes: tuple[str, ...], **options: Any) -> str:
            return asyncio.run(_issue(server.db_url, username, scopes, **options))

        every = tuple(s.value for s in scope_catalog().defaults)
        tokens["reader"] = issue("reader", every)
        tokens["writer"] = issue("writer", every)
        tokens["project_admin"] = issue("boss", every)
        tokens["other_project"] = issue("admin", ("admin",), project="alpha")
        tokens["beta_admin"] = issue("admin", ("admin",), project="beta")
        tokens["expired"] = issue("admin", ("admin",), expires_in=timedelta(seconds=-1))
        tokens["revoked"] = issue("admin", ("admin",))
        first.admin("DELETE", f"/api/v1/tokens/{_token_id(first, tokens['revoked'])}")
        tokens["malformed"] = "not-a-devflow-token"
        first.wrong_scope = {s: issue("admin", s) for s in (API_ONLY, REGISTRY_ONLY, READ_ONLY)}
        _populate(first, tmp_path_factory.mktemp("dists"))
        yield first


def _token_id(world: World, secret: str) -> str:
    with world.api(secret) as api:
        mine = api.get("/api/v1/tokens").json()["items"]
    hint = secret[:8]
    return next(t["id"] for t in mine if t["hint"].startswith(hint))


def _populate(world: World, dists: Any) -> None:
    """Beta's private things: a knowledge source with a document, repositories with packages."""
    source = world.admin(
        "POST",
        "/api/v1/knowledge/sources",
        json={"location": "upload", "name": "beta-docs", "project": "beta"},
    ).json()
    uploaded = world.admin(
        "POST",
        f"/api/v1/knowledge/sources/{source['id']}/files",
        files=[("files", ("secret-plan.md", b"# Secret plan\n\nZebracorn migration notes.\n"))],
    ).json()
    web = world.admin(
        "POST",
        "/api/v1/knowledge/sources",
        json={"location": "https://docs.example.com/", "name": "beta-web", "project": "beta"},
    ).json()
    world.ids.update(
        source=source["id"],
        document=uploaded["files"][0]["document_id"],
        web_source=web["id"],
        job=web["job_id"],
        dists=dists,
    )
    for name, fmt in (("beta-py", "pypi"), ("beta-npm", "npm")):
        world.admin(
            "POST",
            "/api/v1/registry/repositories",
            json={"name": name, "format": fmt, "project": "beta", "visibility": "private"},
        )
    filename, data = _wheel(dists, "zebracorn", "1.0")
    world.admin(
        "POST",
        "/pypi/beta-py/legacy/",
        headers=_basic(world.server.token),
        **_pypi_form(filename, data, "zebracorn", "1.0"),
    )
    world.ids["wheel"] = filename
    world.admin("PUT", "/npm/beta-npm/zebracorn", json=npm_document("zebracorn", "1.0.0"))
    world.ids["oci_digest"] = _oci_push(world, "beta/img", "v1")


# -- how to call each route -----------------------------------------------------------------------

Request = tuple[str, str, dict[str, Any]]
Build = Callable[[World, str], Request]


def get(url: str, **kwargs: Any) -> Build:
    return lambda _w, _c: ("GET", url, kwargs)


def _fresh_repo(world: World, fmt: str = "pypi") -> str:
    name = world.unique(f"beta-{fmt}-")
    world.admin(
        "POST",
        "/api/v1/registry/repositories",
        json={"name": name, "format": fmt, "project": "beta", "visibility": "private"},
    )
    return name


def _fresh_wheel(world: World, version: str | None = None) -> tuple[str, str]:
    """Publish a new version of zebracorn to beta-py; return its version and file name."""
    version = version or f"2.{next(world.counter)}"
    filename, data = _wheel(world.ids["dists"], "zebracorn", version)
    world.admin(
        "POST",
        "/pypi/beta-py/legacy/",
        headers=_basic(world.server.token),
        **_pypi_form(filename, data, "zebracorn", version),
    )
    return version, filename


def _publish_wheel(world: World, _caller: str, *, slash: bool = True) -> Request:
    version = f"3.{next(world.counter)}"
    filename, data = _wheel(world.ids["dists"], "zebracorn", version)
    form = _pypi_form(filename, data, "zebracorn", version)
    return ("POST", "/pypi/beta-py/legacy" + ("/" if slash else ""), {**form, "basic": True})


def _publish_npm(world: World, _caller: str) -> Request:
    version = f"2.0.{next(world.counter)}"
    return ("PUT", "/npm/beta-npm/zebracorn", {"json": npm_document("zebracorn", version)})


def _unpublish_npm(world: World, _caller: str) -> Request:
    version = f"3.0.{next(world.counter)}"
    world.admin("PUT", "/npm/beta-npm/zebracorn", json=npm_document("zebracorn", version))
    return ("DELETE", f"/npm/beta-npm/zebracorn/-/zebracorn-{version}.tgz/-rev/1", {})


def _version_action(action: str) -> Build:
    def build(world: World, _caller: str) -> Request:
        version, _ = _fresh_wheel(world)
        base = f"/api/v1/registry/repositories/beta-py/packages/zebracorn/versions/{version}"
        if action == "delete":
            return ("DELETE", base, {})
        body = {"message": "old"} if action == "deprecate" else {"reason": "bad"}
        return ("POST", f"{base}/{action}", {} if action == "unyank" else {"json": body})

    return build


def _delete_package(world: World, _caller: str) -> Request:
    name = world.unique("gone")
    filename, data = _wheel(world.ids["dists"], name, "1.0")
    world.admin(
        "POST",
        "/pypi/beta-py/legacy/",
        headers=_basic(world.server.token),
        **_pypi_form(filename, data, name, "1.0"),
    )
    return ("DELETE", f"/api/v1/registry/repositories/beta-py/packages/{name}", {})


def _with_budget(world: World, method: str, url: str) -> Request:
    """Make sure beta has its budget (a DELETE case removes it) before `method url`."""
    world.admin("PUT", f"{V1}/llm/budgets/beta", json={"monthly_usd": "5"})
    return (method, url, {})


def _delete_source(world: World, _caller: str) -> Request:
    source = world.admin(
        "POST",
        "/api/v1/knowledge/sources",
        json={"location": "upload", "name": world.unique("doomed"), "project": "beta"},
    ).json()
    return ("DELETE", f"/api/v1/knowledge/sources/{source['id']}", {})


async def _job_of_beta(db_url: str, status: str) -> int:
    engine = create_engine(db_url, load_settings(database_url=db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            beta = await identity.get_project(session, name="beta")
            assert beta is not None
            job_id = await defer(session, task="tests:count_to", args={"n": 1}, project_id=beta.id)
            await session.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = CAST(:s AS procrastinate_job_status) "
                    "WHERE id = :id"
                ),
                {"s": status, "id": job_id},
            )
            return job_id
    finally:
        await engine.dispose()


def _job_action(action: str) -> Build:
    """Cancel a fresh queued job of beta, or retry a fresh failed one (no worker runs here)."""

    def build(world: World, _caller: str) -> Request:
        status = "todo" if action == "cancel" else "failed"
        job_id = asyncio.run(_job_of_beta(world.server.db_url, status))
        return ("POST", f"{V1}/jobs/{job_id}/{action}", {})

    return build


def _revoke_victim(world: World, _caller: str) -> Request:
    victim = asyncio.run(_issue(world.server.db_url, "admin", ("read",)))
    return ("DELETE", f"/api/v1/tokens/{_token_id(world, victim)}", {})


def _signin(world: World, _caller: str) -> Request:
    link = world.admin("POST", "/api/v1/signin-links").json()["url"]
    return ("GET", link.removeprefix(world.server.url), {"follow_redirects": False})


def _paste_token(world: World, caller: str) -> Request:
    """Exchange the caller's own token for a dashboard session (the body, not the header)."""
    token = (
        world.wrong_scope[REGISTRY_ONLY] if caller == "wrong_scope" else world.tokens.get(caller)
    )
    return (
        "POST",
        f"{V1}/session",
        {"json": {"token": token or ""}, "headers": {"X-DevFlow-Request": "1"}},
    )


def _oci_start(world: World, _caller: str) -> Request:
    return ("POST", "/v2/beta/img/blobs/uploads/", {"oci": True})


def _oci_chunk(world: World, caller: str) -> Request:
    # The upload is the caller's own where the caller may push, else the admin's.
    token = world.tokens.get(caller) or world.server.token
    with world.api() as api:
        started = api.post("/v2/beta/img/blobs/uploads/", headers=_basic(token))
    if started.status_code != 202:
        with world.api() as api:
            started = api.post("/v2/beta/img/blobs/uploads/", headers=_basic(world.server.token))
    location = started.headers["location"]
    return ("PATCH", location, {"content": b"chunk", "oci": True})


def _oci_manifest_put(world: World, _caller: str) -> Request:
    digest = world.ids["oci_digest"]
    with world.api() as api:
        body = api.get(
            f"/v2/beta/img/manifests/{digest}",
            headers={
                **_basic(world.server.token),
                "Accept": "application/vnd.oci.image.manifest.v1+json",
            },
        ).content
    return (
        "PUT",
        f"/v2/beta/img/manifests/{world.unique('t')}",
        {
            "content": body,
            "headers": {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            "oci": True,
        },
    )


def _oci_manifest_delete(world: World, _caller: str) -> Request:
    digest = _oci_push(world, "beta/img", world.unique("d"))
    return ("DELETE", f"/v2/beta/img/manifests/{digest}", {"oci": True})


def _oci_untag(world: World, _caller: str) -> Request:
    tag = world.unique("untag")
    _oci_push(world, "beta/img", tag)
    return ("DELETE", f"{V1}/registry/oci/beta/img/tags/{tag}", {})


def _remove_member(world: World, _caller: str) -> Request:
    """A fresh reader of beta, to be taken out of it."""
    username = world.unique("leaver")
    world.admin("POST", f"{V1}/users", json={"username": username})
    world.admin("PUT", f"{V1}/projects/beta/members", json={"username": username, "role": "read"})
    return ("DELETE", f"{V1}/projects/beta/members/{username}", {})


def _beta_task(world: World) -> int:
    """A fresh task of beta's board, made by the admin; return its number."""
    made = world.admin("POST", f"{V1}/projects/beta/tasks", json={"title": world.unique("t")})
    number: int = made.json()["number"]
    return number


def _task_route(method: str, tail: str = "", **kwargs: Any) -> Build:
    def build(world: World, _caller: str) -> Request:
        return (method, f"{V1}/projects/beta/tasks/{_beta_task(world)}{tail}", kwargs)

    return build


RUNS = "/api/v1/projects/beta/runs"
# A run's first phase takes work at once; a task let into `gated` waits for a person.
MATRIX_FLOW = """
name: matrix
phases:
  - id: work
    name: Work
    next: [gated]
  - id: gated
    name: Gated
    approval:
      required: true
"""


async def _drive(db_url: str) -> None:
    """Carry out the engine's pending steps, as a worker would (none runs here)."""
    settings = load_settings(database_url=db_url)
    engine = create_engine(db_url, settings.database)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            steps = list(
                await session.scalars(
                    select(RunStep.id).where(RunStep.state == "pending", RunStep.kind == "start")
                )
            )
        for step in steps:
            await run_engine.carry_out(sessions, settings, step)
    finally:
        await engine.dispose()


def _matrix_flow(world: World) -> str:
    """Beta's `matrix` workflow, applied once by the admin."""
    if "matrix" not in world.ids:
        world.admin("POST", f"{V1}/projects/beta/workflows", json={"source": MATRIX_FLOW})
        world.ids["matrix"] = True
    return "matrix"


def _start_run(world: World, _caller: str) -> Request:
    body = {"workflow": _matrix_flow(world), "goal": world.unique("goal")}
    return ("POST", RUNS, {"json": body})


def _beta_run(world: World, *, started: bool = False) -> int:
    """A fresh run of beta's `matrix` workflow by the admin (running once `started`)."""
    _matrix_flow(world)
    made = world.admin("POST", RUNS, json={"workflow": "matrix", "goal": world.unique("goal")})
    number: int = made.json()["number"]
    if started:
        asyncio.run(_drive(world.server.db_url))
    return number


def _run_route(action: str, *, state: str = "pending", **kwargs: Any) -> Build:
    """POST …/runs/N/`action` to a fresh run in `state` (pending, paused or running)."""

    def build(world: World, _caller: str) -> Request:
        number = _beta_run(world, started=state == "running")
        if state == "paused":
            world.admin("POST", f"{RUNS}/{number}/pause")
        return ("POST", f"{RUNS}/{number}/{action}", kwargs)

    return build


def _run_approval(world: World, _caller: str) -> Request:
    """Approve the fresh approval a task waits for to enter the gated phase of a fresh run."""
    number = _beta_run(world, started=True)
    world.admin(
        "POST", f"{V1}/projects/beta/tasks", json={"title": "in", "run": number, "phase": "gated"}
    )
    (approval,) = world.admin("GET", f"{RUNS}/{number}").json()["approvals"]
    return (
        "POST",
        f"{RUNS}/{number}/approvals/{approval['id']}",
        {"json": {"decision": "approve"}},
    )


def _fresh_column(world: World, _caller: str) -> Request:
    name = world.unique("col")
    world.admin("POST", f"{V1}/projects/beta/board/columns", json={"name": name, "state": "open"})
    return ("DELETE", f"{V1}/projects/beta/board/columns/{name}", {})


def _beta_code(world: World) -> str:
    """Beta's private git repository `code` (with a README commit), made once by the admin."""
    if "code" not in world.ids:
        world.admin("POST", f"{V1}/projects/beta/repos", json={"name": "code", "readme": True})
        world.ids["code"] = True
    return "/beta/code.git"


def _git(tail: str, **kwargs: Any) -> Build:
    """A Smart HTTP request to beta's `code`, with Basic credentials as git sends them."""

    def build(world: World, _caller: str) -> Request:
        return (
            "POST" if "content" in kwargs else "GET",
            _beta_code(world) + tail,
            {**kwargs, "basic": True},
        )

    return build


def _git_rule(role: str) -> Rule:
    """Beta's private repository: `read` clones and fetches, `write` pushes."""
    rule = member(role)
    return Rule({**rule.expect, "other_project": 404}, rule.wrong_scope)


def _repo_route(method: str, **kwargs: Any) -> Build:
    def build(world: World, _caller: str) -> Request:
        _beta_code(world)
        return (method, f"{V1}/projects/beta/repos/code", kwargs)

    return build


def _fresh_git_repo(world: World, _caller: str) -> Request:
    name = world.unique("gone-")
    world.admin("POST", f"{V1}/projects/beta/repos", json={"name": name})
    return ("DELETE", f"{V1}/projects/beta/repos/{name}", {})


def _beta_mirror(world: World) -> str:
    """Beta's pull mirror `mirrored`: a repository made by the admin and marked a mirror in the
    database (no worker runs here to clone a source)."""
    if "mirrored" not in world.ids:
        made = world.admin("POST", f"{V1}/projects/beta/repos", json={"name": "mirrored"}).json()
        with psycopg.connect(libpq_url(world.server.db_url), autocommit=True) as conn:
            conn.execute(
                "UPDATE repos_repository SET is_mirror = true WHERE id = %s", (made["id"],)
            )
            conn.execute(
                "INSERT INTO repos_mirror (repository_id, url, interval_seconds, next_fetch_at) "
                "VALUES (%s, 'https://git.example.com/m.git', 3600, now() + interval '1 hour')",
                (made["id"],),
            )
        world.ids["mirrored"] = True
    return f"{V1}/projects/beta/repos/mirrored/mirror"


def _mirror_route(method: str, tail: str = "") -> Build:
    def build(world: World, _caller: str) -> Request:
        return (method, _beta_mirror(world) + tail, {})

    return build


def _import(world: World, _caller: str) -> Request:
    # A public address literal: checked without a lookup; the job waits (no worker here).
    body = {"url": "http://93.184.215.14/team/app.git", "name": world.unique("imp")}
    return ("POST", f"{V1}/projects/beta/repos/import", {"json": body})


def _fork_code(world: World, _caller: str) -> Request:
    """A fork of beta's `code` into beta, under a name of its own."""
    _beta_code(world)
    body = {"name": world.unique("fork")}
    return ("POST", f"{V1}/projects/beta/repos/code/forks", {"json": body})


def _browse(tail: str, **params: str) -> Build:
    """A browsing route of beta's `code` (its README commit on main)."""

    def build(world: World, _caller: str) -> Request:
        _beta_code(world)
        return ("GET", f"{V1}/projects/beta/repos/code/{tail}", {"params": params})

    return build


def _code_head(world: World) -> str:
    """The sha of beta's `code` main (its README commit)."""
    _beta_code(world)
    if "code_head" not in world.ids:
        combined = world.admin("GET", f"{V1}/projects/beta/repos/code/commits/main/status")
        world.ids["code_head"] = combined.json()["sha"]
    return str(world.ids["code_head"])


def _report_status(world: World, _caller: str) -> Request:
    url = f"{V1}/projects/beta/repos/code/statuses/{_code_head(world)}"
    return ("POST", url, {"json": {"state": "success", "context": "ci/matrix"}})


def _fresh_rule(world: World, _caller: str) -> Request:
    _beta_code(world)
    url = f"{V1}/projects/beta/repos/code/protections/{world.unique('gone-')}"
    world.admin("PUT", url, json={"no_delete": True})
    return ("DELETE", url, {})


PULLS = "/api/v1/projects/beta/repos/code/pulls"


def _fresh_pull(world: World, *, close: bool = False) -> tuple[int, str]:
    """Open a pull request of beta's `code` from a new branch (one commit on main, written
    straight into the bare repository); return its number and head."""
    _beta_code(world)
    if "code_bare" not in world.ids:
        made = world.admin("GET", "/api/v1/projects/beta/repos/code").json()
        world.ids["code_bare"] = world.server.home / "repos" / f"{made['id']}.git"
    branch = world.unique("topic-")
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        **dict.fromkeys(("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"), "a"),
        **dict.fromkeys(("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"), "a@example.com"),
    }

    def run(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=world.ids["code_bare"], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout.strip()

    run("update-ref", f"refs/heads/{branch}", run("commit-tree", "main^{tree}", "-p", "main",
                                                  "-m", branch))  # fmt: skip
    made = world.admin("POST", PULLS, json={"head": branch, "title": branch}).json()
    if close:
        world.admin("POST", f"{PULLS}/{made['number']}/close")
    return made["number"], made["head_sha"]


def _beta_pull(world: World) -> int:
    """One open pull request of beta's `code`, opened once by the admin."""
    if "pull" not in world.ids:
        world.ids["pull"] = _fresh_pull(world)[0]
    return int(world.ids["pull"])


def _pull_route(method: str, tail: str = "", **kwargs: Any) -> Build:
    return lambda w, _c: (method, f"{PULLS}/{_beta_pull(w)}{tail}", kwargs)


def _open_pull(world: World, _caller: str) -> Request:
    number, _ = _fresh_pull(world, close=True)  # its branch is free for another
    branch = world.admin("GET", f"{PULLS}/{number}").json()["head"]
    return ("POST", PULLS, {"json": {"head": branch, "title": "again"}})


def _pull_action(action: str) -> Build:
    def build(world: World, _caller: str) -> Request:
        number, head = _fresh_pull(world, close=action == "reopen")
        body = {"json": {"sha": head, "method": "merge"}} if action == "merge" else {}
        return ("POST", f"{PULLS}/{number}/{action}", body)

    return build


HOOKS = "/api/v1/projects/beta/hooks"


def _beta_hook(world: World) -> str:
    """Beta's webhook (made once by the admin; its ping waits, no worker runs here) and the
    ping's delivery; returns the hook's URL."""
    if "hook" not in world.ids:
        made = world.admin("POST", HOOKS, json={"url": "https://hooks.example.com/beta"}).json()
        world.ids["hook"] = made["id"]
        listed = world.admin("GET", f"{HOOKS}/{made['id']}/deliveries").json()
        world.ids["delivery"] = listed["items"][0]["id"]
    return f"{HOOKS}/{world.ids['hook']}"


def _hook_route(method: str, tail: str = "", **kwargs: Any) -> Build:
    def build(world: World, _caller: str) -> Request:
        return (method, _beta_hook(world) + tail.format(delivery=world.ids.get("delivery")), kwargs)

    return build


def _fresh_hook(world: World, _caller: str) -> Request:
    made = world.admin("POST", HOOKS, json={"url": "https://hooks.example.com/gone"}).json()
    return ("DELETE", f"{HOOKS}/{made['id']}", {})


def _redeliver(world: World, _caller: str) -> Request:
    """A redelivery of the ping, whose last attempt is marked ended first (one at a time)."""
    hook = _beta_hook(world)
    with psycopg.connect(libpq_url(world.server.db_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE repos_webhook_delivery SET status = 'failed' WHERE id = %s",
            (world.ids["delivery"],),
        )
    return ("POST", f"{hook}/deliveries/{world.ids['delivery']}/attempts", {})


FLOW = "name: {name}\nphases:\n  - id: work\n    name: Work\n"


def _beta_flows(world: World) -> str:
    """Beta's repository `flows` with one definition in .devflow/workflows, pushed once by the
    admin straight into the bare repository (git hosting keeps it under its id)."""
    if "flows" not in world.ids:
        made = world.admin(
            "POST", f"{V1}/projects/beta/repos", json={"name": "flows", "readme": True}
        ).json()
        bare = world.server.home / "repos" / f"{made['id']}.git"
        work = world.ids["dists"] / "flows"
        env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "a",
            "GIT_AUTHOR_EMAIL": "a@example.com",
            "GIT_COMMITTER_NAME": "a",
            "GIT_COMMITTER_EMAIL": "a@example.com",
        }
        subprocess.run(["git", "clone", "-q", str(bare), str(work)], env=env, check=True)
        (work / ".devflow" / "workflows").mkdir(parents=True)
        (work / ".devflow" / "workflows" / "flow.yml").write_text(FLOW.format(name="flow"))
        for args in (["add", "-A"], ["commit", "-qm", "flow"], ["push", "-q", "origin", "HEAD"]):
            subprocess.run(["git", *args], cwd=work, env=env, check=True)
        world.ids["flows"] = True
    return "flows"


def _apply_flow(world: World, _caller: str) -> Request:
    body = FLOW.format(name=world.unique("flow-"))
    return (
        "POST",
        f"{V1}/projects/beta/workflows",
        {"content": body, "headers": {"Content-Type": "application/yaml"}},
    )


# Secrets (issue 18, `secrets/scopes.py`): the system tier is the instance admins'; a user's
# tier is that user's only, never through a token restricted to a project; a project's readers
# see names and history, its writers set, delete, roll back and reveal.
_SECRET_OWNERS = ("reader", "writer", "project_admin", "admin")


def _secret_tier(world: World, tier: str, caller: str) -> tuple[str, str]:
    """The tier's URL and the token that fills it: the caller's own for a user tier (the
    admin's for callers without a usable token of their own), else the admin's."""
    if tier == "system":
        return f"{V1}/secrets/system", world.server.token
    if tier == "project":
        return f"{V1}/projects/beta/secrets", world.server.token
    owner = caller if caller in _SECRET_OWNERS else "admin"
    return f"{V1}/secrets/user", world.tokens[owner]


def _put_secret(world: World, token: str, url: str) -> None:
    with world.api(token) as api:
        made = api.put(url, json={"value": secret_value()})
    assert made.status_code == 200, made.text


def _secret(tier: str, method: str, tail: str = "", *, fresh: bool = False, **kwargs: Any) -> Build:
    """A call on secret MATRIX_SECRET of `tier` (two versions, so version 1 can be rolled back
    to), or on a fresh one each time (`fresh`, for a deletion); `tail` None: the listing."""

    def build(world: World, caller: str) -> Request:
        base, token = _secret_tier(world, tier, caller)
        if fresh:
            url = f"{base}/{world.unique('MATRIX_GONE_')}"
            _put_secret(world, token, url)
        else:
            url = f"{base}/MATRIX_SECRET"
            if ("secret", url, token) not in world.ids:
                for _ in range(2):
                    _put_secret(world, token, url)
                world.ids["secret", url, token] = True
        body = {"json": {"value": secret_value()}} if method == "PUT" else {}
        return (method, url + tail, {**kwargs, **body})

    return build


_MANUAL = {"rotator": "manual", "interval_seconds": 86400}


def _rotation(tier: str, method: str, tail: str, *, fresh: bool = False) -> Build:
    """A call on the rotation policy of a secret that has one (a manual one: rotating it now is
    refused with 422 by design, after the caller passed authorization)."""

    def build(world: World, caller: str) -> Request:
        _m, url, _kw = _secret(tier, "GET", fresh=fresh)(world, caller)
        token = _secret_tier(world, tier, caller)[1]
        with world.api(token) as api:
            made = api.put(f"{url}/rotation", json=_MANUAL)
        assert made.status_code == 200, made.text
        body = {"json": _MANUAL} if method == "PUT" else {}
        return (method, url + tail, body)

    return build


def _refused_as_manual(rule: Rule) -> Rule:
    """`rule` with its successes answered 422: rotating a manual secret now is refused."""
    expect = {k: (422 if v == ALLOW else v) for k, v in rule.expect.items()}
    return Rule(expect, rule.wrong_scope)


def _secret_list(tier: str) -> Build:
    def build(world: World, caller: str) -> Request:
        _secret(tier, "GET")(world, caller)  # something to list
        return ("GET", _secret_tier(world, tier, caller)[0], {})

    return build


def own_secrets(action: str) -> Rule:
    """A user's own secrets: that user only, with a token not restricted to a project and the
    scope the action needs (read to list, write to change or reveal)."""
    return _rule(
        REGISTRY_ONLY if action == "list" else READ_ONLY,
        wrong_scope=403,
        other_project=403,
        reader=ALLOW,
        writer=ALLOW,
        project_admin=ALLOW,
        beta_admin=403,
        admin=ALLOW,
    )


def _secret_cases(tier: str, path: str, rule: Callable[[str], Rule]) -> dict[str, Case]:
    return {
        f"GET {path}": Case(rule("list"), _secret_list(tier)),
        f"GET {path}/{{name}}": Case(rule("list"), _secret(tier, "GET")),
        f"PUT {path}/{{name}}": Case(rule("write"), _secret(tier, "PUT")),
        f"DELETE {path}/{{name}}": Case(rule("write"), _secret(tier, "DELETE", fresh=True)),
        f"GET {path}/{{name}}/history": Case(rule("list"), _secret(tier, "GET", "/history")),
        f"POST {path}/{{name}}/rollback": Case(
            rule("write"), _secret(tier, "POST", "/rollback", json={"version": 1})
        ),
        f"GET {path}/{{name}}/rotation": Case(rule("list"), _rotation(tier, "GET", "/rotation")),
        f"PUT {path}/{{name}}/rotation": Case(rule("write"), _rotation(tier, "PUT", "/rotation")),
        f"DELETE {path}/{{name}}/rotation": Case(
            rule("write"), _rotation(tier, "DELETE", "/rotation", fresh=True)
        ),
        f"POST {path}/{{name}}/rotate": Case(
            _refused_as_manual(rule("write")), _rotation(tier, "POST", "/rotate")
        ),
    }


def _system_rule(_action: str) -> Rule:
    return instance_admin()


def _project_rule(action: str) -> Rule:
    return member("read" if action == "list" else "write")


SECRET_TIERS = (
    ("system", "/api/v1/secrets/system", _system_rule),
    ("user", "/api/v1/secrets/user", own_secrets),
    ("project", "/api/v1/projects/{project}/secrets", _project_rule),
)


def _mcp(_world: World, _caller: str) -> Request:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "matrix", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    return ("POST", "/mcp", {"json": initialize, "headers": headers})


def _shows(text: str) -> Callable[[httpx.Response], bool]:
    return lambda response: text in response.text


def _public_key() -> str:
    import asyncssh

    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()


_KEY_OWNER = {"reader": "reader", "writer": "writer", "project_admin": "boss"}


def _fresh_ssh_key(world: World, caller: str) -> Request:
    """A key of the caller's own user (the admin's for the others), added by the admin; the
    caller removes it as `me`."""
    owner = _KEY_OWNER.get(caller, "admin")
    made = world.admin("POST", f"{V1}/users/{owner}/keys", json={"key": _public_key()}).json()
    return ("DELETE", f"{V1}/users/me/keys/{made['id']}", {})


def ssh_key_owner(*, restricted: str | int) -> Rule:
    """A user's own SSH keys (`me`): any user; `restricted` for a project-restricted token."""
    return _rule(
        READ_ONLY,
        wrong_scope=403,
        other_project=restricted,
        reader=ALLOW,
        writer=ALLOW,
        project_admin=ALLOW,
        beta_admin=restricted,
        admin=ALLOW,
    )


@dataclass(frozen=True)
class Case:
    rule: Rule
    build: Build
    shows: Callable[[httpx.Response], bool] | None = None


V1 = "/api/v1"
REPO = f"{V1}/registry/repositories"
VERSION = f"{REPO}/{{name}}/packages/{{package:path}}/versions/{{version}}"
DECLARED: dict[str, Case] = {
    # The platform: identity, jobs, events.
    "GET /openapi.json": Case(anyone(), get("/openapi.json")),
    "GET /docs": Case(anyone(), get("/docs")),
    "GET /docs/oauth2-redirect": Case(anyone(), get("/docs/oauth2-redirect")),
    "GET /redoc": Case(anyone(), get("/redoc")),
    "* /docs/assets": Case(anyone(), get("/docs/assets/swagger-ui.css")),
    "GET /health": Case(anyone(), get("/health")),
    "GET /ready": Case(anyone(), get("/ready")),
    # The effective configuration: instance-wide, and it says where everything is.
    "GET /api/v1/settings": Case(instance_admin(), get(f"{V1}/settings")),
    # The dashboard: its page and assets are public; what it shows comes from the API.
    "GET /": Case(anyone(), get("/")),
    "* /assets": Case(anyone(), get("/assets/matrix.js")),
    "GET /auth/signin": Case(anyone(), _signin),
    "GET /api/v1/me": Case(signed_in(), get(f"{V1}/me")),
    "GET /api/v1/session": Case(signed_in(), get(f"{V1}/session")),
    # A session with the token's own powers, whatever they are; a bad token gets none.
    "POST /api/v1/session": Case(signed_in(), _paste_token),
    # Sign-out ends the cookie's session; without a cookie there is nothing to end.
    "DELETE /api/v1/session": Case(anyone(), lambda _w, _c: ("DELETE", f"{V1}/session", {})),
    "GET /api/v1/projects": Case(listing(), get(f"{V1}/projects"), _shows('"beta"')),
    "POST /api/v1/projects": Case(
        unrestricted_writer(),
        lambda w, _c: ("POST", f"{V1}/projects", {"json": {"name": w.unique("p")}}),
    ),
    "GET /api/v1/projects/{name}": Case(member("read"), get(f"{V1}/projects/beta")),
    "PUT /api/v1/projects/{name}/members": Case(
        member("admin"),
        lambda _w, _c: (
            "PUT",
            f"{V1}/projects/beta/members",
            {"json": {"username": "reader", "role": "read"}},
        ),
    ),
    "DELETE /api/v1/projects/{name}/members/{username}": Case(member("admin"), _remove_member),
    "POST /api/v1/users": Case(
        instance_admin(),
        lambda w, _c: ("POST", f"{V1}/users", {"json": {"username": w.unique("u")}}),
    ),
    "GET /api/v1/tokens": Case(listing(), get(f"{V1}/tokens")),
    "GET /api/v1/scopes": Case(signed_in(), get(f"{V1}/scopes")),
    "POST /api/v1/tokens": Case(
        _rule(REGISTRY_ONLY, wrong_scope=403, **dict.fromkeys(CALLERS[5:], ALLOW)),
        lambda w, _c: (
            "POST",
            f"{V1}/tokens",
            {"json": {"name": w.unique("t"), "scopes": ["read"]}},
        ),
    ),
    # Another's token: only an unrestricted instance admin may revoke it.
    "DELETE /api/v1/tokens/{ref}": Case(
        _rule(
            REGISTRY_ONLY,
            wrong_scope=403,
            **dict.fromkeys(CALLERS[5:-1], 404),
            admin=ALLOW,
        ),
        _revoke_victim,
    ),
    "POST /api/v1/signin-links": Case(
        instance_admin(), lambda _w, _c: ("POST", f"{V1}/signin-links", {})
    ),
    # Filtered to knowledge jobs: runs, webhooks and mirrors queue others that could push the
    # one to look for off the first page.
    "GET /api/v1/jobs": Case(
        listing(), get(f"{V1}/jobs?task=knowledge:*&limit=500"), _shows("knowledge:")
    ),
    "GET /api/v1/jobs/{job_id}": Case(
        member("read"), lambda w, _c: ("GET", f"{V1}/jobs/{w.ids['job']}", {})
    ),
    "POST /api/v1/jobs/{job_id}/cancel": Case(member("write"), _job_action("cancel")),
    "POST /api/v1/jobs/{job_id}/retry": Case(member("write"), _job_action("retry")),
    "GET /api/v1/events": Case(listing(), get(f"{V1}/events", stream=True)),
    # The LLM gateway.
    "GET /api/v1/llm/usage": Case(listing(), get(f"{V1}/llm/usage")),
    "GET /api/v1/llm/budgets": Case(
        listing(), lambda w, _c: _with_budget(w, "GET", f"{V1}/llm/budgets"), _shows('"beta"')
    ),
    "GET /api/v1/llm/budgets/{project}": Case(
        member("read"), lambda w, _c: _with_budget(w, "GET", f"{V1}/llm/budgets/beta")
    ),
    "PUT /api/v1/llm/budgets/{project}": Case(
        member("admin"),
        lambda _w, _c: ("PUT", f"{V1}/llm/budgets/beta", {"json": {"monthly_usd": "5"}}),
    ),
    "DELETE /api/v1/llm/budgets/{project}": Case(
        member("admin"), lambda w, _c: _with_budget(w, "DELETE", f"{V1}/llm/budgets/beta")
    ),
    "POST /api/v1/llm/ping": Case(
        instance_admin(), lambda _w, _c: ("POST", f"{V1}/llm/ping", {"json": {"aliases": ["chat"]}})
    ),
    # The knowledge hub.
    "GET /api/v1/knowledge/sources": Case(
        listing(), get(f"{V1}/knowledge/sources"), _shows("beta-docs")
    ),
    "POST /api/v1/knowledge/sources": Case(
        member("write"),
        lambda w, _c: (
            "POST",
            f"{V1}/knowledge/sources",
            {"json": {"location": "upload", "name": w.unique("s"), "project": "beta"}},
        ),
    ),
    "GET /api/v1/knowledge/sources/{source_id}": Case(
        member("read"), lambda w, _c: ("GET", f"{V1}/knowledge/sources/{w.ids['source']}", {})
    ),
    "POST /api/v1/knowledge/sources/{source_id}/refresh": Case(
        member("write"),
        lambda w, _c: ("POST", f"{V1}/knowledge/sources/{w.ids['web_source']}/refresh", {}),
    ),
    "DELETE /api/v1/knowledge/sources/{source_id}": Case(member("write"), _delete_source),
    "GET /api/v1/knowledge/sources/{source_id}/documents": Case(
        member("read"),
        lambda w, _c: ("GET", f"{V1}/knowledge/sources/{w.ids['source']}/documents", {}),
    ),
    "POST /api/v1/knowledge/sources/{source_id}/files": Case(
        member("write"),
        lambda w, _c: (
            "POST",
            f"{V1}/knowledge/sources/{w.ids['source']}/files",
            {"files": [("files", (f"{w.unique('f')}.md", b"# More\n\nnotes\n"))]},
        ),
    ),
    "POST /api/v1/knowledge/sources/{source_id}/files/retain": Case(
        member("write"),
        lambda w, _c: (
            "POST",
            f"{V1}/knowledge/sources/{w.ids['source']}/files/retain",
            {"json": {"files": ["secret-plan.md"]}},
        ),
    ),
    "GET /api/v1/knowledge/documents/{document_id}": Case(
        member("read"), lambda w, _c: ("GET", f"{V1}/knowledge/documents/{w.ids['document']}", {})
    ),
    "GET /api/v1/knowledge/documents": Case(
        member("read"),
        lambda w, _c: (
            "GET",
            f"{V1}/knowledge/documents",
            {"params": {"uri": "secret-plan.md", "source_id": w.ids["source"]}},
        ),
    ),
    "POST /api/v1/knowledge/search": Case(
        listing(),
        lambda _w, _c: (
            "POST",
            f"{V1}/knowledge/search",
            {"json": {"query": "zebracorn migration", "mode": "keyword"}},
        ),
        _shows("secret-plan.md"),
    ),
    "GET /api/v1/knowledge/code-examples": Case(
        listing(), get(f"{V1}/knowledge/code-examples", params={"q": "zebracorn"})
    ),
    "POST /api/v1/knowledge/answer": Case(
        listing(),
        lambda _w, _c: (
            "POST",
            f"{V1}/knowledge/answer",
            {"json": {"question": "What are the zebracorn notes?", "stream": False}},
        ),
        _shows("secret-plan.md"),
    ),
    # The registry's management API.
    "GET /api/v1/registry/repositories": Case(
        listing(wrong_scope=HIDDEN, scopes=API_ONLY), get(f"{REPO}"), _shows("beta-py")
    ),
    "POST /api/v1/registry/repositories": Case(
        member("admin"),
        lambda w, _c: (
            "POST",
            REPO,
            {"json": {"name": w.unique("new-"), "format": "pypi", "project": "beta"}},
        ),
    ),
    "GET /api/v1/registry/repositories/{name}": Case(registry("read"), get(f"{REPO}/beta-py")),
    "GET /api/v1/registry/repositories/{name:path}": Case(
        registry("read"), get(f"{REPO}/beta/img")
    ),
    "PATCH /api/v1/registry/repositories/{name:path}": Case(
        registry("admin"),
        lambda _w, _c: ("PATCH", f"{REPO}/beta-py", {"json": {"description": "zebras"}}),
    ),
    "DELETE /api/v1/registry/repositories/{name}": Case(
        registry("admin"), lambda w, _c: ("DELETE", f"{REPO}/{_fresh_repo(w)}", {})
    ),
    "DELETE /api/v1/registry/repositories/{name:path}": Case(
        registry("admin"),
        lambda w, _c: (
            (name := f"beta/{w.unique('gone')}"),
            _oci_push(w, name, "v1"),
            ("DELETE", f"{REPO}/{name}", {}),
        )[2],
    ),
    "GET /api/v1/registry/repositories/{name}/packages": Case(
        registry("read"), get(f"{REPO}/beta-py/packages")
    ),
    "GET /api/v1/registry/repositories/{name}/packages/{package:path}": Case(
        registry("read"), get(f"{REPO}/beta-py/packages/zebracorn")
    ),
    "GET /api/v1/registry/repositories/{name}/packages/{package:path}/versions": Case(
        registry("read"), get(f"{REPO}/beta-py/packages/zebracorn/versions")
    ),
    f"POST {VERSION}/yank": Case(registry("write"), _version_action("yank")),
    f"POST {VERSION}/unyank": Case(registry("write"), _version_action("unyank")),
    f"POST {VERSION}/deprecate": Case(registry("write"), _version_action("deprecate")),
    f"DELETE {VERSION}": Case(registry("admin"), _version_action("delete")),
    "DELETE /api/v1/registry/repositories/{name}/packages/{package:path}": Case(
        registry("admin"), _delete_package
    ),
    "GET /api/v1/registry/search": Case(
        listing(wrong_scope=HIDDEN, scopes=API_ONLY),
        get(f"{V1}/registry/search", params={"q": "zebracorn"}),
        _shows("beta-py"),
    ),
    "GET /api/v1/registry/stats": Case(
        listing(wrong_scope=HIDDEN, scopes=API_ONLY), get(f"{V1}/registry/stats"), _shows("beta-py")
    ),
    "POST /api/v1/registry/gc": Case(
        instance_admin(), lambda _w, _c: ("POST", f"{V1}/registry/gc", {"json": {"dry_run": True}})
    ),
    "GET /api/v1/registry/oci/{name:path}/charts": Case(
        registry("read"), get(f"{V1}/registry/oci/beta/img/charts")
    ),
    "GET /api/v1/registry/oci/{name:path}/tags": Case(
        registry("read"), get(f"{V1}/registry/oci/beta/img/tags")
    ),
    "GET /api/v1/registry/oci/{name:path}/images": Case(
        registry("read"), get(f"{V1}/registry/oci/beta/img/images")
    ),
    "GET /api/v1/registry/oci/{name:path}/manifests/{reference}": Case(
        registry("read"), get(f"{V1}/registry/oci/beta/img/manifests/v1")
    ),
    "DELETE /api/v1/registry/oci/{name:path}/tags/{tag}": Case(registry("admin"), _oci_untag),
    # The registry's PyPI protocol.
    "GET /pypi/{repo}/simple": Case(anyone(), get("/pypi/beta-py/simple", follow_redirects=False)),
    "GET /pypi/{repo}/simple/": Case(registry("read"), get("/pypi/beta-py/simple/", basic=True)),
    "GET /pypi/{repo}/simple/{project}": Case(
        anyone(), get("/pypi/beta-py/simple/zebracorn", follow_redirects=False)
    ),
    "GET /pypi/{repo}/simple/{project}/": Case(
        registry("read"), get("/pypi/beta-py/simple/zebracorn/", basic=True)
    ),
    "GET /pypi/{repo}/files/{filename}": Case(
        registry("read"),
        lambda w, _c: ("GET", f"/pypi/beta-py/files/{w.ids['wheel']}", {"basic": True}),
    ),
    "POST /pypi/{repo}/legacy/": Case(registry("write"), _publish_wheel),
    "POST /pypi/{repo}/legacy": Case(
        registry("write"),
        lambda w, c: _publish_wheel(w, c, slash=False),
    ),
    # The registry's npm protocol.
    "GET /npm/{repo}/{path:path}": Case(registry("read"), get("/npm/beta-npm/zebracorn")),
    "PUT /npm/{repo}/{path:path}": Case(registry("write"), _publish_npm),
    "POST /npm/{repo}/{path:path}": Case(
        anyone(),
        lambda _w, _c: ("POST", "/npm/beta-npm/-/npm/v1/security/advisories/bulk", {"json": {}}),
    ),
    "DELETE /npm/{repo}/{path:path}": Case(registry("admin"), _unpublish_npm),
    # The registry's OCI protocol.
    "GET /v2/_catalog": Case(
        listing(wrong_scope=HIDDEN, scopes=API_ONLY),
        get("/v2/_catalog", basic=True),
        _shows("beta/img"),
    ),
    "GET /v2": Case(signed_in(), get("/v2", basic=True)),
    "GET /v2/": Case(signed_in(), get("/v2/", basic=True)),
    # Anonymous callers get an anonymous registry token (for public images); bad ones do not.
    "GET /v2/token": Case(
        Rule({**signed_in().expect, "anonymous": ALLOW, "wrong_scope": 403}, READ_ONLY),
        get("/v2/token", basic=True),
    ),
    "POST /v2/token": Case(
        Rule({**signed_in().expect, "wrong_scope": 403}, READ_ONLY),
        lambda _w, c: (
            "POST",
            "/v2/token",
            {"data": {"grant_type": "password", "username": "u", "password": c}, "form": True},
        ),
    ),
    "GET /v2/{path:path}": Case(
        registry("read"),
        lambda w, _c: ("GET", f"/v2/beta/img/manifests/{w.ids['oci_digest']}", {"oci": True}),
    ),
    "HEAD /v2/{path:path}": Case(
        registry("read"),
        lambda w, _c: ("HEAD", f"/v2/beta/img/manifests/{w.ids['oci_digest']}", {"oci": True}),
    ),
    "POST /v2/{path:path}": Case(registry("write"), _oci_start),
    "PATCH /v2/{path:path}": Case(registry("write"), _oci_chunk),
    "PUT /v2/{path:path}": Case(registry("write"), _oci_manifest_put),
    "DELETE /v2/{path:path}": Case(registry("admin"), _oci_manifest_delete),
    # Workflows: tasks and the board of a project.
    "GET /api/v1/projects/{project}/tasks": Case(member("read"), get(f"{V1}/projects/beta/tasks")),
    "GET /api/v1/projects/{project}/tasks/search": Case(
        member("read"), get(f"{V1}/projects/beta/tasks/search?q=deploy")
    ),
    "POST /api/v1/projects/{project}/tasks": Case(
        member("write"),
        lambda w, _c: ("POST", f"{V1}/projects/beta/tasks", {"json": {"title": w.unique("t")}}),
    ),
    "POST /api/v1/projects/{project}/tasks/next": Case(
        member("write"), lambda _w, _c: ("POST", f"{V1}/projects/beta/tasks/next", {})
    ),
    "GET /api/v1/projects/{project}/tasks/{number}": Case(member("read"), _task_route("GET")),
    "PATCH /api/v1/projects/{project}/tasks/{number}": Case(
        member("write"), _task_route("PATCH", json={"version": 1, "priority": "high"})
    ),
    "GET /api/v1/projects/{project}/tasks/{number}/comments": Case(
        member("read"), _task_route("GET", "/comments")
    ),
    "POST /api/v1/projects/{project}/tasks/{number}/comments": Case(
        member("write"), _task_route("POST", "/comments", json={"body": "progress"})
    ),
    "GET /api/v1/projects/{project}/tasks/{number}/history": Case(
        member("read"), _task_route("GET", "/history")
    ),
    "GET /api/v1/projects/{project}/board": Case(member("read"), get(f"{V1}/projects/beta/board")),
    "POST /api/v1/projects/{project}/board/columns": Case(
        member("admin"),
        lambda w, _c: (
            "POST",
            f"{V1}/projects/beta/board/columns",
            {"json": {"name": w.unique("col"), "state": "review"}},
        ),
    ),
    "PATCH /api/v1/projects/{project}/board/columns/{column}": Case(
        member("admin"),
        lambda _w, _c: ("PATCH", f"{V1}/projects/beta/board/columns/todo", {"json": {}}),
    ),
    "DELETE /api/v1/projects/{project}/board/columns/{column}": Case(
        member("admin"), _fresh_column
    ),
    # Workflows: runs of a project's workflows.
    "GET /api/v1/projects/{project}/runs": Case(member("read"), get(RUNS)),
    "POST /api/v1/projects/{project}/runs": Case(member("write"), _start_run),
    "GET /api/v1/projects/{project}/runs/{number}": Case(
        member("read"), lambda w, _c: ("GET", f"{RUNS}/{_beta_run(w)}", {})
    ),
    "POST /api/v1/projects/{project}/runs/{number}/pause": Case(
        member("write"), _run_route("pause")
    ),
    "POST /api/v1/projects/{project}/runs/{number}/resume": Case(
        member("write"), _run_route("resume", state="paused")
    ),
    "POST /api/v1/projects/{project}/runs/{number}/cancel": Case(
        member("write"), _run_route("cancel")
    ),
    "POST /api/v1/projects/{project}/runs/{number}/result": Case(
        member("write"), _run_route("result", state="running", json={"summary": "done"})
    ),
    "POST /api/v1/projects/{project}/runs/{number}/approvals/{approval}": Case(
        member("write"), _run_approval
    ),
    # Workflow definitions: the schema is public documentation; checking one needs a sign-in.
    "GET /api/v1/workflows/schema": Case(anyone(), get(f"{V1}/workflows/schema")),
    "POST /api/v1/workflows/validate": Case(
        signed_in(),
        lambda _w, _c: (
            "POST",
            f"{V1}/workflows/validate",
            {"content": FLOW.format(name="x"), "headers": {"Content-Type": "application/yaml"}},
        ),
    ),
    "GET /api/v1/projects/{project}/workflows": Case(
        member("read"), get(f"{V1}/projects/beta/workflows")
    ),
    "POST /api/v1/projects/{project}/workflows": Case(member("write"), _apply_flow),
    "GET /api/v1/projects/{project}/workflows/{name}": Case(
        member("read"), get(f"{V1}/projects/beta/workflows/bug-fix")
    ),
    "GET /api/v1/projects/{project}/workflows/{name}/versions": Case(
        member("read"), get(f"{V1}/projects/beta/workflows/bug-fix/versions")
    ),
    "POST /api/v1/projects/{project}/workflows/import": Case(
        member("write"),
        lambda w, _c: (
            "POST",
            f"{V1}/projects/beta/workflows/import",
            {"json": {"repository": _beta_flows(w)}},
        ),
    ),
    # Git hosting: repositories of a project, and Smart HTTP (git's own client sends Basic).
    "GET /api/v1/projects/{project}/repos": Case(
        member("read"), lambda w, _c: ("GET", _beta_code(w) and f"{V1}/projects/beta/repos", {})
    ),
    "POST /api/v1/projects/{project}/repos": Case(
        member("write"),
        lambda w, _c: ("POST", f"{V1}/projects/beta/repos", {"json": {"name": w.unique("r")}}),
    ),
    "GET /api/v1/projects/{project}/repos/{name}": Case(member("read"), _repo_route("GET")),
    "PATCH /api/v1/projects/{project}/repos/{name}": Case(
        member("admin"), _repo_route("PATCH", json={"description": "the code"})
    ),
    "DELETE /api/v1/projects/{project}/repos/{name}": Case(member("admin"), _fresh_git_repo),
    # Forks: readers of the source who write to the target project fork; readers list them.
    "POST /api/v1/projects/{project}/repos/{name}/forks": Case(member("write"), _fork_code),
    "GET /api/v1/projects/{project}/repos/{name}/forks": Case(
        member("read"),
        lambda w, _c: ("GET", _beta_code(w) and f"{V1}/projects/beta/repos/code/forks", {}),
    ),
    # Imports and pull mirrors: writers import, readers see a mirror, admins fetch it now.
    "POST /api/v1/projects/{project}/repos/import": Case(member("write"), _import),
    "GET /api/v1/projects/{project}/repos/{name}/mirror": Case(
        member("read"), _mirror_route("GET")
    ),
    "POST /api/v1/projects/{project}/repos/{name}/mirror/sync": Case(
        member("admin"), _mirror_route("POST", "/sync")
    ),
    # Protected branches: readers see the rules, project admins change them.
    "GET /api/v1/projects/{project}/repos/{name}/protections": Case(
        member("read"), _browse("protections")
    ),
    "PUT /api/v1/projects/{project}/repos/{name}/protections/{pattern:path}": Case(
        member("admin"),
        lambda w, _c: (
            "PUT",
            _beta_code(w) and f"{V1}/projects/beta/repos/code/protections/matrix/*",
            {"json": {"no_force_push": True}},
        ),
    ),
    "DELETE /api/v1/projects/{project}/repos/{name}/protections/{pattern:path}": Case(
        member("admin"), _fresh_rule
    ),
    # Commit statuses: writers report (GitHub's repo:status), readers read.
    "POST /api/v1/projects/{project}/repos/{name}/statuses/{sha}": Case(
        member("write"), _report_status
    ),
    "GET /api/v1/projects/{project}/repos/{name}/commits/{ref:path}/statuses": Case(
        member("read"), _browse("commits/main/statuses")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/commits/{ref:path}/status": Case(
        member("read"), _browse("commits/main/status")
    ),
    # Browsing: read access, like a clone (a public repository anonymously).
    "GET /api/v1/projects/{project}/repos/{name}/branches": Case(
        member("read"), _browse("branches")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/tags": Case(member("read"), _browse("tags")),
    "GET /api/v1/projects/{project}/repos/{name}/tree": Case(member("read"), _browse("tree")),
    "GET /api/v1/projects/{project}/repos/{name}/file": Case(
        member("read"), _browse("file", path="README.md")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/raw": Case(
        member("read"), _browse("raw", path="README.md")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/commits": Case(member("read"), _browse("commits")),
    "GET /api/v1/projects/{project}/repos/{name}/commits/{sha}": Case(
        member("read"), _browse("commits/main")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/compare": Case(
        member("read"), _browse("compare", base="main", head="main")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/blame": Case(
        member("read"), _browse("blame", path="README.md")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/readme": Case(member("read"), _browse("readme")),
    "GET /{project}/{repo}.git/info/refs": Case(
        _git_rule("read"), _git("/info/refs", params={"service": "git-upload-pack"})
    ),
    "POST /{project}/{repo}.git/git-upload-pack": Case(
        _git_rule("read"),
        _git(
            "/git-upload-pack",
            content=b"0000",
            headers={"content-type": "application/x-git-upload-pack-request"},
        ),
    ),
    "POST /{project}/{repo}.git/git-receive-pack": Case(
        _git_rule("write"),
        _git(
            "/git-receive-pack",
            content=b"0000",
            headers={"content-type": "application/x-git-receive-pack-request"},
        ),
    ),
    # Pull requests of beta's private repository `code`.
    "GET /api/v1/projects/{project}/repos/{name}/pulls": Case(
        member("read"), lambda w, _c: ("GET", _beta_pull(w) and PULLS, {})
    ),
    "POST /api/v1/projects/{project}/repos/{name}/pulls": Case(member("write"), _open_pull),
    "GET /api/v1/projects/{project}/repos/{name}/pulls/{number}": Case(
        member("read"), _pull_route("GET")
    ),
    "PATCH /api/v1/projects/{project}/repos/{name}/pulls/{number}": Case(
        member("write"), _pull_route("PATCH", json={"body": "more words"})
    ),
    "GET /api/v1/projects/{project}/repos/{name}/pulls/{number}/diff": Case(
        member("read"), _pull_route("GET", "/diff")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/pulls/{number}/commits": Case(
        member("read"), _pull_route("GET", "/commits")
    ),
    "GET /api/v1/projects/{project}/repos/{name}/pulls/{number}/reviews": Case(
        member("read"), _pull_route("GET", "/reviews")
    ),
    "POST /api/v1/projects/{project}/repos/{name}/pulls/{number}/reviews": Case(
        member("write"),
        _pull_route("POST", "/reviews", json={"event": "comment", "body": "looks fine"}),
    ),
    "GET /api/v1/projects/{project}/repos/{name}/pulls/{number}/comments": Case(
        member("read"), _pull_route("GET", "/comments")
    ),
    "POST /api/v1/projects/{project}/repos/{name}/pulls/{number}/comments": Case(
        member("write"),
        _pull_route("POST", "/comments", json={"path": "README.md", "line": 1, "body": "hm"}),
    ),
    "POST /api/v1/projects/{project}/repos/{name}/pulls/{number}/close": Case(
        member("write"), _pull_action("close")
    ),
    "POST /api/v1/projects/{project}/repos/{name}/pulls/{number}/reopen": Case(
        member("write"), _pull_action("reopen")
    ),
    "POST /api/v1/projects/{project}/repos/{name}/pulls/{number}/merge": Case(
        member("write"), _pull_action("merge")
    ),
    # Webhooks of a project or a repository: project admins only (they hold a secret).
    "GET /api/v1/projects/{project}/hooks": Case(
        member("admin"), lambda w, _c: ("GET", _beta_hook(w) and HOOKS, {})
    ),
    "POST /api/v1/projects/{project}/hooks": Case(
        member("admin"),
        lambda w, _c: ("POST", HOOKS, {"json": {"url": f"https://{w.unique('h')}.example.com/"}}),
    ),
    "GET /api/v1/projects/{project}/hooks/{hook_id}": Case(member("admin"), _hook_route("GET")),
    "PATCH /api/v1/projects/{project}/hooks/{hook_id}": Case(
        member("admin"), _hook_route("PATCH", json={"events": ["push", "issues"]})
    ),
    "DELETE /api/v1/projects/{project}/hooks/{hook_id}": Case(member("admin"), _fresh_hook),
    "GET /api/v1/projects/{project}/hooks/{hook_id}/deliveries": Case(
        member("admin"), _hook_route("GET", "/deliveries")
    ),
    "GET /api/v1/projects/{project}/hooks/{hook_id}/deliveries/{delivery_id}": Case(
        member("admin"), _hook_route("GET", "/deliveries/{delivery}")
    ),
    "POST /api/v1/projects/{project}/hooks/{hook_id}/deliveries/{delivery_id}/attempts": Case(
        member("admin"), _redeliver
    ),
    # SSH keys: a user's own (`me`); a key reaches every project, so a project-restricted
    # token may read and remove its user's keys but not add one.
    "GET /api/v1/users/{username}/keys": Case(
        _rule(
            REGISTRY_ONLY, **{**dict.fromkeys(CALLERS[len(BROKEN) :], ALLOW), "wrong_scope": 403}
        ),
        get(f"{V1}/users/me/keys"),
    ),
    "POST /api/v1/users/{username}/keys": Case(
        ssh_key_owner(restricted=403),
        lambda _w, _c: ("POST", f"{V1}/users/me/keys", {"json": {"key": _public_key()}}),
    ),
    "DELETE /api/v1/users/{username}/keys/{key_id}": Case(
        ssh_key_owner(restricted=ALLOW), _fresh_ssh_key
    ),
    # Secrets: each tier's routes (`_secret_cases`); resolution walks only the tiers the caller
    # may reveal, so any member may ask; keys and the audit log are the instance admins'.
    **{route: case for tier in SECRET_TIERS for route, case in _secret_cases(*tier).items()},
    "POST /api/v1/secrets/resolve": Case(
        member("read"),
        lambda _w, _c: ("POST", f"{V1}/secrets/resolve", {"json": {"project": "beta"}}),
    ),
    "GET /api/v1/secrets/keys": Case(instance_admin(), get(f"{V1}/secrets/keys")),
    "POST /api/v1/secrets/keys/rotate": Case(
        instance_admin(), lambda _w, _c: ("POST", f"{V1}/secrets/keys/rotate", {"json": {}})
    ),
    "GET /api/v1/secrets/audit": Case(instance_admin(), get(f"{V1}/secrets/audit")),
    "POST /api/v1/secrets/audit/verify": Case(
        instance_admin(), lambda _w, _c: ("POST", f"{V1}/secrets/audit/verify", {})
    ),
    # The MCP gateway.
    "* /mcp": Case(signed_in(), _mcp),
}


# -- the routes the app has -----------------------------------------------------------------------


def _flatten(routes: list[BaseRoute]) -> Iterator[tuple[str, list[str]]]:
    for route in routes:
        if isinstance(route, _IncludedRouter):
            for candidate in route.effective_candidates():
                if isinstance(candidate, _IncludedRouter):
                    yield from _flatten([candidate])
                else:
                    original = candidate.original_route
                    path = candidate.path or getattr(original, "path", "")
                    yield path, sorted(getattr(original, "methods", None) or ["*"])
        else:
            yield getattr(route, "path", ""), sorted(getattr(route, "methods", None) or ["*"])


def app_routes() -> set[str]:
    """Every (method, path) the app answers, as `METHOD path` (HEAD only where GET is not)."""
    app = create_app(load_settings(database_url="postgresql://u:p@127.0.0.1:1/db"))
    found = set()
    for path, methods in _flatten(app.routes):
        for method in methods:
            if method == "HEAD" and "GET" in methods and path != "/v2/{path:path}":
                continue
            found.add(f"{method} {path}")
    return found


def test_every_route_declares_who_may_call_it():
    routes = app_routes()
    assert sorted(routes - set(DECLARED)) == [], "declare these routes in DECLARED"
    assert sorted(set(DECLARED) - routes) == [], "these declarations name no route"


def _headers(world: World, caller: str, rule: Rule, kwargs: dict[str, Any]) -> dict[str, str]:
    token = (
        world.wrong_scope[rule.wrong_scope] if caller == "wrong_scope" else world.tokens.get(caller)
    )
    headers = dict(kwargs.pop("headers", {}))
    basic = kwargs.pop("basic", False) or kwargs.pop("oci", False)
    if kwargs.pop("form", False):  # the token endpoint takes the token as a form password
        kwargs["data"] = {**kwargs["data"], "password": token or ""}
        return headers
    if token is not None:
        headers["Authorization"] = _basic(token)["Authorization"] if basic else f"Bearer {token}"
    return headers


def _outcome(response: httpx.Response, case: Case) -> str | int:
    status = response.status_code
    if status < 400:
        if case.shows is None:
            return ALLOW
        return SHOWN if case.shows(response) else HIDDEN
    return status


def _matches(expected: str | int, got: str | int) -> bool:
    if expected == DENY:
        return got in {403, 404}
    if got == ALLOW:  # a listing with nothing to look for in it: any success will do
        return expected in {ALLOW, SHOWN, HIDDEN}
    return expected == got


# Calls a route answers by another rule than its plain call: revealing a secret's value needs
# what changing it needs (`GET …/{name}` alone shows metadata to readers).
VARIANTS: dict[str, Case] = {
    f"GET {path}/{{name}}?reveal=true": Case(
        rule("reveal"), _secret(tier, "GET", params={"reveal": "true"})
    )
    for tier, path, rule in SECRET_TIERS
}


@pytest.mark.parametrize("route", sorted(DECLARED))
def test_a_route_answers_each_caller_as_declared(world, route):
    _check(world, route, DECLARED[route])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_variant_answers_each_caller_as_declared(world, variant):
    assert variant.partition("?")[0] in DECLARED
    _check(world, variant, VARIANTS[variant])


def _check(world: World, route: str, case: Case) -> None:
    problems = []
    for caller in CALLERS:
        method, url, kwargs = case.build(world, caller)
        kwargs = dict(kwargs)
        headers = _headers(world, caller, case.rule, kwargs)
        stream = kwargs.pop("stream", False)
        with httpx.Client(base_url=world.server.url, timeout=60) as client:
            if stream:
                with client.stream(method, url, headers=headers, **kwargs) as response:
                    got = _outcome(response, case)
            else:
                got = _outcome(client.request(method, url, headers=headers, **kwargs), case)
        expected = case.rule.expect[caller]
        if not _matches(expected, got):
            problems.append(f"{caller}: expected {expected}, got {got}")
    assert problems == [], f"{route}\n" + "\n".join(problems)
