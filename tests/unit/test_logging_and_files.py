import json
import logging
import os
import stat
from collections.abc import Iterator

import pytest

from devflow.core.config import FilesSettings, LogSettings
from devflow.core.credentials import Credentials, read_credentials, write_credentials
from devflow.core.embedded_pg import InstanceLock
from devflow.core.errors import Conflict, Invalid
from devflow.core.files import prepare_home, restrict_umask
from devflow.core.logging import (
    ConsoleFormatter,
    JsonFormatter,
    configure_logging,
    request_id_var,
)
from devflow.settings import load_settings
from tests.factories import file_mode


class TestJsonLogs:
    def test_lines_carry_the_request_id_and_extra_fields(self):
        record = logging.LogRecord(
            "devflow.test", logging.INFO, __file__, 1, "hello %s", ("you",), None
        )
        record.status = 201
        token = request_id_var.set("abc123")
        try:
            line = json.loads(JsonFormatter().format(record))
        finally:
            request_id_var.reset(token)
        assert line["msg"] == "hello you"
        assert line["request_id"] == "abc123"
        assert line["status"] == 201
        assert line["level"] == "info"

    def test_log_settings_reject_unknown_formats(self):
        with pytest.raises(ValueError, match="format"):
            LogSettings(format="xml")


class TestConsoleLogs:
    def test_uvicorn_s_server_lines_do_not_read_as_errors(self):
        # uvicorn logs "Started server process" to its logger named `uvicorn.error`; on the
        # terminal of `devflow up` each start read "info    uvicorn.error: Started server ..."
        record = logging.LogRecord(
            "uvicorn.error", logging.INFO, __file__, 1, "Started server process [7]", None, None
        )
        assert ConsoleFormatter().format(record) == "info    uvicorn: Started server process [7]"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root, queue = logging.getLogger(), logging.getLogger("procrastinate")
    handlers, level, queue_level = root.handlers[:], root.level, queue.level
    yield
    root.handlers[:], root.level = handlers, level
    queue.setLevel(queue_level)


@pytest.mark.usefixtures("restored_logging")
class TestTheQueuesLines:
    def test_a_terminal_at_the_default_level_gets_only_its_warnings_and_errors(self):
        configure_logging(LogSettings(format="console"))
        queue = logging.getLogger("procrastinate.periodic")
        assert not queue.isEnabledFor(logging.INFO)  # "Registering task …", "deferred" …
        assert queue.isEnabledFor(logging.WARNING)
        assert logging.getLogger("devflow.worker").isEnabledFor(logging.INFO)

    @pytest.mark.parametrize(
        "settings", [LogSettings(format="json"), LogSettings(format="console", level="DEBUG")]
    )
    def test_a_json_log_and_a_debugging_terminal_keep_its_info_lines(self, settings):
        configure_logging(settings)
        assert logging.getLogger("procrastinate.worker").isEnabledFor(logging.INFO)


class TestCredentialsFile:
    def test_written_with_mode_0600_and_read_back(self, tmp_path):
        path = tmp_path / "home" / "credentials"
        write_credentials(path, Credentials(url="http://127.0.0.1:3737", token="dfl_x"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_credentials(path) == Credentials(url="http://127.0.0.1:3737", token="dfl_x")

    def test_a_garbled_file_is_an_error_that_says_what_to_do(self, tmp_path):
        path = tmp_path / "credentials"
        path.write_text("not json")
        with pytest.raises(Invalid, match="delete it"):
            read_credentials(path)

    def test_a_missing_file_is_none(self, tmp_path):
        assert read_credentials(tmp_path / "credentials") is None

    def test_a_leftover_temporary_file_does_not_lend_the_file_its_mode(self, tmp_path):
        path = tmp_path / "credentials"
        (tmp_path / "credentials.tmp").write_text("left by a crash")
        (tmp_path / "credentials.tmp").chmod(0o644)
        write_credentials(path, Credentials(url="http://127.0.0.1:3737", token="dfl_x"))
        assert file_mode(path) == 0o600


class TestHomePermissions:
    def test_the_home_is_created_private_to_its_user(self, tmp_path, open_umask):
        settings = load_settings(home=tmp_path / "home")
        prepare_home(settings)
        assert file_mode(settings.home) == 0o700

    def test_with_the_shared_setting_the_home_is_group_readable(self, tmp_path, open_umask):
        settings = load_settings(home=tmp_path / "home", files={"group_readable": True})
        prepare_home(settings)
        assert file_mode(settings.home) == 0o750

    def test_the_shared_setting_is_read_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_FILES__GROUP_READABLE", "true")
        assert load_settings().files == FilesSettings(group_readable=True)

    def test_a_home_an_older_version_left_open_is_narrowed(self, tmp_path, open_umask):
        home = tmp_path / "home"
        home.mkdir(mode=0o755)
        home.chmod(0o755)
        prepare_home(load_settings(home=home))
        assert file_mode(home) == 0o700

    def test_permissions_are_only_ever_narrowed(self, tmp_path, open_umask):
        home = tmp_path / "home"
        home.mkdir(mode=0o700)
        prepare_home(load_settings(home=home, files={"group_readable": True}))
        assert file_mode(home) == 0o700
        home.chmod(0o775)
        prepare_home(load_settings(home=home, files={"group_readable": True}))
        assert file_mode(home) == 0o750

    @pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the cluster to another user")
    def test_a_home_holding_a_cluster_run_by_the_service_user_stays_reachable(
        self, tmp_path, open_umask
    ):
        home = tmp_path / "home"
        (home / "pg").mkdir(parents=True)
        os.chown(home / "pg", 65534, 65534)
        home.chmod(0o755)
        prepare_home(load_settings(home=home))
        assert file_mode(home) == 0o755


class TestUmask:
    @pytest.fixture(autouse=True)
    def restore_umask(self) -> Iterator[None]:
        previous = os.umask(0o022)
        try:
            yield
        finally:
            os.umask(previous)

    def test_files_created_afterwards_are_private(self, tmp_path):
        assert restrict_umask(FilesSettings()) == 0o022
        (tmp_path / "later").write_text("x")
        (tmp_path / "folder").mkdir()
        assert (file_mode(tmp_path / "later"), file_mode(tmp_path / "folder")) == (0o600, 0o700)

    def test_the_shared_setting_lets_the_group_read(self, tmp_path):
        restrict_umask(FilesSettings(group_readable=True))
        (tmp_path / "later").write_text("x")
        assert file_mode(tmp_path / "later") == 0o640

    def test_a_stricter_umask_already_set_is_kept(self):
        os.umask(0o077)
        assert restrict_umask(FilesSettings(group_readable=True)) == 0o077
        assert os.umask(0o022) == 0o077


class TestInstanceLock:
    def test_a_second_holder_is_refused_with_the_first_ones_details(self, tmp_path):
        first = InstanceLock(tmp_path)
        first.acquire({"url": "http://127.0.0.1:3737"})
        try:
            with pytest.raises(Conflict, match=r"already running .*http://127.0.0.1:3737"):
                InstanceLock(tmp_path).acquire({"url": "http://127.0.0.1:4000"})
        finally:
            first.release()
        second = InstanceLock(tmp_path)
        second.acquire({"url": "x"})  # released locks can be taken again
        second.release()
