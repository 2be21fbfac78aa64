"""Compact output for agents: short Markdown, opaque cursors and a hard size cap.

Every tool answer goes through `cap()`, so no call can flood an agent's context (Archon's
`list_projects` once answered with 180k tokens).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime

from devflow.core.errors import Invalid

_CURSOR_PREFIX = "o:"


def cap(text: str, limit: int) -> str:
    """Return `text` cut to `limit` characters at a line break, saying that it was cut."""
    if len(text) <= limit:
        return text
    note = f"\n… [cut at {limit} characters: ask for less, or page with the cursor]"
    head = text[: max(0, limit - len(note))]
    newline = head.rfind("\n")
    if newline > len(head) // 2:
        head = head[:newline]
    return head + note


def encode_cursor(offset: int) -> str:
    """Return the opaque cursor that resumes a listing at `offset`."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Return the offset a cursor stands for (0 for none).

    Raises:
        Invalid: the cursor was not handed out by this server.
    """
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(_CURSOR_PREFIX) and int(raw[len(_CURSOR_PREFIX) :]) >= 0:
            return int(raw[len(_CURSOR_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Invalid("invalid cursor: pass the `cursor` value from the previous answer unchanged")


def more(next_offset: int | None) -> str:
    """Return the trailing line that tells an agent how to get the next page ('' when done)."""
    if next_offset is None:
        return ""
    return f"\nMore: cursor={encode_cursor(next_offset)}"


def when(value: datetime | None) -> str:
    """Return a timestamp to the minute (agents need no microseconds)."""
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def fields(pairs: Iterable[tuple[str, object]]) -> str:
    """Return `key: value` lines, skipping empty values."""
    return "\n".join(f"{k}: {v}" for k, v in pairs if v not in (None, "", [], {}))


def one_line(text: str, width: int = 160) -> str:
    """Return `text` on one line, shortened to `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def pace(
    done: int, total: int | None, unit: str | None, rate: float | None, eta: float | None
) -> str:
    """Return a job phase's figures as people read them: `120/9,143 chunks, 4.1/s, ETA 36:50`
    (leave `eta` None once the job has ended)."""
    unit = unit or ""
    parts = [(f"{done:,}/{total:,} {unit}" if total else f"{done:,} {unit}").strip()]
    if rate:
        parts.append(f"{rate:,.1f}/s")
    if eta is not None:
        parts.append(f"ETA {duration(eta)}")
    return ", ".join(parts)


def duration(seconds: float) -> str:
    """Return a length of time as a clock reads it: `36:50`, `2:30:00`."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
