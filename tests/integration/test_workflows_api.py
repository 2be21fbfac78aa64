"""Tasks and the board over HTTP: shapes, filters, pagination, errors and hostile input."""

from __future__ import annotations

import pytest

from devflow.core.db import unit_of_work
from devflow.identity import service as identity
from tests.factories import api_client, make_user

T = "/api/v1/projects/default/tasks"
B = "/api/v1/projects/default/board"


async def _new(api, title="a task", **fields):
    made = await api.post(T, json={"title": title, **fields})
    assert made.status_code == 201, made.text
    return made.json()


class TestTasks:
    async def test_create_show_update_and_list(self, api):
        made = await _new(api, "Fix login", labels=["auth"], priority="high", type="bug")
        assert (made["number"], made["column"], made["created_by"]) == (1, "Backlog", "admin")
        shown = (await api.get(f"{T}/1")).json()
        assert shown == made
        changed = await api.patch(f"{T}/1", json={"version": 1, "column": "Todo", "body": "x"})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["version"], changed.json()["column"]) == (2, "Todo")
        await _new(api, "Other", labels=["ui"])
        by_label = (await api.get(T, params={"label": "auth"})).json()
        assert [t["number"] for t in by_label["items"]] == [1]
        page = (await api.get(T, params={"limit": 1})).json()
        assert (page["total"], [t["number"] for t in page["items"]]) == (2, [2])
        assert (await api.get(T, params={"type": "bug", "state": "open"})).json()["total"] == 1
        urgent = (await api.get(T, params={"priority": "high"})).json()
        assert [t["number"] for t in urgent["items"]] == [1]
        assert (await api.get(T, params={"priority": "asap"})).status_code == 422

    async def test_a_stale_version_is_409_with_the_current_version(self, api):
        await _new(api)
        await api.patch(f"{T}/1", json={"version": 1, "title": "first"})
        stale = await api.patch(f"{T}/1", json={"version": 1, "title": "second"})
        assert stale.status_code == 409
        assert stale.json()["error"]["details"]["current_version"] == 2
        assert (await api.get(f"{T}/1")).json()["title"] == "first"

    async def test_comments_history_and_events(self, api):
        await _new(api)
        posted = await api.post(f"{T}/1/comments", json={"body": "progress: half done"})
        assert posted.status_code == 201
        comments = (await api.get(f"{T}/1/comments")).json()
        assert [c["body"] for c in comments["items"]] == ["progress: half done"]
        await api.patch(f"{T}/1", json={"version": 1, "priority": "urgent"})
        changes = (await api.get(f"{T}/1/history")).json()["items"]
        assert [(c["field"], c["old"], c["new"]) for c in changes][-1] == (
            "priority",
            "medium",
            "urgent",
        )
        events = (await api.get("/api/v1/events", params={"since": 0, "follow": False})).text
        for kind in ("task.created", "task.commented", "task.updated"):
            assert kind in events

    async def test_claiming_through_the_api(self, api):
        assert (await api.post(f"{T}/next")).status_code == 204
        await _new(api, "do me")
        claimed = await api.post(f"{T}/next")
        assert claimed.status_code == 200
        assert (claimed.json()["number"], claimed.json()["assignee"]) == (1, "admin")
        assert (await api.post(f"{T}/next")).status_code == 204

    async def test_the_board_shows_columns_counts_and_first_tasks(self, api):
        for i in range(5):
            await _new(api, f"t{i}")
        changed = await api.patch(f"{B}/columns/Backlog", json={"wip_limit": 10})
        assert changed.status_code == 200
        board = (await api.get(B, params={"limit": 2})).json()
        backlog = board["columns"][0]
        assert (backlog["count"], backlog["wip_limit"], len(backlog["tasks"])) == (5, 10, 2)
        added = await api.post(f"{B}/columns", json={"name": "QA", "state": "review"})
        assert added.status_code == 201
        assert (await api.delete(f"{B}/columns/QA")).status_code == 204


class TestHostileInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"title": ""}, "title"),
            ({"title": "   "}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"title": "ok", "body": "x" * 100_001}, "body"),
            ({"title": "ok", "priority": "asap"}, "priority"),
            ({"title": "ok", "parent": 2**31}, "parent"),
            ({"title": "ok", "blocked_by": [0]}, "blocked_by"),
            ({"title": "ok", "labels": ["x"] * 21}, "labels"),
            ({"title": "ok", "links": [{"kind": "url", "ref": "javascript:alert(1)"}]}, "links"),
            ({"title": "ok", "surprise": 1}, "surprise"),
        ],
    )
    async def test_bad_fields_are_422_naming_the_field_and_write_nothing(self, api, body, field):
        refused = await api.post(T, json=body)
        assert refused.status_code == 422, refused.text
        assert field in refused.text
        assert (await api.get(T)).json()["total"] == 0

    async def test_a_nul_byte_is_refused(self, api):
        refused = await api.post(T, json={"title": "a\u0000b"})
        assert refused.status_code == 400
        assert (await api.get(T)).json()["total"] == 0

    @pytest.mark.parametrize("number", ["0", "-1", "2147483648", "99999999999999999999", "x"])
    async def test_a_task_number_out_of_range_is_422(self, api, number):
        assert (await api.get(f"{T}/{number}")).status_code == 422

    async def test_unknown_tasks_and_columns_are_404_naming_them(self, api):
        missing = await api.get(f"{T}/7")
        assert missing.status_code == 404
        assert "#7" in missing.json()["error"]["message"]
        await _new(api)
        moved = await api.patch(f"{T}/1", json={"version": 1, "column": "Nowhere"})
        assert moved.status_code == 404
        assert "'Backlog'" in moved.json()["error"]["message"]

    async def test_a_cycle_is_409_naming_it(self, api):
        await _new(api, "a")
        await _new(api, "b", blocked_by=[1])
        refused = await api.patch(f"{T}/1", json={"version": 1, "blocked_by": [2]})
        assert refused.status_code == 409
        assert refused.json()["error"]["details"]["cycle"] == [1, 2, 1]

    async def test_a_self_parent_is_422(self, api):
        await _new(api)
        refused = await api.patch(f"{T}/1", json={"version": 1, "parent": 1})
        assert refused.status_code == 422
        assert "own parent" in refused.json()["error"]["message"]

    async def test_a_duplicate_column_is_409(self, api):
        refused = await api.post(f"{B}/columns", json={"name": "todo", "state": "open"})
        assert refused.status_code == 409


class TestAccess:
    async def test_a_token_of_another_project_sees_404(self, app, api, sessions):
        await _new(api)
        async with unit_of_work(sessions) as session:
            admin = await identity.require_user(session, username="admin")
            other = await identity.create_project(
                session,
                principal=await identity.authenticate(
                    session, token=api.headers["Authorization"].removeprefix("Bearer ")
                ),
                data=identity.ProjectCreate(name="other"),
            )
            _, secret = await identity.issue_token(
                session, user=admin, name="other", scopes=[], project_id=other.id
            )
            _, reader_token = await make_user(session, "stranger")
        async with api_client(app, secret) as restricted:
            assert (await restricted.get(f"{T}/1")).status_code == 404
        async with api_client(app, reader_token) as stranger:
            assert (await stranger.get(T)).status_code == 404
            assert (await stranger.post(f"{T}/next")).status_code == 404
