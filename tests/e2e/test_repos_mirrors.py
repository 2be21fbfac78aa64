"""Imports and pull mirrors against a running DevFlow, with real `git`: the source is the same
DevFlow's Smart HTTP on 127.0.0.1 (loopback opened to imports by `private_networks`), the jobs
run as `devflow worker` would run them."""

from __future__ import annotations

import asyncio
import http.server
import json
import shutil
import threading
from collections.abc import Iterator

import psycopg
import pytest

from devflow.core.db import libpq_url
from devflow.repos import jobs as repos_jobs
from devflow.repos.mirrors.service import SCHEDULE
from devflow.settings import load_settings
from tests.e2e.test_repos_git import devflow, git
from tests.factories import run_jobs
from tests.registry_fixtures import RegistryServer, running_server
from tests.secret_values import register, secret_value

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
LOOPBACK = {"repos": {"mirrors": {"private_networks": ["127.0.0.0/8"]}}}
REPOS = "/api/v1/projects/default/repos"
SECRETS = "/api/v1/projects/default/secrets"


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory) -> Iterator[RegistryServer]:
    del template_url
    home = tmp_path_factory.mktemp("home")
    with running_server(pg_server, home, settings=LOOPBACK) as running:
        yield running


def work(server: RegistryServer) -> None:
    """Run the queued jobs as `devflow worker` would, with the server's settings."""
    port = int(server.url.rsplit(":", 1)[1])
    settings = load_settings(
        database_url=server.db_url, home=server.home, server={"port": port}, **LOOPBACK
    )
    asyncio.run(run_jobs(server.db_url, [repos_jobs.blueprint], settings=settings))


def _commit(server: RegistryServer, tmp_path, url: str, name: str) -> str:
    work_tree = tmp_path / f"w-{name}"
    git("clone", "-q", url, str(work_tree), cwd=tmp_path, token=server.token)
    (work_tree / name).write_text(name)
    git("add", name, cwd=work_tree)
    git("commit", "-qm", f"add {name}", cwd=work_tree)
    git("push", "-q", "origin", "HEAD:main", cwd=work_tree, token=server.token)
    return git("rev-parse", "HEAD", cwd=work_tree).stdout.strip()


def test_an_import_as_a_mirror_clones_follows_its_source_and_refuses_pushes(server, tmp_path):
    with server.api() as api:
        made = {"name": "upstream", "visibility": "public", "readme": True,
                "default_branch": "trunk"}  # fmt: skip
        source = api.post(REPOS, json=made).json()
        body = {"url": source["clone_url"], "name": "copy", "mirror": True,
                "interval_seconds": 600}  # fmt: skip
        started = api.post(f"{REPOS}/import", json=body)
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        assert api.get(f"{REPOS}/copy").status_code == 404  # no row before the clone is done
    work(server)
    with server.api() as api:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        assert job["status"] == "succeeded", job
        copy = api.get(f"{REPOS}/copy").json()
        assert (copy["default_branch"], copy["mirror"]) == ("trunk", True)
        mirror = api.get(f"{REPOS}/copy/mirror").json()
        assert mirror["url"] == source["clone_url"]
        assert mirror["interval_seconds"] == 600
    cloned = tmp_path / "cloned"
    git("clone", "-q", copy["clone_url"], str(cloned), cwd=tmp_path, token=server.token)
    assert (cloned / "README.md").read_text().startswith("# upstream")

    # A user's push to the mirror is refused with its reason.
    (cloned / "x.txt").write_text("x")
    git("add", "x.txt", cwd=cloned)
    git("commit", "-qm", "x", cwd=cloned)
    refused = git("push", "origin", "HEAD:trunk", cwd=cloned, token=server.token, check=False)
    assert refused.returncode != 0
    assert "is a pull mirror and read-only" in refused.stderr

    # The source moves; a fetch of the mirror follows it and is recorded as a push.
    moved = _commit(server, tmp_path, source["clone_url"], "a.txt")
    with server.api() as api:
        imported_at = api.get(f"{REPOS}/copy").json()["last_pushed_at"]
        synced = api.post(f"{REPOS}/copy/mirror/sync")
        assert synced.status_code == 202, synced.text
    work(server)
    heads = git("ls-remote", copy["clone_url"], cwd=tmp_path, token=server.token).stdout
    assert f"{moved}\trefs/heads/main" in heads
    with server.api() as api:
        mirror = api.get(f"{REPOS}/copy/mirror").json()
        assert mirror["last_error"] is None
        assert api.get(f"{REPOS}/copy").json()["last_pushed_at"] > imported_at  # a push


