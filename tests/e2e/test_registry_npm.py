"""npm repositories with the real npm CLI over real sockets, authenticated through .npmrc."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.registry_fixtures import (
    RegistryServer,
    client_env,
    npm_pack,
    run_client,
    run_npm,
    running_server,
    write_npmrc,
)


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        running.create_repo("js", "npm")
        yield running


def registry(server: RegistryServer, repo: str = "js") -> str:
    return f"{server.url}/npm/{repo}/"


@pytest.fixture(scope="module")
def workspace(server, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("npm-work")
    write_npmrc(folder, registry(server), server.token)
    return folder


@pytest.fixture(scope="module")
def published(server, workspace):
    """@acme/base 1.0.0 <- mid 1.0.0 <- top 1.0.0, published with `npm publish`."""
    tarballs = [
        npm_pack(workspace, "@acme/base", "1.0.0", description="the base layer"),
        npm_pack(workspace, "mid", "1.0.0", dependencies={"@acme/base": "^1.0.0"}),
        npm_pack(workspace, "top", "1.0.0", dependencies={"mid": "1.x"}),
    ]
    for tarball in tarballs:
        run_npm(workspace, "publish", str(tarball))
    return tarballs


def app_folder(server: RegistryServer, tmp_path: Path, token: str | None) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    write_npmrc(app, registry(server), token)
    (app / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0"}))
    return app


def answer_prompts(
    command: list[str], cwd: Path, env: dict[str, str], answers: list[tuple[str, str]]
) -> tuple[int, str]:
    """Run an interactive command on a pseudo-terminal, typing each answer after its prompt."""
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=child_fd, stdout=child_fd, stderr=child_fd
    )
    os.close(child_fd)
    screen = ""
    pending = list(answers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main_fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main_fd, 4096).decode(errors="replace")
            except OSError:  # the child closed the terminal
                break
            screen += chunk
        if pending and pending[0][0] in screen:
            os.write(main_fd, (pending.pop(0)[1] + "\n").encode())
            screen += "\n"
        if not ready and proc.poll() is not None:
            break
    os.close(main_fd)
    return proc.wait(timeout=30), screen


class TestPublishAndInstall:
    def test_install_resolves_dependencies_between_published_packages(
        self, server, published, tmp_path
    ):
        app = app_folder(server, tmp_path, server.token)
        run_npm(app, "install", "top")
        modules = app / "node_modules"
        assert json.loads((modules / "top/package.json").read_text())["version"] == "1.0.0"
        assert (modules / "mid/index.js").read_text() == 'module.exports = "mid@1.0.0";\n'
        assert (modules / "@acme/base/package.json").exists()
        lock = json.loads((app / "package-lock.json").read_text())
        entry = lock["packages"]["node_modules/@acme/base"]
        assert entry["resolved"] == f"{server.url}/npm/js/@acme/base/-/base-1.0.0.tgz"
        digest = hashlib.sha512(published[0].read_bytes()).digest()

        assert entry["integrity"] == "sha512-" + base64.b64encode(digest).decode()

    def test_republishing_a_version_is_refused(self, server, workspace, published):
        done = run_npm(workspace, "publish", str(published[1]), check=False)
        assert done.returncode != 0
        assert "previously published" in done.stderr or "409" in done.stderr

    def test_a_republish_past_the_clients_own_check_is_told_why_it_is_refused(
        self, workspace, published
    ):
        # npm 11 refuses a known version itself; --force (or npm 10, or a race) reaches DevFlow.
        done = run_npm(workspace, "publish", str(published[1]), "--force", check=False)
        assert done.returncode != 0
        assert "409 Conflict" in done.stderr
        assert "mid 1.0.0 already exists" in done.stderr
        assert "published versions are immutable" in done.stderr
        assert "bump the version" in done.stderr

    def test_view_shows_the_packument(self, workspace, published):
        view = json.loads(run_npm(workspace, "view", "@acme/base", "--json").stdout)
        assert view["name"] == "@acme/base"
        assert view["description"] == "the base layer"
        assert view["dist-tags"] == {"latest": "1.0.0"}
        assert (
            view["dist"]["shasum"]
            == hashlib.sha1(published[0].read_bytes(), usedforsecurity=False).hexdigest()
        )

    def test_view_names_maintainers_and_publisher_as_npm_prints_people(self, workspace, published):
        view = run_npm(workspace, "view", "@acme/base").stdout
        assert "maintainers:\n- admin\n" in view
        assert "by admin\n" in view
        assert "undefined" not in view

    def test_packuments_carry_people_with_a_name_and_an_email(self, server, published):
        headers = {"Authorization": f"Bearer {server.token}"}
        doc = httpx.get(f"{registry(server)}@acme%2fbase", headers=headers).json()
        admin = {"name": "admin", "email": ""}  # DevFlow hands out no email addresses
        assert doc["maintainers"] == [admin]
        assert doc["versions"]["1.0.0"]["_npmUser"] == admin

    def test_a_packument_cached_from_an_earlier_shape_is_not_revalidated(self, server, published):
        headers = {"Authorization": f"Bearer {server.token}"}
        doc = httpx.get(f"{registry(server)}mid", headers=headers).json()
        revision, package_id = doc["_rev"].split("-")
        before_people_had_emails = f'W/"f-{package_id[:12]}-{revision}"'
        again = httpx.get(
            f"{registry(server)}mid", headers={**headers, "If-None-Match": before_people_had_emails}
        )
        assert again.status_code == 200
        assert again.json()["maintainers"] == [{"name": "admin", "email": ""}]

    def test_whoami_names_the_token_owner(self, workspace, published):
        assert run_npm(workspace, "whoami").stdout.strip() == "admin"

    def test_ping_answers(self, workspace):
        assert "PONG" in run_npm(workspace, "ping").stderr

    def test_packuments_answer_304_to_a_matching_etag(self, server, published):
        headers = {"Authorization": f"Bearer {server.token}"}
        first = httpx.get(f"{registry(server)}mid", headers=headers)
        again = httpx.get(
            f"{registry(server)}mid", headers={**headers, "If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304

    def test_dist_tags_can_be_added_listed_and_removed(self, workspace, published):
        tarball = npm_pack(workspace, "mid", "2.0.0-beta.1", dependencies={"@acme/base": "^1"})
        run_npm(workspace, "publish", str(tarball), "--tag", "next")
        run_npm(workspace, "dist-tag", "add", "mid@2.0.0-beta.1", "canary")
        listed = run_npm(workspace, "dist-tag", "ls", "mid").stdout
        assert "latest: 1.0.0" in listed
        assert "next: 2.0.0-beta.1" in listed
        assert "canary: 2.0.0-beta.1" in listed
        run_npm(workspace, "dist-tag", "rm", "mid", "canary")
        assert "canary" not in run_npm(workspace, "dist-tag", "ls", "mid").stdout

    def test_deprecate_marks_the_version(self, workspace, server, published, tmp_path):
        run_npm(workspace, "deprecate", "top@1.0.0", "use top 2")
        assert run_npm(workspace, "view", "top", "deprecated").stdout.strip() == "use top 2"
        app = app_folder(server, tmp_path, server.token)
        installed = run_npm(app, "install", "top")
        assert "deprecated top@1.0.0: use top 2" in installed.stderr

    def test_search_finds_packages_by_name_and_description(self, workspace, published):
        found = json.loads(run_npm(workspace, "search", "base layer", "--json").stdout)
        assert [p["name"] for p in found] == ["@acme/base"]

    def test_search_prints_each_package_with_its_publisher_and_maintainers(
        self, workspace, published
    ):
        printed = run_npm(workspace, "search", "base layer").stdout
        assert "@acme/base\nthe base layer\n" in printed
        assert "Version 1.0.0 published " in printed
        assert " by admin\nMaintainers: admin\n" in printed

    def test_search_finds_packages_by_keyword_and_gives_their_links(self, workspace, published):
        source = workspace / "src-keyworded"
        source.mkdir()
        manifest = {
            "name": "keyworded",
            "version": "1.0.0",
            "license": "MIT",
            "keywords": ["frobnicate", "widgets"],
            "repository": {"type": "git", "url": "git+https://example.com/acme/keyworded.git"},
        }
        (source / "package.json").write_text(json.dumps(manifest))
        run_npm(workspace, "publish", str(source))
        (found,) = json.loads(run_npm(workspace, "search", "frobnicate", "--json").stdout)
        assert found["name"] == "keyworded"
        assert found["keywords"] == ["frobnicate", "widgets"]
        assert found["links"] == {"repository": "git+https://example.com/acme/keyworded.git"}

    def test_search_results_have_the_registrys_shape(self, server, published):
        answer = httpx.get(
            f"{registry(server)}-/v1/search",
            params={"text": "mid", "size": "1"},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["total"] == 1
        (found,) = body["objects"]
        assert found["package"]["name"] == "mid"
        assert found["package"]["version"] == "1.0.0"
        assert found["package"]["publisher"] == {"username": "admin", "email": ""}
        assert found["package"]["maintainers"] == [{"username": "admin", "email": ""}]
        assert found["package"]["license"] == "MIT"

    def test_search_paging_past_the_last_package_finds_nothing(self, server, published):
        answer = httpx.get(
            f"{registry(server)}-/v1/search",
            params={"text": "mid", "from": str(10**20)},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 200
        assert (answer.json()["objects"], answer.json()["total"]) == ([], 1)

    @pytest.mark.parametrize("params", [{"size": "ten"}, {"from": "1.5"}])
    def test_search_refuses_paging_that_is_not_a_whole_number(self, server, published, params):
        answer = httpx.get(
            f"{registry(server)}-/v1/search",
            params={"text": "mid", **params},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 400
        assert "whole numbers" in answer.json()["error"]

    def test_unpublish_of_one_version_keeps_the_others(self, workspace, published):
        tarball = npm_pack(workspace, "solo", "1.0.0")
        run_npm(workspace, "publish", str(tarball))
        run_npm(workspace, "publish", str(npm_pack(workspace, "solo", "1.0.1")))
        run_npm(workspace, "unpublish", "solo@1.0.1", "--force")
        view = json.loads(run_npm(workspace, "view", "solo", "versions", "--json").stdout)
        assert view in ("1.0.0", ["1.0.0"])


class TestTheDocumentedSetup:
    """The `.npmrc` that README.md and docs/registry.md give: only a scope is sent to DevFlow,
    the token comes from the environment."""

    def npmrc(self, server: RegistryServer) -> str:
        host_path = registry(server).split("://", 1)[1]
        return f"@docs:registry={registry(server)}\n//{host_path}:_authToken=${{NPM_TOKEN}}\n"

    def npm(self, server: RegistryServer, folder: Path, *args: str):
        env = {"NPM_TOKEN": server.token}
        return run_client(["npm", *args], folder.parent / "home", cwd=folder, env=env)

    def test_a_scoped_registry_publishes_and_installs_the_scope(self, server, tmp_path):
        lib, app = tmp_path / "lib", tmp_path / "app"
        lib.mkdir()
        app.mkdir()
        manifest = {"name": "@docs/widget", "version": "1.0.0", "license": "MIT"}
        (lib / "package.json").write_text(json.dumps(manifest))
        (lib / "index.js").write_text('module.exports = "widget";\n')
        (app / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0"}))
        for folder in (lib, app):
            (folder / ".npmrc").write_text(self.npmrc(server))
        self.npm(server, lib, "publish")
        self.npm(server, app, "install", "@docs/widget")
        lock = json.loads((app / "package-lock.json").read_text())
        resolved = lock["packages"]["node_modules/@docs/widget"]["resolved"]
        assert resolved == f"{registry(server)}@docs/widget/-/widget-1.0.0.tgz"
        # Everything else still comes from the public registry.
        default = self.npm(server, app, "config", "get", "registry").stdout.strip()
        assert default == "https://registry.npmjs.org/"

    def test_a_package_devflow_does_not_host_is_answered_with_the_scoped_setup(
        self, workspace, published
    ):
        done = run_npm(workspace, "view", "left-pad", check=False)  # a plain `registry=`
        assert done.returncode != 0
        assert "404 Not Found" in done.stderr
        assert "no package 'left-pad' in 'js'" in done.stderr
        assert "`@yourscope:registry=<this URL>` in .npmrc" in done.stderr


class TestAccess:
    def test_a_private_repository_refuses_install_without_a_token(
        self, server, published, tmp_path
    ):
        app = app_folder(server, tmp_path, None)
        done = run_npm(app, "install", "top", check=False)
        assert done.returncode != 0
        assert "E401" in done.stderr
        answer = httpx.get(f"{registry(server)}top")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")

    def test_login_with_a_devflow_token_then_whoami(self, server, tmp_path):
        token = server.make_user("npmer", project_role="write")
        folder = tmp_path / "login"
        folder.mkdir()
        write_npmrc(folder, registry(server), None)
        body = {"_id": "org.couchdb.user:npmer", "name": "npmer", "password": token, "type": "user"}
        answer = httpx.put(f"{registry(server)}-/user/org.couchdb.user:npmer", json=body)
        assert answer.status_code == 201
        assert answer.json()["token"] == token
        wrong = httpx.put(
            f"{registry(server)}-/user/org.couchdb.user:admin", json={**body, "name": "admin"}
        )
        assert wrong.status_code == 401
        write_npmrc(folder, registry(server), answer.json()["token"])
        assert run_npm(folder, "whoami").stdout.strip() == "npmer"

    def test_npm_login_prompts_and_stores_the_token(self, server, tmp_path):
        token = server.make_user("prompted", project_role="read")
        folder = tmp_path / "prompt"
        folder.mkdir()
        write_npmrc(folder, registry(server), None)
        env = client_env(folder)
        env["npm_config_userconfig"] = str(folder / ".npmrc")
        command = ["npm", "login", "--auth-type=legacy", "--registry", registry(server)]
        code, screen = answer_prompts(
            command, folder, env, [("Username:", "prompted"), ("Password:", token)]
        )
        assert code == 0, screen
        assert "Logged in" in screen
        assert token in (folder / ".npmrc").read_text()
        assert run_npm(folder, "whoami").stdout.strip() == "prompted"

    def test_abbreviated_packument_for_installers(self, server, published):
        answer = httpx.get(
            f"{registry(server)}@acme%2fbase",
            headers={
                "Authorization": f"Bearer {server.token}",
                "Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
            },
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/vnd.npm.install-v1+json"
        body = answer.json()
        assert set(body) == {"name", "modified", "dist-tags", "versions"}
        assert "readme" not in body["versions"]["1.0.0"]
        assert body["versions"]["1.0.0"]["dist"]["tarball"].endswith("/@acme/base/-/base-1.0.0.tgz")
