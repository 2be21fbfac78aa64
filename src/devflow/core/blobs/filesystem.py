"""Blobs as files under one folder: `sha256/<aa>/<bb>/<hex>` and `tmp/<id>` for uploads.

Files are created 0600 and folders 0700 unless the store is given other modes (0640 and 0750 for
`DEVFLOW_FILES__GROUP_READABLE`): private packages must not be readable by other local users,
however open the process umask is (a stricter one still narrows them). A blob is a hard link to
its upload's temporary file, so it keeps that file's mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from devflow.core.blobs.ports import (
    BlobInfo,
    DigestMismatch,
    Hasher,
    StoredObject,
    UploadLost,
    check_sha256,
)
from devflow.core.files import narrow

_CHUNK = 256 * 1024
_FLUSH_AT = 1024 * 1024  # buffer small writes; hash and write in a thread per MiB


class _FileWriter:
    """Hash and write each MiB in a thread while the next one arrives (one flush in flight)."""

    def __init__(
        self, store: FileBlobStore, path: Path, handle: BinaryIO, *, sha256_only: bool
    ) -> None:
        self._store = store
        self._path = path
        self._handle: BinaryIO | None = handle
        self._hasher = Hasher(sha256_only=sha256_only)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._size = 0  # bytes accepted: hashed and written, in flight, or pending
        self._inflight: asyncio.Future[None] | None = None

    @property
    def size(self) -> int:
        return self._size

    def _flush_sync(self, chunks: list[bytes]) -> None:
        assert self._handle is not None  # noqa: S101
        for chunk in chunks:  # hashlib and write() release the GIL: the event loop runs on
            self._hasher.update(chunk)
        self._handle.writelines(chunks)

    async def _settle(self) -> None:
        """Wait for the flush in flight, if any (its error, if any, is raised here)."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            await inflight

    async def _flush(self, *, wait: bool) -> None:
        await self._settle()
        if self._pending:
            chunks, self._pending, self._pending_size = self._pending, [], 0
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(None, self._flush_sync, chunks)
        if wait:
            await self._settle()

    async def write(self, data: bytes) -> None:
        if self._handle is None:
            raise RuntimeError("the upload was already committed or aborted")
        self._pending.append(data)
        self._pending_size += len(data)
        self._size += len(data)
        if self._pending_size >= _FLUSH_AT:
            await self._flush(wait=False)

    async def commit(self, *, sha256: str | None = None, size: int | None = None) -> BlobInfo:
        await self._flush(wait=True)
        try:
            md5, sha1, s256, s512 = self._hasher.check(sha256=sha256, size=size)
        except DigestMismatch:
            await self.abort()
            raise
        created = await asyncio.to_thread(self._publish, s256)
        return BlobInfo(s256, self._hasher.size, md5, sha1, s512, created)

    def _publish(self, sha256: str) -> bool:
        assert self._handle is not None  # noqa: S101
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        final = self._store.path_of(sha256)
        self._store.make_dirs(final.parent)
        try:
            os.link(self._path, final)  # atomic, and never replaces an existing blob
        except FileExistsError:
            created = False
        except FileNotFoundError:
            raise UploadLost(
                "the upload was idle past the garbage-collection grace period and its data was "
                "removed: upload again"
            ) from None
        else:
            created = True
        self._path.unlink(missing_ok=True)
        return created

    async def abort(self) -> None:
        with contextlib.suppress(Exception):
            await self._settle()  # never close the file under a thread still writing it
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
        self._path.unlink(missing_ok=True)


class FileBlobStore:
    """The default blob store: a folder under $DEVFLOW_HOME/blobs."""

    name = "filesystem"

    def __init__(self, root: Path, *, file_mode: int = 0o600, dir_mode: int = 0o700) -> None:
        self.root = root
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        # An older DevFlow left these 0755: close them (files below keep their modes, and are
        # out of reach once the folders above them are closed).
        for folder in (root, root / "sha256", root / "tmp"):
            if folder.is_dir():
                narrow(folder, dir_mode)

    def make_dirs(self, folder: Path) -> None:
        """Create `folder` and its missing parents with the store's folder mode."""
        # Path.mkdir(parents=True) would give the parents the umask's mode, not ours.
        missing: list[Path] = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another upload made it meanwhile
                path.mkdir(mode=self.dir_mode)

    def path_of(self, sha256: str) -> Path:
        """Return where a blob's file lives."""
        check_sha256(sha256)
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    async def begin(self, *, sha256_only: bool = False) -> _FileWriter:
        tmp = self.root / "tmp"
        path = tmp / uuid.uuid4().hex

        def open_tmp() -> BinaryIO:
            self.make_dirs(tmp)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            return os.fdopen(os.open(path, flags, self.file_mode), "wb")

        handle = await asyncio.to_thread(open_tmp)
        return _FileWriter(self, path, handle, sha256_only=sha256_only)

    async def size(self, sha256: str) -> int | None:
        # A stat is answered from the inode cache in microseconds: handing it to a thread would
        # cost ten times more (and it is on every blob HEAD and GET).
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def read(
        self, sha256: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            if start:
                handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = _CHUNK if remaining is None else min(_CHUNK, remaining)
                data = await asyncio.to_thread(handle.read, want)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            handle.close()

    async def read_all(self, sha256: str) -> bytes:
        # Only used for small blobs (at most 1 MiB, normally in the page cache): a thread hand-off
        # costs more than the read itself.
        return self.path_of(sha256).read_bytes()

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path_of(sha256).unlink, missing_ok=True)

    async def list_blobs(self) -> AsyncIterator[StoredObject]:
        for item in await asyncio.to_thread(lambda: list(_scan(self.root / "sha256"))):
            yield item

    async def list_temporaries(self) -> AsyncIterator[StoredObject]:
        for item in await asyncio.to_thread(lambda: list(_scan(self.root / "tmp"))):
            yield item

    async def delete_temporary(self, key: str) -> None:
        if not key.isalnum():
            raise ValueError(f"bad temporary key {key!r}")
        await asyncio.to_thread((self.root / "tmp" / key).unlink, missing_ok=True)


def _scan(folder: Path) -> Iterator[StoredObject]:
    if not folder.is_dir():
        return
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                stat = (Path(dirpath) / name).stat()
                yield StoredObject(
                    key=name,
                    size=stat.st_size,
                    modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                )
