"""A pytest plugin (tests/conftest.py lists it): no secret value the tests made
(`tests/secret_values.py`) may appear in a log record, in an event, job or audit record of a
test database, or in what a `devflow up` server printed or logged. Whatever is found is
collected while the suite runs and fails the session at its end, saying where.

Logs are watched through the log record factory, not a handler on the root logger:
`configure_logging` (every in-process CLI run, every server worker) replaces the root's
handlers, which would leave such a handler deaf for the rest of the session. The factory sees
each record a logger emits, whatever becomes of its handlers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.secret_values import MARKER, leaked


@dataclass(frozen=True)
class Leak:
    """A secret value found where none may be."""

    where: str
    value: str


LEAKS: list[Leak] = []
"""What the suite has found so far."""

_FORMATTER = logging.Formatter()


def scan_record(record: logging.LogRecord) -> Leak | None:
    """The leak in a log record's message or exception text, if any."""
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + _FORMATTER.formatException(record.exc_info)
    elif record.exc_text:
        text += "\n" + record.exc_text
    value = leaked(text)
    if value is None:
        return None
    return Leak(f"log record of {record.name!r} ({record.pathname}:{record.lineno})", value)


class LeakWatch:
    """A log record factory that makes records as `previous` does and reports each leak."""

    def __init__(
        self, previous: Callable[..., logging.LogRecord], sink: Callable[[Leak], None]
    ) -> None:
        self.previous = previous
        self.sink = sink

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            leak = scan_record(record)
        except Exception:  # noqa: BLE001 - a record that does not format is not ours to judge
            return record
        if leak is not None:
            self.sink(leak)
        return record


def scan_text(text: str, where: str) -> list[Leak]:
    """The leaks in `text` (a server's output, a log file), one per line that holds one."""
    if leaked(text) is None:  # the common case: one search over the whole text
        return []
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        value = leaked(line)
        if value is not None:
            found.append(Leak(f"{where}, line {number}", value))
    return found


# Where DevFlow writes what others read: events, job arguments and progress, audit records.
# Values the tests make carry MARKER; PostgreSQL matches it with its own regular expressions.
_DATABASE_SCAN = """
SELECT 'event ' || id || ' (' || type || ')' FROM event WHERE payload::text ~ %(marker)s
UNION ALL
SELECT 'job_progress of job ' || job_id FROM job_progress AS p
 WHERE row_to_json(p)::text ~ %(marker)s
UNION ALL
SELECT 'procrastinate job ' || id || ' (' || task_name || ')' FROM procrastinate_jobs
 WHERE args::text ~ %(marker)s
UNION ALL
SELECT 'secrets_audit ' || seq || ' (' || action || ')' FROM secrets_audit AS a
 WHERE row_to_json(a)::text ~ %(marker)s
"""


def scan_database(url: str, where: str) -> list[Leak]:
    """The rows of a test database that hold a generated secret value."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(_DATABASE_SCAN, {"marker": MARKER}).fetchall()
    return [Leak(f"database {where}: {row[0]}", "a generated value") for row in rows]


def scan_server(home: Path, output: str | None) -> list[Leak]:
    """What a `devflow up` with DEVFLOW_HOME `home` printed, and the log files it keeps."""
    found = scan_text(output or "", f"output of devflow up ({home})")
    for path in sorted((home / "logs").glob("*.log")):
        found += scan_text(path.read_text(errors="replace"), str(path))
    return found


def report(leaks: list[Leak]) -> None:
    """Add `leaks` to what fails the session."""
    LEAKS.extend(leaks)


def check_database(url: str, where: str) -> None:
    """Scan a test database about to be dropped (one that cannot be read is skipped)."""
    with contextlib.suppress(psycopg.Error):
        report(scan_database(url, where))


def pytest_configure(config: pytest.Config) -> None:
    del config
    current = logging.getLogRecordFactory()
    if not isinstance(current, LeakWatch):
        logging.setLogRecordFactory(LeakWatch(current, LEAKS.append))


def pytest_unconfigure(config: pytest.Config) -> None:
    del config
    current = logging.getLogRecordFactory()
    if isinstance(current, LeakWatch):
        logging.setLogRecordFactory(current.previous)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    del exitstatus
    if not LEAKS:
        return
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{leak.where}: {leak.value}" for leak in dict.fromkeys(LEAKS)]
    if terminal is not None:
        terminal.write_line("")
        terminal.write_sep("=", "secret values leaked (tests/leak_scan.py)", red=True)
        for line in lines:
            terminal.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
