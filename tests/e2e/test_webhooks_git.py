"""Webhooks after a real `git push` to a running DevFlow: the worker delivers GitHub-shaped
`push` and `create` events, signed, to a receiver on 127.0.0.1 that checks each signature."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devflow.settings import load_settings
from tests.cli_inprocess import run_cli
from tests.e2e.test_repos_git import git
from tests.registry_fixtures import RegistryServer, running_server
from tests.webhook_receiver import Receiver, run_webhook_jobs, webhook_receiver

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
ALLOW = {"repos": {"webhooks": {"allow_private_networks": True, "retry_base_seconds": 0}}}
ZERO = "0" * 40


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    with running_server(pg_server, home, settings=ALLOW) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def deliver(server: RegistryServer) -> None:
    """Run the queued webhook jobs as `devflow worker` would, on the server's data folder."""
    port = int(server.url.rsplit(":", 1)[1])  # the worker shares the server's settings
    settings = load_settings(
        database_url=server.db_url, home=server.home, server={"port": port}, **ALLOW
    )
    asyncio.run(run_webhook_jobs(server.db_url, settings))


def test_a_push_is_delivered_as_githubs_push_and_create_events(server, receiver, tmp_path):
    with server.api() as api:
        repo = api.post("/api/v1/projects/default/repos", json={"name": "hooked"}).json()
        hook = api.post(
            "/api/v1/projects/default/hooks",
            json={"url": f"{receiver.url}/git", "secret": "s3cret", "repository": "hooked",
                  "events": ["push", "create", "delete"]},
        )  # fmt: skip
        assert hook.status_code == 201, hook.text
    work = tmp_path / "work"
    git("init", "-q", "work", cwd=tmp_path)
    _commit(work, "a.txt", "first")
    _commit(work, "b.txt", "second")
    first = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    git("push", "-q", repo["clone_url"], "HEAD:refs/heads/main", cwd=work, token=server.token)
    deliver(server)

    got = receiver.at("/git")  # in any order: deliveries are sent side by side
    assert sorted(r.event for r in got) == ["create", "ping", "push"]
    assert all(r.signed for r in got)
    [push] = [r.payload for r in got if r.event == "push"]
    assert (push["ref"], push["before"], push["after"]) == ("refs/heads/main", ZERO, first)
    assert push["created"] is True
    assert push["forced"] is False
    assert [c["message"] for c in push["commits"]] == ["add a.txt", "add b.txt"]
    commit = push["commits"][1]
    assert commit["id"] == first
    assert commit["author"] == {"name": "Ada", "email": "ada@example.com"}
    assert commit["added"] == ["b.txt"]
    assert commit["url"] == f"{server.url}/default/hooked/commit/{first}"
    assert push["head_commit"]["id"] == first
    _is_the_repository(push["repository"], repo, server)
    assert push["pusher"]["name"] == "admin"
    assert push["sender"]["login"] == "admin"
    [create] = [r.payload for r in got if r.event == "create"]
    assert (create["ref"], create["ref_type"]) == ("main", "branch")

    # A second push lists only what it brought; a new branch on a known commit brings none;
    # a deletion is sent as one.
    _commit(work, "c.txt", "third")
    git("push", "-q", repo["clone_url"], "HEAD:refs/heads/main", cwd=work, token=server.token)
    third = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    git("push", "-q", repo["clone_url"], "HEAD:refs/heads/topic", cwd=work, token=server.token)
    git("push", "-q", repo["clone_url"], ":refs/heads/topic", cwd=work, token=server.token)
    deliver(server)
    later = receiver.at("/git")[3:]
    assert sorted(r.event for r in later) == ["create", "delete", "push", "push", "push"]
    pushes = {(r.payload["after"], r.payload["ref"]): r.payload for r in later if r.event == "push"}
    second = pushes[third, "refs/heads/main"]
    assert second["before"] == first
    assert [c["message"] for c in second["commits"]] == ["add c.txt"]
    assert (second["created"], second["forced"]) == (False, False)
    assert pushes[third, "refs/heads/topic"]["commits"] == []
    assert pushes[ZERO, "refs/heads/topic"]["deleted"] is True
    [deleted] = [r.payload for r in later if r.event == "delete"]
    assert (deleted["ref"], deleted["ref_type"]) == ("topic", "branch")
    assert len({r.delivery for r in receiver.at("/git")}) == len(receiver.at("/git"))


def _commit(work: Path, name: str, text: str) -> None:
    (work / name).write_text(text)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"add {name}", cwd=work)


def _is_the_repository(repository: dict, repo: dict, server: RegistryServer) -> None:
    assert {k: repository[k] for k in ("id", "name", "full_name", "default_branch")} == {
        "id": repo["id"],
        "name": "hooked",
        "full_name": "default/hooked",
        "default_branch": "main",
    }
    assert repository["clone_url"] == repo["clone_url"]
    assert repository["html_url"] == f"{server.url}/default/hooked"


