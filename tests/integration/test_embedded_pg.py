"""The embedded PostgreSQL manager against the real binaries."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from devflow.core.config import EmbeddedPostgresSettings
from devflow.core.embedded_pg import EmbeddedPostgres
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
    def test_a_running_server_is_reused_and_a_stale_pid_file_ignored(self, tmp_path, system_dir):
        home = tmp_path / "home"
        settings = EmbeddedPostgresSettings(system_dir=system_dir)
        first = EmbeddedPostgres(home, settings)
        url = first.start()
        second = EmbeddedPostgres(home, settings)
        try:
            assert second.start() == url
            assert second.pid == first.pid
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
