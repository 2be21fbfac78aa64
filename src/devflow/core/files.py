"""Permissions of what DevFlow writes under DEVFLOW_HOME: the credentials file, the blobs of
private packages, logs. Private to DevFlow's user by default (see `FilesSettings`)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from devflow.core.config import FilesSettings, Settings

log = logging.getLogger(__name__)


def restrict_umask(files: FilesSettings) -> int:
    """Narrow the process umask so that what this process and its children create is private
    (or group-readable with `files.group_readable`); return the previous umask.

    A stricter umask already in place is kept.
    """
    previous = os.umask(files.umask)
    os.umask(previous | files.umask)
    return previous


def prepare_home(settings: Settings) -> None:
    """Create DEVFLOW_HOME with the configured folder mode, and narrow it where an older DevFlow
    left it open (0755); the domains narrow their own folders (the blob store its tree).

    Modes are only ever narrowed. Files already inside keep theirs: the folders above them are
    what keep other users out.
    """
    files, home = settings.files, settings.home
    home.parent.mkdir(parents=True, exist_ok=True)
    try:
        home.mkdir(mode=files.dir_mode)
    except FileExistsError:
        if not _holds_a_served_cluster(home):
            narrow(home, files.dir_mode)


def narrow(folder: Path, mode: int) -> None:
    """Take away the permissions `folder` has beyond `mode` (never adds one); a folder of
    another user is left as it is, with a warning naming the command that fixes it."""
    current = stat.S_IMODE(folder.stat().st_mode)
    if current & ~mode:
        try:
            folder.chmod(current & mode)
        except PermissionError:
            log.warning(
                "cannot narrow the permissions of %s (mode %o): it belongs to another user; "
                "run `chmod %o %s` as its owner",
                folder,
                current,
                current & mode,
                folder,
            )


def _holds_a_served_cluster(home: Path) -> bool:
    """Whether the embedded PostgreSQL's service user (DevFlow run as root) keeps its cluster
    in `home`: narrowing the home would lock it out of its own data."""
    cluster = home / "pg"
    if cluster.is_symlink() or not cluster.is_dir() or cluster.stat().st_uid == os.geteuid():
        return False
    log.warning(
        "%s is left as it is: PostgreSQL's service user reaches its cluster %s through it",
        home,
        cluster,
    )
    return True
