"""The suite-wide scan for leaked secret values (tests/leak_scan.py) finds what it looks for.

These tests call the scanners directly with values they make and never let one reach a real
log record or a database that is dropped: the session-wide scan would rightly fail the run.
"""

from __future__ import annotations

import logging
import sys

import psycopg

from tests import leak_scan
from tests.secret_values import leaked, register, secret_value


def _record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    # Made with the constructor, not a logger: the session's record factory never sees it.
    return logging.LogRecord("devflow.x", logging.ERROR, __file__, 7, message, args, exc_info)


class TestValues:
    def test_a_generated_value_carries_the_marker_and_is_found_inside_text(self):
        value = secret_value("db-")
        assert leaked(f"connecting with password={value}; ok") == value.removeprefix("db-")
        assert leaked("dfsv-not-hex-at-all and dfsv-0123") is None

    def test_a_registered_value_without_the_marker_is_found_too(self):
        value = register("plain-registered-Qx7!vW")
        assert leaked(f"token {value}") == value
        assert leaked("token plain-registered") is None


class TestLogRecords:
    def test_a_value_in_the_message_or_its_arguments_is_reported_with_its_origin(self):
        value = secret_value()
        for record in (_record(f"set {value}"), _record("set %s", value)):
            leak = leak_scan.scan_record(record)
            assert leak is not None
            assert leak.value == value
            assert "'devflow.x'" in leak.where
            assert f"{__file__}:7" in leak.where
        assert leak_scan.scan_record(_record("set %s", "nothing secret")) is None

    def test_a_value_in_the_exception_text_is_reported(self):
        value = secret_value()
        try:
            int(f"bad value {value}")
        except ValueError:
            record = _record("it failed", exc_info=sys.exc_info())
        leak = leak_scan.scan_record(record)
        assert leak is not None
        assert leak.value == value

    def test_the_watch_makes_records_as_before_and_sends_leaks_to_its_sink(self):
        value = secret_value()
        found: list[leak_scan.Leak] = []
        watch = leak_scan.LeakWatch(logging.LogRecord, found.append)
        clean = watch("devflow.x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
        assert clean.getMessage() == "hello there"
        watch("devflow.x", logging.INFO, __file__, 2, "hello %s", (value,), None)
        assert [leak.value for leak in found] == [value]
        broken = watch("devflow.x", logging.INFO, __file__, 3, "%d", ("not a number",), None)
        assert isinstance(broken, logging.LogRecord)  # a bad format is the logger's to report
        assert len(found) == 1

    def test_the_session_watches_every_log_record(self):
        watch = logging.getLogRecordFactory()
        assert isinstance(watch, leak_scan.LeakWatch)
        assert watch.sink == leak_scan.LEAKS.append


class TestTextAndDatabases:
    def test_server_output_and_log_files_are_scanned_line_by_line(self, tmp_path):
        value = secret_value()
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "postgres.log").write_text(f"LOG: a\nERROR: {value}\n")
        found = leak_scan.scan_server(tmp_path, f"started\nset {value}\n")
        assert [(leak.where.rsplit(", ", 1)[1], leak.value) for leak in found] == [
            ("line 2", value),
            ("line 2", value),
        ]
        assert "output of devflow up" in found[0].where
        assert "postgres.log" in found[1].where
        assert leak_scan.scan_server(tmp_path / "none", "quiet\n") == []

    def test_events_jobs_and_audit_records_are_scanned(self, db_url):
        value = secret_value()
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO event (created_at, type, payload) VALUES (now(), 'secret.x', %s)",
                (psycopg.types.json.Jsonb({"name": "X", "oops": value}),),
            )
            conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                "VALUES ('default', 'tests:x', %s)",
                (psycopg.types.json.Jsonb({"token": value}),),
            )
            found = leak_scan.scan_database(db_url, "t")
            # Out again before the fixture drops (and scans) the database.
            conn.execute("DELETE FROM event WHERE type = 'secret.x'")
            conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'tests:x'")
        assert sorted(leak.where.split(": ", 1)[1].split(" ")[0] for leak in found) == [
            "event",
            "procrastinate",
        ]
        assert leak_scan.scan_database(db_url, "t") == []
