import json
import logging
import stat

import pytest

from devflow.core.config import LogSettings
from devflow.core.credentials import Credentials, read_credentials, write_credentials
from devflow.core.embedded_pg import InstanceLock
from devflow.core.errors import Conflict, Invalid
from devflow.core.logging import JsonFormatter, request_id_var


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
