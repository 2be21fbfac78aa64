"""The embedded PostgreSQL manager against the real binaries."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from devflow.core.config import EmbeddedPostgresSettings
from devflow.core.embedded_pg import EmbeddedPostgres, postmasters
from devflow.core.errors import Invalid


@pytest.fixture
def system_dir():
    # Reachable by the service user, like /var/lib; cleaned up afterwards.
    path = Path(tempfile.mkdtemp(prefix="devflow-sys-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Starts a cluster, prints the postmaster's pid and waits to be killed.
OWNER = """
import sys, time
from pathlib import Path
from devflow.core.config import EmbeddedPostgresSettings
from devflow.core.embedded_pg import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]), EmbeddedPostgresSettings(system_dir=Path(sys.argv[2])))
pg.start()
print(pg.pid, flush=True)
time.sleep(600)
"""


def gone(proc: psutil.Process) -> bool:
    """Whether `proc` has exited (a zombie waiting for a parent that never reaps it counts)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(predicate, timeout: float = 60) -> bool:
    """Poll `predicate` until it holds, for at most `timeout` seconds (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class TestPermissions:
    def test_a_private_home_is_never_opened_up(self, tmp_path, system_dir):
        parent = tmp_path / "user"
        home = parent / ".devflow"
        home.mkdir(parents=True)
        parent.chmod(0o700)
        home.chmod(0o700)
        before = {p: mode(p) for p in (tmp_path, parent, home)}
        pg = EmbeddedPostgres(home, EmbeddedPostgresSettings(system_dir=system_dir))
        try:
            url = pg.start()
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            pg.stop()
        assert {p: mode(p) for p in before} == before
        assert mode(home / "pg.json") == 0o600
        if os.geteuid() == 0:
            # The service user cannot reach the home, so the cluster lives in the system dir.
            assert (home / "pg").is_symlink()
            assert (home / "pg").resolve().parent == system_dir / "clusters"
        else:
            assert not (home / "pg").is_symlink()
            assert (home / "pg" / "PG_VERSION").exists()


class TestLifecycle:
    def test_a_server_left_running_is_stopped_and_replaced_and_a_stale_pid_file_ignored(
        self, tmp_path, system_dir
    ):
        home = tmp_path / "home"
        settings = EmbeddedPostgresSettings(system_dir=system_dir)
        first = EmbeddedPostgres(home, settings)
        first.start()
        leftover = psutil.Process(first.pid)
        second = EmbeddedPostgres(home, settings)
        try:
            with psycopg.connect(second.start()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert second.pid != leftover.pid
            assert gone(leftover)
            assert [p.pid for p in postmasters(home / "pg")] == [second.pid]
        finally:
            second.stop()
            first.stop()  # already stopped by `second`; this reaps the child it started
        assert not (home / "pg" / "postmaster.pid").exists()
        # A crash can leave a pid file naming a pid that is now another process.
        (home / "pg" / "postmaster.pid").write_text(f"{os.getpid()}\n{home / 'pg'}\n0\n5432\n")
        third = EmbeddedPostgres(home, settings)
        try:
            with psycopg.connect(third.start()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            third.stop()
        assert psutil.pid_exists(os.getpid())

    def test_the_server_stops_when_the_process_that_started_it_is_killed(
        self, tmp_path, system_dir
    ):
        home = tmp_path / "home"
        owner = subprocess.Popen(
            [sys.executable, "-c", OWNER, str(home), str(system_dir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert owner.stdout is not None
            postmaster = psutil.Process(int(owner.stdout.readline()))
            assert postmaster.name() == "postgres"
        finally:
            owner.kill()
            owner.communicate()
        assert wait_until(lambda: gone(postmaster))
        # SIGINT is a fast shutdown: the server shut down cleanly and removed its lock file.
        assert not (home / "pg" / "postmaster.pid").exists()
        log = (home / "logs" / "postgres.log").read_text()
        assert "received fast shutdown request" in log


class TestBadDataDirectories:
    def test_a_foreign_folder_is_refused(self, tmp_path):
        (tmp_path / "pg").mkdir()
        (tmp_path / "pg" / "notes.txt").write_text("mine")
        with pytest.raises(Invalid, match="not a PostgreSQL data directory"):
            EmbeddedPostgres(tmp_path, EmbeddedPostgresSettings()).start()
        assert (tmp_path / "pg" / "notes.txt").read_text() == "mine"

    def test_a_cluster_of_another_major_version_is_refused(self, tmp_path):
        (tmp_path / "pg").mkdir()
        (tmp_path / "pg" / "PG_VERSION").write_text("15\n")
        with pytest.raises(Invalid, match=r"PostgreSQL 15 cluster.*pg_upgrade"):
            EmbeddedPostgres(tmp_path, EmbeddedPostgresSettings()).start()

    def test_a_cluster_devflow_did_not_make_is_refused(self, tmp_path):
        (tmp_path / "pg").mkdir()
        (tmp_path / "pg" / "PG_VERSION").write_text("18\n")
        with pytest.raises(Invalid, match="did not create"):
            EmbeddedPostgres(tmp_path, EmbeddedPostgresSettings()).start()

    def test_a_corrupt_state_file_is_refused(self, tmp_path):
        (tmp_path / "pg.json").write_text("{")
        with pytest.raises(Invalid, match="corrupt"):
            EmbeddedPostgres(tmp_path, EmbeddedPostgresSettings()).start()
