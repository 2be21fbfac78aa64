"""`devflow up` end to end: the CLI, the API, events, jobs and process lifecycle."""

import json
import os
import signal
import threading
import time

import httpx
import psutil
import psycopg
import pytest

from tests.e2e.conftest import make_home, start_up, wait_for

pytestmark = pytest.mark.e2e


def api(devflow, token=None):
    return httpx.Client(
        base_url=devflow.url,
        timeout=10,
        headers={"Authorization": f"Bearer {token or devflow.token}"},
    )


class TestCli:
    def test_projects_and_tokens_through_the_cli(self, devflow):
        created = devflow.cli("project", "create", "billing", "--description", "Money")
        assert created.returncode == 0, created.stderr
        listing = json.loads(devflow.cli("project", "list", "--json").stdout)
        assert [p["name"] for p in listing] == ["billing", "default"]
        shown = json.loads(devflow.cli("project", "show", "billing", "--json").stdout)
        assert shown["your_role"] == "owner"

        token = json.loads(devflow.cli("token", "create", "ci", "--scope", "read", "--json").stdout)
        assert token["token"].startswith("dfl_")
        as_ci = devflow.cli("project", "list", "--json", token=token["token"])
        assert as_ci.returncode == 0
        denied = devflow.cli("project", "create", "nope", token=token["token"])
        assert denied.returncode == 3
        assert "lacks the 'write' scope" in denied.stderr

        assert devflow.cli("token", "revoke", token["id"]).returncode == 0
        revoked = devflow.cli("project", "list", token=token["token"])
        assert revoked.returncode == 3
        assert "revoked" in revoked.stderr
        assert "Traceback" not in revoked.stderr

        assert "registry:publish" in devflow.cli_process("token", "scopes").stdout
        scopes = json.loads(devflow.cli("token", "scopes", "--json").stdout)
        assert {
            "name": "registry:publish",
            "description": "publish packages to registries",
        }.items() <= scopes[-1].items()
        unknown = devflow.cli("token", "create", "x", "--scope", "registry:root")
        assert unknown.returncode == 2
        assert "known scopes: read, write, admin, registry:read" in unknown.stderr

    def test_a_server_that_is_not_there_is_a_clear_error(self, devflow):
        # In its own process: the entry point's error mapping, as a shell sees it.
        result = devflow.cli_process("project", "list", "--url", "http://127.0.0.1:1")
        assert result.returncode == 6
        assert "cannot reach DevFlow at http://127.0.0.1:1" in result.stderr

    def test_config_show_masks_secrets(self, devflow):
        env = {**devflow.env, "DEVFLOW_DATABASE_URL": "postgresql://u:topsecret@db/x"}
        devflow.env, saved = env, devflow.env
        try:
            shown = json.loads(devflow.cli_process("config", "show", "--json").stdout)
        finally:
            devflow.env = saved
        row = next(r for r in shown if r["key"] == "database_url")
        assert row["value"] == "postgresql://u:***@db/x"


class TestEvents:
    def test_a_change_is_streamed_to_subscribers_filtered_by_type(self, devflow):
        received: list[str] = []

        def listen() -> None:
            with (
                api(devflow) as client,
                client.stream(
                    "GET", "/api/v1/events", params={"type": "project.*"}, timeout=20
                ) as stream,
            ):
                for line in stream.iter_lines():
                    received.append(line)
                    if line.startswith("data:") and "events-demo" in line:
                        return

        listener = threading.Thread(target=listen)
        listener.start()
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        with api(devflow) as client:
            client.post("/api/v1/tokens", json={"name": "noise"})  # not a project.* event
            assert client.post("/api/v1/projects", json={"name": "events-demo"}).status_code == 201
        listener.join(20)
        assert received[0] == ": connected"
        data = [json.loads(x[5:]) for x in received if x.startswith("data:")]
        assert [d["type"] for d in data] == ["project.created"]
        assert data[0]["payload"] == {"name": "events-demo"}


