"""`devflow up` killed without warning: its PostgreSQL and worker go with it, and the next start
finds and stops whatever an earlier one left running, and only that."""

import json
import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from devflow.core.config import EmbeddedPostgresSettings
from devflow.core.embedded_pg import EmbeddedPostgres, postmasters
from devflow.runtime import WORKER_RECORD, record_worker, stop_leftover_worker
from tests.e2e.conftest import REPO, make_home, start_up, wait_for

pytestmark = pytest.mark.e2e


def gone(proc: psutil.Process) -> bool:
    """Whether `proc` has exited; an orphan may stay a zombie where PID 1 does not reap."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_children(up: subprocess.Popen) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(up.pid).children():
        try:
            if "worker" in child.cmdline() and not gone(child):
                found.append(child)
        except psutil.Error:
            continue
    return found


def workers_of(home) -> list[psutil.Process]:
    """Every live `devflow worker` started for `home`, whoever its parent is."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            command = proc.info["cmdline"] or []
            if (
                command[-3:] == ["-m", "devflow", "worker"]
                and not gone(proc)
                and proc.environ().get("DEVFLOW_HOME") == str(home)
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def cluster(home):
    return postmasters(home / "pg")


def start_worker(home, url: str, **popen) -> subprocess.Popen:
    """Start `devflow worker` on `home`'s database, as a user (or an old `up`) would."""
    env = {
        **os.environ,
        "DEVFLOW_HOME": str(home),
        "DEVFLOW_DATABASE_URL": url,
        "DEVFLOW_LOG__FORMAT": "json",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "devflow", "worker", *popen.pop("args", [])],
        env=env,
        start_new_session=True,
        **popen,
    )


class TestKilledUp:
    def test_a_killed_up_takes_postgres_and_its_worker_along_and_the_next_start_is_clean(self):
        home = make_home()
        first = start_up(home)
        try:
            [postmaster] = cluster(home)
            [worker] = wait_for(lambda: worker_children(first.proc))
        finally:
            first.proc.kill()
            first.proc.wait()
            # The worker inherited this pipe: reading it to the end would wait for the worker.
            assert first.proc.stdout is not None
            first.proc.stdout.close()
        wait_for(lambda: gone(postmaster) and gone(worker))

        second = start_up(home)
        try:
            assert [p.pid for p in cluster(home)] != [postmaster.pid]
            assert len(cluster(home)) == 1
            [child] = wait_for(lambda: worker_children(second.proc))
            assert [w.pid for w in workers_of(home)] == [child.pid]
            assert httpx.get(f"{second.url}/ready", timeout=10).status_code == 200
        finally:
            out = second.stop()
        assert second.proc.returncode == 0, out


class TestLeftovers:
    def test_a_postgres_and_worker_left_by_an_earlier_up_are_stopped_by_the_next_start(self):
        home = make_home()
        made = start_up(home)  # makes the cluster and the admin
        made.stop()
        # What an `up` killed without a parent-death signal leaves (another platform, an older
        # DevFlow): a PostgreSQL nobody stops, and the worker it had recorded.
        leftover_pg = EmbeddedPostgres(home, EmbeddedPostgresSettings())
        url = leftover_pg.start()
        [leftover_postmaster] = cluster(home)
        leftover_worker = start_worker(home, url)
        record_worker(home / WORKER_RECORD, leftover_worker.pid)
        # A worker a user started by hand, never recorded. A real one on this embedded database
        # would exit by itself once its PostgreSQL is replaced, so a stand-in that only looks
        # like one shows that the start stops what it recorded, not what has a worker's name.
        users_worker = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)", "-m", "devflow", "worker"],
            env={**os.environ, "DEVFLOW_HOME": str(home)},
        )
        second = start_up(home)
        try:
            assert leftover_worker.wait(timeout=60) is not None
            assert gone(leftover_postmaster)
            [fresh] = cluster(home)
            assert fresh.pid != leftover_postmaster.pid
            [child] = wait_for(lambda: worker_children(second.proc))
            assert {w.pid for w in workers_of(home)} == {child.pid, users_worker.pid}
            assert users_worker.poll() is None
            assert httpx.get(f"{second.url}/ready", timeout=10).status_code == 200
        finally:
            second.stop()
            users_worker.kill()
            users_worker.wait()
            leftover_pg.stop()  # already stopped by the start; this reaps the child it was

    def test_a_recorded_pid_now_used_by_another_process_is_left_alone(self, tmp_path):
        record = tmp_path / WORKER_RECORD
        stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            # The recorded worker is long gone and its pid now names another process.
            created = psutil.Process(stranger.pid).create_time() - 3600
            record.write_text(json.dumps({"pid": stranger.pid, "create_time": created}))
            stop_leftover_worker(record)
            assert stranger.poll() is None
            assert not record.exists()
        finally:
            stranger.kill()
            stranger.wait()


# Supervises a worker as `devflow up` does on a kernel without a parent-death signal.
NO_PDEATHSIG_OWNER = """
import os, sys, time
from pathlib import Path
import devflow.runtime as runtime
runtime.die_with_parent = lambda sig: None
env = {**os.environ, "DEVFLOW_DATABASE_URL": sys.argv[1]}
runtime.WorkerProcess(env, Path(sys.argv[2])).start()
time.sleep(600)
"""


class TestWithoutParentDeathSignal:
    def test_the_worker_of_a_killed_up_stops_through_its_parent_pipe(self, db_url, tmp_path):
        record = tmp_path / WORKER_RECORD
        owner = subprocess.Popen(
            [sys.executable, "-c", NO_PDEATHSIG_OWNER, db_url, str(record)],
            env={**os.environ, "DEVFLOW_HOME": str(tmp_path), "PYTHONPATH": str(REPO)},
        )
        try:
            wait_for(record.exists)
            worker = psutil.Process(json.loads(record.read_text())["pid"])
            assert "--parent-fd" in worker.cmdline()
        finally:
            owner.kill()
            owner.wait()
        wait_for(lambda: gone(worker))

    def test_a_worker_given_a_parent_pipe_stops_gracefully_when_the_pipe_closes(
        self, db_url, tmp_path
    ):
        read_end, write_end = os.pipe()
        worker = start_worker(
            tmp_path,
            db_url,
            args=["--parent-fd", str(read_end)],
            pass_fds=(read_end,),
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(read_end)
        try:
            assert worker.stderr is not None
            for line in worker.stderr:
                if "Starting worker" in line:
                    break
            os.close(write_end)  # as the kernel does when the parent dies
            write_end = -1
            _, err = worker.communicate(timeout=60)
        finally:
            if write_end >= 0:
                os.close(write_end)
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.communicate()
        assert worker.returncode == 0, err
        assert "parent process gone" in err
