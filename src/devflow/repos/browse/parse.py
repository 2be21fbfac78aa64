"""Parsers of git's machine-readable output: `log -z` with DevFlow's format, `diff-tree -z
--raw --numstat`, `blame --porcelain`. Names and text need not be UTF-8: undecodable bytes
become U+FFFD, never an error."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from devflow.repos.browse.schemas import BlameCommit, BlameRange, Commit, DiffFile, Person

OID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
# Fields split by US (0x1f), commits by NUL (-z); the message last, as it may hold anything else.
LOG_FORMAT = "%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B"
_STATUS = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}
Blamed = tuple[list[str], list[BlameRange], dict[str, BlameCommit]]


def text(data: bytes) -> str:
    """Decode git's bytes, undecodable ones as U+FFFD."""
    return data.decode(errors="replace")


def date(value: str) -> datetime | None:
    """Parse git's strict ISO 8601 date (None when empty or odd)."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse_log(out: bytes) -> list[Commit]:
    """Parse `git log -z --format=_LOG_FORMAT` output."""
    commits = []
    for record in text(out).split("\0"):
        if not record.strip():
            continue
        sha, parents, an, ae, ad, cn, ce, cd, message = record.lstrip("\n").split("\x1f", 8)
        epoch = datetime.fromtimestamp(0, UTC)
        message = message.rstrip("\n")
        commits.append(
            Commit(
                sha=sha,
                parents=parents.split(),
                author=Person(name=an, email=ae, date=date(ad) or epoch),
                committer=Person(name=cn, email=ce, date=date(cd) or epoch),
                subject=message.split("\n", 1)[0],
                message=message,
            )
        )
    return commits


def _sha(value: str) -> str | None:
    return None if set(value) == {"0"} else value


def _mode(value: str) -> str | None:
    return None if set(value) == {"0"} else value


def parse_raw_numstat(out: bytes) -> list[DiffFile]:
    """Parse `git diff-tree -z --raw --numstat`: the raw records, then as many numstat ones."""
    tokens = text(out).split("\0")
    files: list[DiffFile] = []
    i = 0
    while i < len(tokens) and tokens[i].startswith(":"):
        old_mode, new_mode, old_sha, new_sha, status = tokens[i][1:].split()
        letter = status[0]
        if letter in "RC":
            old_path, path = tokens[i + 1], tokens[i + 2]
            i += 3
        else:
            old_path, path = None, tokens[i + 1]
            i += 2
        files.append(
            DiffFile(
                path=path,
                old_path=old_path,
                status=_STATUS.get(letter, "modified"),
                old_mode=_mode(old_mode),
                new_mode=_mode(new_mode),
                old_sha=_sha(old_sha),
                new_sha=_sha(new_sha),
                additions=0,
                deletions=0,
                binary=False,
                patch=None,
                too_large=False,
                truncated=False,
            )
        )
    for changed in files:
        if i >= len(tokens):
            break
        added, deleted, rest = ([*tokens[i].split("\t", 2), "", ""])[:3]
        i += 1 if rest else 3  # a rename's paths follow in two tokens of their own
        if added == "-":
            changed.binary = True
        else:
            changed.additions, changed.deletions = int(added or 0), int(deleted or 0)
    return files


def parse_blame(out: bytes) -> Blamed:
    """Parse `git blame --porcelain`."""
    lines: list[str] = []
    ranges: list[BlameRange] = []
    commits: dict[str, BlameCommit] = {}
    info: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    sha, original, filename = "", 0, ""
    for raw in out.split(b"\n"):
        if raw.startswith(b"\t"):
            lines.append(text(raw[1:]))
            filename = current.get("filename", filename)
            last = ranges[-1] if ranges else None
            if (
                last is not None
                and last.commit == sha
                and last.start + last.count == len(lines)
                and last.original_start + last.count == original
                and last.original_path == filename
            ):
                last.count += 1
            else:
                ranges.append(
                    BlameRange(
                        commit=sha,
                        start=len(lines),
                        count=1,
                        original_start=original,
                        original_path=filename,
                    )
                )
            continue
        line = text(raw)
        head = line.split(" ")
        if len(head) >= 3 and OID.match(head[0]):  # noqa: PLR2004 - "<sha> <orig> <final> [n]"
            sha, original = head[0], int(head[1])
            current = info.setdefault(sha, {})
        elif line:
            key, _, value = line.partition(" ")
            current[key] = value
    for sha, fields in info.items():
        stamp = int(fields.get("author-time", "0") or 0)
        commits[sha] = BlameCommit(
            sha=sha,
            author=fields.get("author", ""),
            email=fields.get("author-mail", "").strip("<>"),
            date=datetime.fromtimestamp(stamp, UTC),
            summary=fields.get("summary", ""),
        )
    return lines, ranges, commits


__all__ = [
    "LOG_FORMAT",
    "OID",
    "Blamed",
    "date",
    "parse_blame",
    "parse_log",
    "parse_raw_numstat",
    "text",
]