def worker_pids(devflow) -> list[int]:
    pids = []
    for child in psutil.Process(devflow.proc.pid).children():
        try:  # a killed worker is a zombie until the supervisor reaps it: not a live worker
            if "worker" in " ".join(child.cmdline()):
                pids.append(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return pids


def defer_directly(devflow, task: str, args: dict) -> int:
    state = json.loads((devflow.home / "pg.json").read_text())
    url = f"postgresql://devflow:{state['password']}@127.0.0.1:{state['port']}/devflow"
    with psycopg.connect(url, autocommit=True) as conn:
        job_id = conn.execute(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('default', %s, 0, NULL, NULL, "
            "%s::jsonb, NULL)::procrastinate_job_to_defer_v1]))",
            (task, json.dumps(args)),
        ).fetchone()[0]
    return int(job_id)


class TestJobs:
    def test_a_job_killed_with_its_worker_is_retried_not_lost(self, devflow, tmp_path):
        gate = tmp_path / "gate"
        job_id = defer_directly(devflow, "tests:count_to", {"n": 2, "gate": str(gate)})
        with api(devflow) as client:
            job = wait_for(
                lambda: (
                    (j := client.get(f"/api/v1/jobs/{job_id}").json())["status"] == "doing"
                    and j["done"] == 2
                    and j
                )
            )
            assert job["total"] == 2
            [victim] = worker_pids(devflow)
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: worker_pids(devflow) and worker_pids(devflow) != [victim])
            gate.write_text("go")
            done = wait_for(
                lambda: (
                    (j := client.get(f"/api/v1/jobs/{job_id}").json())["status"] == "succeeded"
                    and j
                )
            )
        assert done["attempts"] >= 2

    def test_job_status_is_shown_by_the_cli(self, devflow):
        job_id = defer_directly(devflow, "tests:count_to", {"n": 3})
        shown = devflow.cli_process("jobs", "show", str(job_id), "--watch", "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["done"] == 3  # nothing but the JSON on stdout

    def test_watching_a_job_shows_its_phase_with_its_unit_and_rate(self, devflow):
        # Which phases a watch sees depends on when it starts: tests/unit/test_cli_progress.py
        # checks a bar per phase; here the real job, API and CLI agree on the last one.
        job_id = defer_directly(devflow, "tests:two_phases", {"pause": 0.5})
        watched = devflow.cli("jobs", "show", str(job_id), "--watch")
        assert watched.returncode == 0, watched.stderr
        out = watched.stdout
        assert "tests:two_phases second" in out
        assert "4/4 chunks" in out
        assert "/s" in out
        shown = json.loads(devflow.cli("jobs", "show", str(job_id), "--json").stdout)
        assert (shown["phase"], shown["unit"], shown["counts"]) == (
            "second",
            "chunks",
            {"embedded": 4},
        )
        assert shown["rate"] > 0

    def test_jobs_are_listed_and_filtered_by_the_cli(self, devflow):
        job_id = defer_directly(devflow, "tests:count_to", {"n": 1})
        devflow.cli("jobs", "show", str(job_id), "--watch")
        listed = devflow.cli(
            "jobs", "list", "--task", "tests:count*", "--status", "succeeded", "--json"
        )
        assert listed.returncode == 0, listed.stderr
        jobs = json.loads(listed.stdout)
        assert job_id in [j["id"] for j in jobs]
        assert {(j["task"], j["status"]) for j in jobs} == {("tests:count_to", "succeeded")}
        table = devflow.cli("jobs", "list")
        assert str(job_id) in table.stdout
        missing = devflow.cli("jobs", "show", "987654")
        assert missing.returncode == 4
        assert "no job 987654; `devflow jobs list` shows the jobs you can see" in missing.stderr
        wrong = devflow.cli("jobs", "list", "--status", "finished")
        assert wrong.returncode == 2
        assert "choose one of todo, doing" in wrong.stderr

    def test_a_job_is_cancelled_and_retried_by_the_cli(self, devflow, tmp_path):
        running = defer_directly(devflow, "tests:count_to", {"n": 1, "gate": str(tmp_path / "x")})
        with api(devflow) as client:
            wait_for(lambda: client.get(f"/api/v1/jobs/{running}").json()["status"] == "doing")
        cancelled = devflow.cli("jobs", "cancel", str(running))
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"job {running} tests:count_to is running: asked to stop" in cancelled.stdout
        stopped = json.loads(devflow.cli("jobs", "show", str(running), "--watch", "--json").stdout)
        assert (stopped["status"], stopped["message"]) == ("aborted", "cancelled while running")
        again = devflow.cli("jobs", "cancel", str(running))
        assert again.returncode == 5
        assert f"job {running} already ended (aborted)" in again.stderr

        failing = defer_directly(devflow, "tests:fail_for_good", {"reason": "broken on purpose"})
        devflow.cli("jobs", "show", str(failing), "--watch")
        retried = devflow.cli("jobs", "retry", str(failing), "--watch", "--json")
        assert retried.returncode == 0, retried.stderr
        job = json.loads(retried.stdout)
        assert (job["status"], job["error"]) == ("failed", "broken on purpose")
        assert job["attempts"] >= 2
        unknown = devflow.cli("jobs", "retry", "987654")
        assert unknown.returncode == 4
        assert "no job 987654; `devflow jobs list` shows the jobs you can see" in unknown.stderr


class TestRefusals:
    def test_a_second_up_on_the_same_home_is_refused(self, devflow):
        second = start_up(devflow.home, wait=False)
        out, _ = second.proc.communicate(timeout=60)
        assert second.proc.returncode == 5
        assert "already running" in out

    def test_a_busy_port_is_a_clear_error(self, devflow):
        port = int(devflow.url.rsplit(":", 1)[1])
        other = start_up(make_home(), port=port, wait=False)
        out, _ = other.proc.communicate(timeout=60)
        assert other.proc.returncode == 5
        assert f"cannot listen on 127.0.0.1:{port}" in out


class TestLifecycle:
    def test_ctrl_c_stops_postgres_and_the_next_start_reuses_the_data(self):
        home = make_home()
        first = start_up(home)
        try:
            assert first.cli_process("project", "create", "kept").returncode == 0
            postgres = [
                p
                for p in psutil.process_iter(["name", "cmdline"])
                if p.info["name"] == "postgres" and str(home) in " ".join(p.info["cmdline"] or [])
            ]
        finally:
            out = first.stop()
        assert first.proc.returncode == 0, out
        assert "sign in to the dashboard" in out
        assert not any(p.is_running() for p in postgres) or postgres == []
        second = start_up(home, wait=False)
        try:
            assert second.proc.stdout is not None
            for line in second.proc.stdout:
                if "DevFlow is up" in line:
                    break
            # Announced only once the server listens, with the database migrated and reachable.
            assert httpx.get(f"{second.url}/ready", timeout=10).status_code == 200
            names = json.loads(second.cli("project", "list", "--json").stdout)
            assert "kept" in [p["name"] for p in names]
        finally:
            out = second.stop()
        assert "sign in to the dashboard" not in out  # the admin was made only once
