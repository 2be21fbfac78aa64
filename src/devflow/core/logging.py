"""Structured logs: JSON lines off a terminal, readable lines on one; a request id on each."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

import orjson

from devflow.core.clock import now
from devflow.core.config import LogSettings

request_id_var: ContextVar[str | None] = ContextVar("devflow_request_id", default=None)

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with extra fields and the current request id."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": now().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(
            (k, v) for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")
        )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# uvicorn's server logger is named `uvicorn.error` and says "Started server process" there.
_SHOWN_AS = {"uvicorn.error": "uvicorn"}


class ConsoleFormatter(logging.Formatter):
    """Short human lines for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = request_id_var.get()
        prefix = f"[{request_id}] " if request_id else ""
        name = _SHOWN_AS.get(record.name, record.name)
        line = f"{record.levelname.lower():7} {name}: {prefix}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(settings: LogSettings) -> None:
    """Send every logger's lines to stderr in the configured format."""
    use_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # uvicorn's own handlers would print a second, unstructured copy of each line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # procrastinate narrates at INFO each periodic task it registers (once at import, again for
    # the app), each deferral and each job's start and end: on `devflow up`'s terminal that read
    # as every line twice at start, and three lines every 5 minutes from the re-embedding check.
    # A terminal at the default level gets its warnings and errors (a failed job is an error);
    # JSON logs, and a terminal at DEBUG, keep its INFO lines.
    quiet = not use_json and root.level == logging.INFO
    logging.getLogger("procrastinate").setLevel(
        logging.WARNING if quiet else max(logging.INFO, root.level)
    )