def test_an_import_once_by_the_cli_takes_pushes(server, tmp_path):
    with server.api() as api:
        source = api.post(REPOS, json={"name": "lib", "visibility": "public",
                                       "readme": True}).json()  # fmt: skip
    started = devflow(server, "import", source["clone_url"], "--name", "lib-copy", "--no-wait",
                      "--json")  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["name"] == "lib-copy"
    work(server)
    shown = devflow(server, "show", "lib-copy", "--json")
    assert json.loads(shown.stdout)["default_branch"] == "main"
    with server.api() as api:
        copy = api.get(f"{REPOS}/lib-copy").json()
        assert api.get(f"{REPOS}/lib-copy/mirror").status_code == 404
    _commit(server, tmp_path, copy["clone_url"], "b.txt")  # not a mirror: pushes are taken


def test_a_failed_import_leaves_no_repository(server):
    with server.api() as api:
        body = {"url": f"{server.url}/default/missing.git", "name": "ghost"}
        started = api.post(f"{REPOS}/import", json=body)
        assert started.status_code == 202, started.text
    work(server)
    with server.api() as api:
        job = api.get(f"/api/v1/jobs/{started.json()['job_id']}").json()
        assert job["status"] == "failed"
        assert api.get(f"{REPOS}/ghost").status_code == 404
    leftovers = list((server.home / "repos" / ".incoming").glob("*"))
    assert leftovers == []


@pytest.mark.parametrize(
    ("url", "status", "said"),
    [
        ("http://10.1.2.3/team/app.git", 403, "private"),
        ("http://169.254.169.254/latest/app.git", 403, "private"),
        ("file:///etc/app.git", 422, "only http:// and https://"),
        ("ext::sh -c touch% /tmp/pwned", 422, "spaces or control"),
        ("ssh://git@example.com/app.git", 422, "only http:// and https://"),
        ("https://ada:hunter2@example.com/app.git", 422, "may not hold a user name"),
        ("https://example.com/", 422, "give a name"),
    ],
)
def test_a_source_outside_the_rules_is_refused(server, url, status, said):
    with server.api() as api:
        refused = api.post(f"{REPOS}/import", json={"url": url})
    assert refused.status_code == status, refused.text
    assert said in refused.text
    assert "hunter2" not in refused.text


def test_the_import_job_shows_gits_progress(server):
    with server.api() as api:
        source = api.post(REPOS, json={"name": "counted", "visibility": "public",
                                       "readme": True}).json()  # fmt: skip
        body = {"url": source["clone_url"], "name": "counted-copy"}
        job_id = api.post(f"{REPOS}/import", json=body).json()["job_id"]
    work(server)
    with server.api() as api:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert job["unit"] == "objects"
    assert job["done"] == job["total"] > 0


def test_a_redirect_is_not_followed(server, tmp_path):
    """A source that answers with a redirect (here to DevFlow itself, which is allowed) is
    refused: git is told to follow none, so one cannot lead it to an address never checked."""
    target = server.url

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{target}/default/upstream.git{self.path[8:]}")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=redirector.serve_forever, daemon=True)
    thread.start()
    try:
        with server.api() as api:
            body = {"url": f"http://127.0.0.1:{redirector.server_port}/src.git", "name": "moved"}
            started = api.post(f"{REPOS}/import", json=body)
            assert started.status_code == 202, started.text
        work(server)
        with server.api() as api:
            job = api.get(f"/api/v1/jobs/{started.json()['job_id']}").json()
            assert job["status"] == "failed", job
            assert "302" in str(job), job
            assert api.get(f"{REPOS}/moved").status_code == 404
    finally:
        redirector.shutdown()
        redirector.server_close()


def test_a_failed_mirror_fetch_keeps_its_error_and_the_mirror(server):
    with server.api() as api:
        api.post(REPOS, json={"name": "fleeting", "visibility": "public", "readme": True})
        source = api.get(f"{REPOS}/fleeting").json()
        body = {"url": source["clone_url"], "name": "orphan", "mirror": True}
        api.post(f"{REPOS}/import", json=body)
    work(server)
    with server.api() as api:
        assert api.delete(f"{REPOS}/fleeting").status_code == 204
        assert api.post(f"{REPOS}/orphan/mirror/sync").status_code == 202
    work(server)
    with server.api() as api:
        mirror = api.get(f"{REPOS}/orphan/mirror").json()
        assert "failed" in mirror["last_error"]
        assert api.get(f"{REPOS}/orphan/branches").status_code == 200  # still there, as it was


