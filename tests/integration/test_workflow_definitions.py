"""Workflow definitions on real PostgreSQL: versions, built-ins, the API, a repository's files,
and `devflow workflow` against a server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from devflow.core.auth import Role
from devflow.core.db import unit_of_work
from devflow.core.errors import Invalid, NotFound, PermissionDenied
from devflow.core.events import Event
from devflow.identity import service as identity
from devflow.identity.schemas import ProjectCreate
from devflow.settings import load_settings
from devflow.workflows.definitions.service import (
    apply_definition,
    ensure_definition,
    get_definition,
    list_definitions,
    list_versions,
)
from tests.factories import api_client, make_user, running_app
from tests.integration import test_knowledge_cli as cli_tests

cli, server, fake_llm, llm_overrides, knowledge_overrides = (
    cli_tests.cli,
    cli_tests.server,
    cli_tests.fake_llm,
    cli_tests.llm_overrides,
    cli_tests.knowledge_overrides,
)

P = "web"
V1 = """\
name: release
description: Ship a release.
phases:
  - id: build
    name: Build
    next: [check]
  - id: check
    name: Check
    approval: {}
"""
V2 = V1.replace("name: Check", "name: Check it")


@pytest.fixture
async def owner(sessions):
    async with unit_of_work(sessions) as session:
        principal, _ = await make_user(session, "olga")
        await identity.create_project(session, principal=principal, data=ProjectCreate(name=P))
    return principal


async def _apply(sessions, principal, source, **options):
    async with unit_of_work(sessions) as session:
        return await apply_definition(session, principal, P, source, **options)


async def _member(sessions, owner, username, role=Role.READ):
    async with unit_of_work(sessions) as session:
        _, token = await make_user(session, username)
        await identity.set_membership(
            session, principal=owner, project_name=P, username=username, role=role
        )
        return await identity.authenticate(session, token=token)


class TestVersions:
    async def test_a_changed_spec_is_a_new_version_and_the_same_spec_is_not(self, sessions, owner):
        first = await _apply(sessions, owner, V1, file="release.yml")
        assert (first.version, first.created, first.origin) == (1, True, "upload")
        assert first.phases == ["build", "check"]
        again = await _apply(sessions, owner, "# a comment only\n" + V1)
        assert (again.id, again.version, again.created) == (first.id, 1, False)
        second = await _apply(sessions, owner, V2)
        assert (second.version, second.created) == (2, True)
        async with unit_of_work(sessions) as session:
            old = await get_definition(session, owner, P, "release", 1)
            latest = await get_definition(session, owner, P, "release")
            versions, total = await list_versions(session, owner, P, "release")
            created = await session.scalar(
                select(func.count()).select_from(Event).where(Event.type == "definition.created")
            )
        assert old.id == first.id
        assert old.spec["phases"][1]["name"] == "Check"
        assert old.source == V1
        assert latest.id == second.id
        assert ([v.version for v in versions], total) == ([2, 1], 2)
        assert created == 2

    async def test_applies_at_once_get_consecutive_versions(self, sessions, owner):
        specs = [V1.replace("Ship a release.", f"Release {i}.") for i in range(4)]
        done = await asyncio.gather(*(_apply(sessions, owner, s) for s in specs))
        assert sorted(d.version for d in done) == [1, 2, 3, 4]

    async def test_an_invalid_definition_names_the_file_line_and_field(self, sessions, owner):
        with pytest.raises(Invalid) as caught:
            await _apply(sessions, owner, V1.replace("[check]", "[ship]"), file="r.yml")
        [problem] = caught.value.details["errors"]
        assert problem == {
            "file": "r.yml",
            "line": 6,
            "column": 12,
            "field": "phases[0].next[0]",
            "message": "no phase 'ship'; the phases are build, check",
        }

    async def test_readers_read_and_may_not_apply_and_strangers_see_nothing(self, sessions, owner):
        await _apply(sessions, owner, V1)
        reader = await _member(sessions, owner, "rita")
        async with unit_of_work(sessions) as session:
            stranger, _ = await make_user(session, "sam")
        async with unit_of_work(sessions) as session:
            assert (await get_definition(session, reader, P, "release")).version == 1
            with pytest.raises(PermissionDenied):
                await apply_definition(session, reader, P, V2)
            with pytest.raises(NotFound):
                await get_definition(session, stranger, P, "release")

    async def test_an_unknown_name_or_version_is_not_found(self, sessions, owner):
        await _apply(sessions, owner, V1)
        async with unit_of_work(sessions) as session:
            with pytest.raises(NotFound, match="no version 7"):
                await get_definition(session, owner, P, "release", 7)
            with pytest.raises(NotFound, match="no workflow definition 'nope'"):
                await get_definition(session, owner, P, "nope")
            with pytest.raises(NotFound):
                await list_versions(session, owner, P, "nope")


class TestBuiltins:
    async def test_every_project_lists_the_builtins_until_one_replaces_them(self, sessions, owner):
        await _apply(sessions, owner, V1)
        async with unit_of_work(sessions) as session:
            items, total = await list_definitions(session, owner, P)
        by_name = {d.name: d for d in items}
        assert total == 4
        assert [d.name for d in items] == ["bug-fix", "docs-update", "prd-to-code", "release"]
        assert by_name["bug-fix"].builtin
        assert by_name["bug-fix"].version is None
        assert not by_name["release"].builtin
        async with unit_of_work(sessions) as session:
            shown = await get_definition(session, owner, P, "prd-to-code")
        assert shown.builtin
        assert "phases:" in shown.source
        assert shown.id is None

    async def test_ensure_stores_a_builtin_once_as_version_1(self, sessions, owner):
        async with unit_of_work(sessions) as session:
            project = await identity.get_project(session, name=P)
            stored = await ensure_definition(session, project, "bug-fix")
            again = await ensure_definition(session, project, "bug-fix")
            assert (stored.version, stored.origin, again.id) == (1, "builtin", stored.id)
            with pytest.raises(NotFound):
                await ensure_definition(session, project, "no-such-thing")
        async with unit_of_work(sessions) as session:
            items, _ = await list_definitions(session, owner, P)
        assert next(d for d in items if d.name == "bug-fix").version == 1

    async def test_a_projects_own_version_replaces_the_builtin(self, sessions, owner):
        mine = await _apply(sessions, owner, V1.replace("name: release", "name: bug-fix"))
        async with unit_of_work(sessions) as session:
            project = await identity.get_project(session, name=P)
            assert (await ensure_definition(session, project, "bug-fix")).id == mine.id
            items, _ = await list_definitions(session, owner, P)
        assert not next(d for d in items if d.name == "bug-fix").builtin


YAML = {"Content-Type": "application/yaml"}
BASE = "/api/v1/projects/default/workflows"


class TestApi:
    async def test_apply_show_list_and_versions(self, api):
        made = await api.post(BASE, content=V1, headers=YAML)
        assert made.status_code == 201, made.text
        assert made.json()["created"] is True
        same = await api.post(BASE, json={"source": V1, "file": "release.yml"})
        assert (same.status_code, same.json()["created"], same.json()["file"]) == (
            200,
            False,
            "release.yml",
        )
        dry = await api.post(BASE, content=V2, headers=YAML, params={"dry_run": "true"})
        assert dry.status_code == 200
        assert (dry.json()["changed"], dry.json()["next_version"]) == (True, 2)
        assert (await api.get(f"{BASE}/release/versions")).json()["total"] == 1
        await api.post(BASE, content=V2, headers={"Content-Type": "text/yaml"})
        shown = await api.get(f"{BASE}/release", params={"version": 1})
        assert shown.json()["source"] == V1
        listed = (await api.get(BASE, params={"limit": 2})).json()
        assert listed["total"] == 4
        assert len(listed["items"]) == 2

    async def test_errors_are_422_with_lines_and_nothing_is_stored(self, api):
        bad = await api.post(BASE, content=V1.replace("id: build", "id: Build"), headers=YAML)
        assert bad.status_code == 422
        [problem] = bad.json()["error"]["details"]["errors"]
        assert (problem["file"], problem["line"], problem["field"]) == (
            "<upload>",
            4,
            "phases[0].id",
        )
        assert (await api.get(f"{BASE}/release")).status_code == 404

    @pytest.mark.parametrize(
        ("content", "headers"),
        [
            (V1, {"Content-Type": "text/plain"}),
            (V1, {}),
            ("source=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        ],
    )
    async def test_a_body_that_is_not_yaml_or_json_is_415(self, api, content, headers):
        response = await api.post(BASE, content=content, headers=headers)
        assert response.status_code == 415, response.text

    async def test_the_schema_is_public_and_validate_needs_no_project(self, api, app):
        async with api_client(app, "") as anonymous:
            del anonymous.headers["Authorization"]
            schema = await anonymous.get("/api/v1/workflows/schema")
            refused = await anonymous.post("/api/v1/workflows/validate", content=V1, headers=YAML)
        assert schema.status_code == 200
        assert schema.json()["title"] == "DevFlow workflow definition"
        assert refused.status_code == 401
        checked = await api.post("/api/v1/workflows/validate", content=V1, headers=YAML)
        assert (checked.status_code, checked.json()["phases"]) == (200, ["build", "check"])
        bad = await api.post("/api/v1/workflows/validate", json={"source": "name: [x"})
        assert bad.status_code == 422


def _git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class TestImport:
    @pytest.fixture
    async def hosted(self, db_url, admin_token, tmp_path):
        """An app whose home is the test's, and a repository `app` of the default project."""
        settings = load_settings(database_url=db_url, home=tmp_path / "home")
        async with running_app(settings) as app, api_client(app, admin_token) as client:
            made = await client.post(
                "/api/v1/projects/default/repos", json={"name": "app", "readme": True}
            )
            assert made.status_code == 201, made.text
            bare = tmp_path / "home" / "repos" / f"{made.json()['id']}.git"
            work = tmp_path / "work"
            _git("clone", "-q", str(bare), str(work), cwd=tmp_path)
            yield client, work

    @staticmethod
    def _commit(work: Path, files: dict[str, str]) -> str:
        for name, text in files.items():
            path = work / ".devflow" / "workflows" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        _git("add", "-A", cwd=work)
        _git("commit", "-qm", "workflows", cwd=work)
        _git("push", "-q", "origin", "HEAD", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work)

    async def test_every_definition_file_is_applied_with_its_origin(self, hosted):
        client, work = hosted
        other = V1.replace("name: release", "name: hotfix")
        commit = self._commit(work, {"release.yml": V1, "hotfix.yaml": other, "notes.txt": "x"})
        done = await client.post(f"{BASE}/import", json={"repository": "app"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["commit"] == commit
        refs = sorted(i["origin_ref"] for i in body["items"])
        assert refs == [
            f"default/app@{commit}:.devflow/workflows/hotfix.yaml",
            f"default/app@{commit}:.devflow/workflows/release.yml",
        ]
        assert {i["origin"] for i in body["items"]} == {"repository"}
        again = await client.post(f"{BASE}/import", json={"repository": "default/app"})
        assert [i["created"] for i in again.json()["items"]] == [False, False]

    async def test_one_invalid_file_applies_none_and_names_the_file(self, hosted):
        client, work = hosted
        self._commit(work, {"a.yml": V1, "b.yml": V1.replace("[check]", "[nowhere]")})
        done = await client.post(f"{BASE}/import", json={"repository": "app", "ref": "HEAD"})
        assert done.status_code == 422
        [problem] = done.json()["error"]["details"]["errors"]
        assert (problem["file"], problem["line"]) == (".devflow/workflows/b.yml", 6)
        assert (await client.get(f"{BASE}/release")).status_code == 404

    async def test_no_definitions_an_unknown_ref_and_an_unknown_repository(self, hosted):
        client, _ = hosted
        empty = await client.post(f"{BASE}/import", json={"repository": "app"})
        assert empty.status_code == 422
        assert ".devflow/workflows" in empty.text
        missing = await client.post(f"{BASE}/import", json={"repository": "app", "ref": "v9"})
        assert missing.status_code == 404
        option = await client.post(
            f"{BASE}/import", json={"repository": "app", "ref": "--output=/tmp/x"}
        )
        assert option.status_code == 422
        nowhere = await client.post(f"{BASE}/import", json={"repository": "nope"})
        assert nowhere.status_code == 404


def test_the_workflow_commands_against_a_server(cli, tmp_path):
    (tmp_path / "release.yml").write_text(V1)
    applied = json.loads(cli("workflow", "apply", "release.yml", "--json").stdout)
    assert [(a["name"], a["version"], a["created"]) for a in applied] == [("release", 1, True)]
    assert "unchanged release version 1" in cli("workflow", "apply", "release.yml").stdout
    (tmp_path / "release.yml").write_text(V2)
    dry = cli("workflow", "apply", "release.yml", "--dry-run").stdout
    assert "release: valid; would store version 2" in dry
    (tmp_path / "bad.yml").write_text(V1.replace("[check]", "[x]"))
    refused = cli("workflow", "apply", "bad.yml", check=False)
    assert refused.returncode == 1
    assert "bad.yml:6:12: phases[0].next[0]: no phase 'x'" in refused.stdout
    listed = cli("workflow", "list").stdout
    assert "prd-to-code" in listed
    assert "release" in listed
    assert cli("workflow", "show", "release", "--yaml").stdout == V1
    shown = cli("workflow", "show", "bug-fix", process=True).stdout
    assert "reproduce" in shown
    assert "approval" in shown
