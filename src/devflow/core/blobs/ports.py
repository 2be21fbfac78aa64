"""The blob store contract: content-addressed (SHA-256), streamed in, committed after checks.

Every domain that keeps files (the registry's packages; CI artifacts and uploads next) stores them
through the process's one store (`BLOB_STORE`). What a blob means, and when it may go, is the
business of the rows that reference it: garbage collection is still the registry's, which sweeps
every object its `registry_blob` table does not know, so a second user of the store must record
its blobs there (or GC must learn of its references) before it goes live (decision 0005).

A blob is written to a temporary object first; `commit` checks the digest and size the caller
expected and only then makes it visible under `sha256/<aa>/<bb>/<hex>`. An existing blob is never
overwritten (its content is, by its name, the same). Temporary objects of crashed uploads stay in
the temporary area until garbage collection removes them after the grace period.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from devflow.core.errors import Invalid
from devflow.core.services import Key

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobInfo:
    """A committed blob with every digest a client may ask for ("" when not computed yet)."""

    sha256: str
    size: int
    md5: str
    sha1: str
    sha512: str
    created: bool  # False when an identical blob was already stored (deduplicated)


@dataclass(frozen=True)
class StoredObject:
    """An object found while listing the store (for garbage collection)."""

    key: str  # the sha256 hex of a blob, or the id of a temporary object
    size: int
    modified_at: datetime


class DigestMismatch(Invalid):
    """The uploaded bytes do not have the digest or size the client declared."""


class UploadLost(Invalid):
    """The upload's temporary object is gone (garbage collection took it as abandoned)."""


class Hasher:
    """md5, sha1, sha256 and sha512 of a stream, computed once as it passes.

    With `sha256_only` (OCI, whose clients only ask for sha256) the other three are left empty
    ("not computed yet"): they cost about four times sha256 on the request path, and a job
    fills them in the blob's row afterwards.
    """

    def __init__(self, *, sha256_only: bool = False) -> None:
        self._sha256 = hashlib.sha256()
        self._others = (
            []
            if sha256_only
            else [
                hashlib.md5(usedforsecurity=False),
                hashlib.sha1(usedforsecurity=False),
                hashlib.sha512(),
            ]
        )
        self.size = 0

    def update(self, data: bytes) -> None:
        """Add bytes."""
        self._sha256.update(data)
        for h in self._others:
            h.update(data)
        self.size += len(data)

    def check(self, *, sha256: str | None, size: int | None) -> tuple[str, str, str, str]:
        """Return (md5, sha1, sha256, sha512) hex digests after checking the expectations.

        md5, sha1 and sha512 are empty strings for a `sha256_only` hasher.

        Raises:
            DigestMismatch: naming what was expected and what arrived.
        """
        s256 = self._sha256.hexdigest()
        md5, sha1, s512 = (h.hexdigest() for h in self._others) if self._others else ("", "", "")
        if size is not None and size != self.size:
            raise DigestMismatch(
                f"size mismatch: {self.size} bytes arrived but {size} were announced "
                "(truncated upload?)"
            )
        if sha256 is not None and sha256.lower() != s256:
            raise DigestMismatch(
                f"digest mismatch: the upload's sha256 is {s256} but {sha256} was announced"
            )
        return md5, sha1, s256, s512


class BlobWriter(Protocol):
    """A temporary object receiving one upload."""

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    async def write(self, data: bytes) -> None:
        """Append bytes."""
        ...

    async def commit(self, *, sha256: str | None = None, size: int | None = None) -> BlobInfo:
        """Check the digest and size, then publish the blob under its SHA-256.

        Raises:
            DigestMismatch: the bytes are not what was announced (the temporary object is removed).
        """
        ...

    async def abort(self) -> None:
        """Drop the temporary object (idempotent)."""
        ...


class BlobStore(Protocol):
    """Where blobs live: a folder (`FileBlobStore`) or an S3 bucket (`S3BlobStore`)."""

    name: str

    async def begin(self, *, sha256_only: bool = False) -> BlobWriter:
        """Start a temporary object for an upload (`sha256_only`: see `Hasher`)."""
        ...

    async def size(self, sha256: str) -> int | None:
        """Return the blob's size, or None when it is not stored."""
        ...

    def read(self, sha256: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes `start`..`end` (inclusive; None: to the end) of a blob."""
        ...

    async def read_all(self, sha256: str) -> bytes:
        """Return a (small) blob whole."""
        ...

    async def delete(self, sha256: str) -> None:
        """Remove a blob (garbage collection only)."""
        ...

    def list_blobs(self) -> AsyncIterator[StoredObject]:
        """List every committed blob."""
        ...

    def list_temporaries(self) -> AsyncIterator[StoredObject]:
        """List temporary objects (uploads in flight or abandoned)."""
        ...

    async def delete_temporary(self, key: str) -> None:
        """Remove a temporary object."""
        ...


def check_sha256(value: str) -> str:
    """Return `value` if it is a lower-case SHA-256 hex digest.

    Raises:
        Invalid: it is not.
    """
    if not SHA256_RE.match(value):
        raise Invalid(f"{value!r} is not a sha256 hex digest")
    return value


BLOB_STORE: Key[BlobStore] = Key("blob store")
"""The process's blob store (`services.get(BLOB_STORE)`), as `DEVFLOW_BLOBS__…` chooses it."""