def test_the_periodic_job_fetches_the_mirrors_that_are_due(server, tmp_path):
    with server.api() as api:
        source = api.post(REPOS, json={"name": "ticking", "visibility": "public",
                                       "readme": True}).json()  # fmt: skip
        body = {"url": source["clone_url"], "name": "ticked", "mirror": True}
        api.post(f"{REPOS}/import", json=body)
    work(server)
    moved = _commit(server, tmp_path, source["clone_url"], "t.txt")
    with psycopg.connect(libpq_url(server.db_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE repos_mirror SET next_fetch_at = now() - interval '1 minute' "
            "WHERE repository_id = (SELECT id FROM repos_repository WHERE name = 'ticked')"
        )
        conn.execute(  # the minute's tick, as procrastinate's scheduler defers it
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', %s, 0, NULL, NULL, "
            "jsonb_build_object('timestamp', 0), NULL)::procrastinate_job_to_defer_v1])",
            (SCHEDULE,),
        )
    work(server)  # the tick queues the fetch
    work(server)  # the fetch
    heads = git("ls-remote", f"{server.url}/default/ticked.git", cwd=tmp_path,
                token=server.token).stdout  # fmt: skip
    assert f"{moved}\trefs/heads/main" in heads
    with server.api() as api:
        mirror = api.get(f"{REPOS}/ticked/mirror").json()
        assert mirror["next_fetch_at"] > mirror["last_fetched_at"]


def test_a_private_source_is_mirrored_with_a_project_secret_that_never_shows(server, tmp_path):
    """`credentials: secret://NAME` names a secret of the project: checked at the request, resolved
    by the job and each fetch, handed to git outside its URL and arguments; a fetch without it
    fails saying so, and no value reaches the job, the mirror or its error."""
    with server.api() as api:
        source = api.post(REPOS, json={"name": "closed", "visibility": "private",
                                       "readme": True}).json()  # fmt: skip
        minted = api.post("/api/v1/tokens", json={"name": "mirror reader"})
        assert minted.status_code == 201, minted.text
        token = register(minted.json()["token"])
        body = {"url": source["clone_url"], "name": "closed-copy", "mirror": True,
                "credentials": "secret://MIRROR_TOKEN"}  # fmt: skip
        missing = api.post(f"{REPOS}/import", json=body)
        assert missing.status_code == 422, missing.text
        assert "MIRROR_TOKEN" in missing.text
        raw = api.post(f"{REPOS}/import", json={**body, "credentials": f"ada:{token}"})
        assert raw.status_code == 422, raw.text
        assert "secret://NAME" in raw.text
        assert token not in raw.text
        made = api.put(f"{SECRETS}/MIRROR_TOKEN", json={"value": token})
        assert made.status_code == 200, made.text
        started = api.post(f"{REPOS}/import", json=body)
        assert started.status_code == 202, started.text
        bare = api.post(f"{REPOS}/import", json={**body, "name": "closed-bare", "mirror": False,
                                                 "credentials": None})  # fmt: skip
        assert bare.status_code == 202, bare.text
    work(server)
    with server.api() as api:
        job = api.get(f"/api/v1/jobs/{started.json()['job_id']}").json()
        assert job["status"] == "succeeded", job
        assert token not in json.dumps(job)
        mirror = api.get(f"{REPOS}/closed-copy/mirror").json()
        assert mirror["credentials"] == "secret://MIRROR_TOKEN"
        failed = api.get(f"/api/v1/jobs/{bare.json()['job_id']}").json()
        assert failed["status"] == "failed", failed
        assert "the source asks for credentials" in json.dumps(failed)
        assert api.get(f"{REPOS}/closed-bare").status_code == 404
    moved = _commit(server, tmp_path, source["clone_url"], "c.txt")
    with server.api() as api:
        assert api.post(f"{REPOS}/closed-copy/mirror/sync").status_code == 202
    work(server)
    heads = git("ls-remote", f"{server.url}/default/closed-copy.git", cwd=tmp_path,
                token=server.token).stdout  # fmt: skip
    assert f"{moved}\trefs/heads/main" in heads

    # A wrong value (user:password form) fails the fetch; neither value is in what is kept.
    wrong = secret_value("wrong-")
    with server.api() as api:
        api.put(f"{SECRETS}/MIRROR_TOKEN", json={"value": f"mirror:{wrong}"})
        synced = api.post(f"{REPOS}/closed-copy/mirror/sync")
    work(server)
    with server.api() as api:
        mirror = api.get(f"{REPOS}/closed-copy/mirror").json()
        job = api.get(f"/api/v1/jobs/{synced.json()['job_id']}").json()
    assert job["status"] == "failed", job
    assert "refused the credentials given" in mirror["last_error"]
    for value in (token, wrong):
        assert value not in json.dumps(job)
        assert value not in json.dumps(mirror)
