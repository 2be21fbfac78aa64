"""Read an npm publish document as it arrives, without holding the tarball in memory.

`npm publish` sends one JSON document whose `_attachments.<file>.data` is the tarball in
base64. The scanner below follows the JSON structure byte by byte (strings, escapes, nesting),
decodes that one string straight into a temporary blob as it streams in, and keeps the rest of
the document (manifests, readme: small) to parse normally, with `data` left empty.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from devflow.core.blobs import BlobStore, BlobWriter
from devflow.core.errors import Invalid
from devflow.registry import blobs

_OUTSIDE = re.compile(rb'["{}\[\]:,]')
_INSIDE = re.compile(rb'["\\]')
_KEY_LIMIT = 1024  # keys longer than this are kept, but not compared


@dataclass
class PublishBody:
    """A parsed publish document and, when it carried one, its attachment's bytes."""

    document: dict[str, Any]
    writer: BlobWriter | None  # the decoded attachment, in a temporary object
    size: int  # decoded bytes in `writer`


class _Scanner:
    """A JSON structure follower that diverts `_attachments.<name>.data` (a string)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.attachments = 0
        self._stack: list[list[Any]] = []  # [kind, last key, expecting a key]
        self._in_string = False
        self._escape = False
        self._is_key = False
        self._is_data = False
        self._key = bytearray()
        self._pending = b""  # base64 characters not yet a multiple of 4

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume a chunk; return the attachment bytes it decoded."""
        decoded: list[bytes] = []
        pos = 0
        while pos < len(chunk):
            if self._is_data:
                pos = self._data(chunk, pos, decoded)
            elif self._in_string:
                pos = self._string(chunk, pos)
            else:
                pos = self._structure(chunk, pos)
        return decoded

    def _data(self, chunk: bytes, pos: int, decoded: list[bytes]) -> int:
        end = chunk.find(b'"', pos)
        stop = len(chunk) if end < 0 else end
        text = self._pending + chunk[pos:stop]
        if b"\\" in text:
            raise Invalid("the attachment's data is not valid base64")
        usable = len(text) - len(text) % 4 if end < 0 else len(text)
        self._pending = text[usable:]
        if usable:
            try:
                decoded.append(base64.b64decode(text[:usable], validate=True))
            except (binascii.Error, ValueError):
                raise Invalid("the attachment's data is not valid base64") from None
        if end < 0:
            return len(chunk)
        self._is_data = self._in_string = False
        self.out += b'"'
        return end + 1

    def _string(self, chunk: bytes, pos: int) -> int:
        if self._escape:
            self._escape = False
            self._remember(chunk[pos : pos + 1])
            self.out += chunk[pos : pos + 1]
            return pos + 1
        found = _INSIDE.search(chunk, pos)
        stop = len(chunk) if found is None else found.start()
        self._remember(chunk[pos:stop])
        self.out += chunk[pos:stop]
        if found is None:
            return len(chunk)
        self.out += chunk[stop : stop + 1]
        if chunk[stop : stop + 1] == b"\\":
            self._escape = True
        else:
            self._in_string = False
            if self._is_key and self._stack:
                self._stack[-1][1] = bytes(self._key)
        return stop + 1

    def _remember(self, text: bytes) -> None:
        if self._is_key and len(self._key) < _KEY_LIMIT:
            self._key += text[: _KEY_LIMIT - len(self._key)]

    def _structure(self, chunk: bytes, pos: int) -> int:
        found = _OUTSIDE.search(chunk, pos)
        if found is None:
            self.out += chunk[pos:]
            return len(chunk)
        char = chunk[found.start() : found.start() + 1]
        self.out += chunk[pos : found.start() + 1]
        top = self._stack[-1] if self._stack else None
        if char == b'"':
            self._in_string = True
            self._is_key = top is not None and top[0] == b"{" and top[2]
            self._key.clear()
            if self._at_data(top):
                self._is_data = True
                self.attachments += 1
                if self.attachments > 1:
                    raise Invalid("a publish carries exactly one attachment")
        elif char in {b"{", b"["}:
            self._stack.append([char, None, char == b"{"])
        elif char in {b"}", b"]"}:
            if not self._stack:
                raise Invalid("the body is not valid JSON")
            self._stack.pop()
        elif char == b":" and top is not None:
            top[2] = False
        elif char == b"," and top is not None:
            top[2] = top[0] == b"{"
        return found.start() + 1

    def _at_data(self, top: list[Any] | None) -> bool:
        return (
            top is not None
            and len(self._stack) == 3  # noqa: PLR2004 - document, _attachments, one attachment
            and not top[2]
            and top[1] == b"data"
            and self._stack[0][1] == b"_attachments"
        )

    def finish(self) -> None:
        """Check that the document ended where a complete one ends."""
        if self._stack or self._in_string or self._pending:
            raise Invalid("the body is not valid JSON (it ends early)")


def parse_document(text: bytes | bytearray) -> dict[str, Any]:
    """Parse a request body that must be a JSON object.

    Raises:
        Invalid: not JSON, or not an object.
    """
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Invalid("the body must be a JSON object")
    return document


async def read_publish(
    chunks: AsyncIterator[bytes], *, store: BlobStore, limit: int, file_limit: int
) -> PublishBody:
    """Read a publish document from `chunks`, streaming its attachment into `store`.

    `limit` bounds the request body (base64 and JSON included), `file_limit` the tarball.

    Raises:
        TooLarge: the body passed `limit`.
        Invalid: not a JSON object, broken base64, or more than one attachment.
    """
    scanner = _Scanner()
    writer: BlobWriter | None = None
    received = decoded = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            blobs.check_limit(received, limit)
            for piece in scanner.feed(chunk):
                if writer is None:
                    writer = await store.begin()
                decoded += len(piece)
                blobs.check_limit(decoded, file_limit)
                await writer.write(piece)
        scanner.finish()
        document = parse_document(scanner.out)
    except BaseException:
        if writer is not None:
            await writer.abort()
        raise
    if writer is None and scanner.attachments:  # an empty attachment
        writer = await store.begin()
    return PublishBody(document, writer, decoded)
