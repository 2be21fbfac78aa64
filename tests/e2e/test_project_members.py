"""Taking someone out of a project: `DELETE /api/v1/projects/<name>/members/<user>` and
`devflow project remove-member`. Project admins and owners remove members (only owners remove an
owner); a project keeps an owner, and the refusal says how to get there. Real uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, running_server

V1 = "/api/v1"


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        yield running


@pytest.fixture
def team(server) -> dict[str, str]:
    """A fresh project owned by the instance admin, with a boss (admin), a dev (write) and a
    viewer (read); returns the project's name and each member's token."""
    with server.api() as api:
        name = f"team{len(api.get(f'{V1}/projects').json()['items'])}"
        assert api.post(f"{V1}/projects", json={"name": name}).status_code == 201
    tokens = {"project": name}
    for role in ("admin", "write", "read"):
        user = f"{name}-{role}"
        tokens[role] = server.make_user(user)
        set_role(server, name, user, role)
    return tokens


def set_role(server: RegistryServer, project: str, user: str, role: str, token: str | None = None):
    with server.api(token) as api:
        answer = api.put(f"{V1}/projects/{project}/members", json={"username": user, "role": role})
    assert answer.status_code == 204, answer.text


def remove(server: RegistryServer, project: str, user: str, token: str | None = None):
    with server.api(token) as api:
        return api.delete(f"{V1}/projects/{project}/members/{user}")


def members(server: RegistryServer, project: str) -> dict[str, str]:
    with server.api() as api:
        shown = api.get(f"{V1}/projects/{project}").json()
    return {m["username"]: m["role"] for m in shown["members"]}


class TestRemoving:
    def test_a_project_admin_removes_a_member_who_then_sees_nothing(self, server, team):
        project = team["project"]
        with server.api(team["write"]) as api:
            assert api.get(f"{V1}/projects/{project}").status_code == 200
        assert remove(server, project, f"{project}-write", team["admin"]).status_code == 204
        assert f"{project}-write" not in members(server, project)
        with server.api(team["write"]) as api:
            assert api.get(f"{V1}/projects/{project}").status_code == 404
            assert project not in api.get(f"{V1}/projects").text

    def test_the_removal_is_an_event_of_the_project(self, server, team):
        project = team["project"]
        assert remove(server, project, f"{project}-read").status_code == 204
        with server.api() as api, api.stream("GET", f"{V1}/events", params={"since": 0}) as events:
            for line in events.iter_lines():
                if "project.member_removed" in line and f"{project}-read" in line:
                    break

    def test_readers_and_writers_may_not_remove_anyone(self, server, team):
        project = team["project"]
        for role in ("read", "write"):
            refused = remove(server, project, f"{project}-admin", team[role])
            assert refused.status_code == 403
            assert "this needs admin" in refused.json()["error"]["message"]
        assert members(server, project)[f"{project}-admin"] == "admin"

    def test_a_stranger_is_told_the_project_does_not_exist(self, server, team):
        stranger = server.make_user(f"{team['project']}-stranger")
        refused = remove(server, team["project"], f"{team['project']}-read", stranger)
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == f"no project {team['project']!r}"

    def test_a_token_restricted_to_another_project_cannot_remove(self, server, team):
        with server.api() as api:
            body = {"name": "elsewhere", "scopes": ["admin"], "project": "default"}
            made = api.post(f"{V1}/tokens", json=body)
        refused = remove(server, team["project"], f"{team['project']}-read", made.json()["token"])
        assert refused.status_code == 404

    def test_an_admin_may_not_remove_an_owner(self, server, team):
        project = team["project"]
        refused = remove(server, project, "admin", team["admin"])
        assert refused.status_code == 403
        assert "only an owner" in refused.json()["error"]["message"]

    def test_unknown_users_and_non_members_are_404(self, server, team):
        project = team["project"]
        assert remove(server, project, "nobody-at-all").status_code == 404
        server.make_user(f"{project}-outsider")
        outside = remove(server, project, f"{project}-outsider")
        assert outside.status_code == 404
        assert "is not a member" in outside.json()["error"]["message"]
        assert remove(server, "no-such-project", f"{project}-read").status_code == 404


class TestTheLastOwner:
    def test_the_last_owner_stays_and_the_refusal_names_the_fix(self, server, team):
        project = team["project"]
        refused = remove(server, project, "admin")
        assert refused.status_code == 409
        message = refused.json()["error"]["message"]
        assert "'admin' is the last owner" in message
        assert f"devflow project add-member {project} <user> --role owner" in message
        assert members(server, project)["admin"] == "owner"

    def test_an_owner_may_leave_once_another_owner_is_named(self, server, team):
        project = team["project"]
        set_role(server, project, f"{project}-admin", "owner")
        assert remove(server, project, "admin").status_code == 204
        assert "admin" not in members(server, project)

    def test_demoting_the_last_owner_is_refused_the_same_way(self, server, team):
        project = team["project"]
        with server.api() as api:
            refused = api.put(
                f"{V1}/projects/{project}/members", json={"username": "admin", "role": "read"}
            )
        assert refused.status_code == 409
        assert "cannot be made read" in refused.json()["error"]["message"]


def raw(server: RegistryServer, method: str, target: str) -> int:
    """Send a request as bytes (httpx would resolve '..' and re-encode) and return the status."""
    parts = urlsplit(server.url)
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {server.token}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        data = sock.recv(65536)
    return int(data.split(b" ", 2)[1])


class TestHostileInput:
    @pytest.mark.parametrize(
        ("tail", "status"),
        [
            ("{p}/members/..", 404),
            ("{p}/members/../../admin", 404),
            ("{p}/members/..%2f..%2fadmin", 404),
            ("../{p}/members/admin", 404),
            ("{p}/members/a%00b", 400),
            ("a%00b/members/admin", 400),
            ("{p}/members/" + "u" * 5000, 404),
            ("p" * 5000 + "/members/admin", 404),
            ("{p}/members/" + "9" * 30, 404),
        ],
    )
    def test_a_bad_name_gets_a_clear_4xx_and_removes_no_one(self, server, team, tail, status):
        project = team["project"]
        assert raw(server, "DELETE", f"{V1}/projects/" + tail.format(p=project)) == status
        assert len(members(server, project)) == 4


class TestCli:
    def cli(self, server: RegistryServer, *args: str) -> subprocess.CompletedProcess[str]:
        # In this process: tests/e2e/test_up.py runs `devflow project` in its own.
        env = dict(os.environ)
        return run_cli(*args, "--url", server.url, "--token", server.token, env=env)

    def test_remove_member_takes_a_user_out_and_says_why_it_cannot(self, server, team):
        project = team["project"]
        done = self.cli(server, "project", "remove-member", project, f"{project}-read")
        assert done.returncode == 0, done.stderr
        assert f"{project}-read is no longer a member of {project}" in done.stdout
        assert f"{project}-read" not in members(server, project)
        refused = self.cli(server, "project", "remove-member", project, "admin")
        assert refused.returncode == 5
        assert "last owner" in refused.stderr


def test_an_anonymous_caller_is_asked_to_authenticate(server):
    answer = httpx.delete(f"{server.url}{V1}/projects/default/members/admin")
    assert answer.status_code == 401