def hook_cli(server: RegistryServer, *args: str, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVFLOW_")}
    env.update(DEVFLOW_URL=server.url, DEVFLOW_TOKEN=server.token, COLUMNS="200")
    return run_cli("hook", *args, env=env, input=stdin)


def test_the_hook_commands_add_list_show_deliveries_redeliver_and_remove(server, receiver):
    with server.api() as api:
        api.post("/api/v1/projects/default/repos", json={"name": "cli-hooked"})
    options = ["--repo", "default/cli-hooked", "--events", "push,issues", "--secret-stdin"]
    made = hook_cli(server, "add", f"{receiver.url}/cli", *options, "--json", stdin="s3cret\n")
    assert made.returncode == 0, made.stderr
    hook = json.loads(made.stdout)
    assert (hook["repository"], hook["events"], hook["secret"]) == (
        "cli-hooked", ["issues", "push"], None,
    )  # fmt: skip
    generated = hook_cli(server, "add", f"{receiver.url}/cli2")
    assert generated.returncode == 0, generated.stderr
    assert "secret (shown once): " in generated.stdout
    secret = generated.stdout.split("secret (shown once): ")[1].split()[0]

    listed = hook_cli(server, "list", "--repo", "cli-hooked", "--json")
    assert [h["id"] for h in json.loads(listed.stdout)["items"]] == [hook["id"]]
    shown = hook_cli(server, "list")
    assert hook["id"] in shown.stdout
    assert secret not in shown.stdout
    assert "s3cret" not in shown.stdout

    deliver(server)
    [ping] = [r for r in receiver.at("/cli") if r.event == "ping"]
    assert ping.signed
    page = json.loads(hook_cli(server, "deliveries", hook["id"], "--json").stdout)
    [delivery] = page["items"]
    assert (delivery["id"], delivery["status"]) == (ping.delivery, "delivered")
    again = hook_cli(server, "redeliver", hook["id"], delivery["id"])
    assert again.returncode == 0, again.stderr
    deliver(server)
    log = hook_cli(server, "deliveries", hook["id"], delivery["id"])
    assert "delivered after 2 attempt(s)" in log.stdout
    assert "#2 (redelivery)" in log.stdout
    assert {r.delivery for r in receiver.at("/cli")} == {delivery["id"]}

    removed = hook_cli(server, "remove", hook["id"])
    assert removed.returncode == 0, removed.stderr
    assert hook_cli(server, "list", "--repo", "cli-hooked", "--json").stdout.count('"id"') == 0
    missing = hook_cli(server, "remove", hook["id"])
    assert missing.returncode != 0


def test_pull_requests_and_reviews_are_sent_as_githubs_events(server, receiver, tmp_path):
    base = "/api/v1/projects/default/repos"
    with server.api() as api:
        repo = api.post(base, json={"name": "pulled", "readme": True}).json()
        hook = api.post(
            "/api/v1/projects/default/hooks",
            json={"url": f"{receiver.url}/pulls", "secret": "s3cret", "repository": "pulled",
                  "events": ["pull_request", "pull_request_review"]},
        )  # fmt: skip
        assert hook.status_code == 201, hook.text
    git("clone", "-q", repo["clone_url"], "work", cwd=tmp_path, token=server.token)
    work = tmp_path / "work"
    git("checkout", "-q", "-b", "feature", cwd=work)
    _commit(work, "f.txt", "feature")
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    git("push", "-q", "origin", "feature", cwd=work, token=server.token)
    with server.api() as api:
        opened = api.post(
            f"{base}/pulled/pulls", json={"head": "feature", "title": "Add f", "body": "Why"}
        )
        assert opened.status_code == 201, opened.text
        number = opened.json()["number"]
        reviewed = api.post(
            f"{base}/pulled/pulls/{number}/reviews",
            json={"event": "comment", "body": "Looks right"},
        )
        assert reviewed.status_code == 201, reviewed.text
        closed = api.post(f"{base}/pulled/pulls/{number}/close")
        assert closed.status_code == 200, closed.text
    deliver(server)

    got = [r for r in receiver.at("/pulls") if r.event != "ping"]
    assert all(r.signed for r in got)
    actions = sorted((r.event, r.payload["action"]) for r in got)
    assert actions == [
        ("pull_request", "closed"),
        ("pull_request", "opened"),
        ("pull_request_review", "submitted"),
    ]
    [opened_event] = [r.payload for r in got if r.payload["action"] == "opened"]
    pull = opened_event["pull_request"]
    assert (opened_event["number"], pull["number"], pull["title"]) == (number, number, "Add f")
    assert (pull["head"]["ref"], pull["head"]["sha"], pull["base"]["ref"]) == (
        "feature", head, "main",
    )  # fmt: skip
    assert pull["merged"] is False
    assert opened_event["repository"]["full_name"] == "default/pulled"
    [review] = [r.payload for r in got if r.event == "pull_request_review"]
    assert review["review"]["state"] == "commented"
    assert review["sender"]["login"] == "admin"
