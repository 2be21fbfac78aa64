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
    """Create DEVFLOW_HOME with the configured folder mode, and narrow it and the filesystem
    blob store's top folders where an older DevFlow left them open (0755).

    Modes are only ever narrowed. Files already inside keep theirs: the folders above them are
    what keep other users out.
    """
    files, home = settings.files, settings.home
    home.parent.mkdir(parents=True, exist_ok=True)
    try:
        home.mkdir(mode=files.dir_mode)
    except FileExistsError:
        if not _holds_a_served_cluster(home):
            _narrow(home, files.dir_mode)
    if settings.registry.blob_backend == "filesystem":
        blobs = settings.registry.blob_dir or home / "blobs"
        for folder in (blobs, blobs / "sha256", blobs / "tmp"):
            if folder.is_dir():
                _narrow(folder, files.dir_mode)


def _narrow(folder: Path, mode: int) -> None:
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
