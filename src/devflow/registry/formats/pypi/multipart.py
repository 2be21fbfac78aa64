"""Streaming `multipart/form-data`: file parts go straight to the blob store, fields to memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from devflow.core.blobs import BlobStore, BlobWriter
from devflow.core.errors import Invalid
from devflow.registry.blobs import TooLarge

FIELDS_LIMIT = 4 * 1024 * 1024  # all text fields together (descriptions can be long)


@dataclass
class UploadedFile:
    """A file part, in a temporary blob not yet committed."""

    field: str
    filename: str
    writer: BlobWriter


@dataclass
class Form:
    """The parsed form: text fields (repeated names keep every value) and file parts."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """Return the first value of a field."""
        values = self.fields.get(name)
        return values[0] if values else None

    async def abort(self) -> None:
        """Drop every uncommitted file part."""
        for f in self.files:
            await f.writer.abort()


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    data: list[bytes] = field(default_factory=list)
    done: bool = False
    upload: UploadedFile | None = None


def boundary_of(content_type: str) -> bytes:
    """Return the multipart boundary of a Content-Type.

    Raises:
        Invalid: the body is not multipart/form-data.
    """
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Invalid("the upload must be multipart/form-data (as twine, uv and poetry send it)")
    return boundary


class _FormReader:
    """Collects parser callbacks (synchronous) and drains them to the store (async)."""

    def __init__(self, boundary: bytes, store: BlobStore, file_limit: int) -> None:
        self.form = Form()
        self._store = store
        self._file_limit = file_limit
        self._parts: list[_Part] = []
        self._field: list[bytes] = []
        self._value: list[bytes] = []
        self._field_bytes = 0
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self._parts.append(_Part()),
                "on_header_field": lambda d, s, e: self._field.append(d[s:e]),
                "on_header_value": lambda d, s, e: self._value.append(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": lambda d, s, e: self._parts[-1].data.append(d[s:e]),
                "on_part_end": self._part_end,
            },
        )

    def _header_end(self) -> None:
        self._parts[-1].headers[b"".join(self._field).lower()] = b"".join(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        part = self._parts[-1]
        _, params = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = params.get(b"name", b"").decode("utf-8", "replace")
        raw = params.get(b"filename")
        part.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def _part_end(self) -> None:
        self._parts[-1].done = True

    async def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise Invalid(f"malformed multipart body: {exc}") from None
        for part in self._parts:
            if part.filename is None:
                self._collect_field(part)
            else:
                await self._drain_file(part)
        self._parts = [p for p in self._parts if not p.done]

    def _collect_field(self, part: _Part) -> None:
        pending = sum(len(d) for d in part.data)
        if self._field_bytes + pending > FIELDS_LIMIT:
            raise TooLarge("the form's text fields are larger than 4 MiB")
        if part.done:
            raw = b"".join(part.data)
            self._field_bytes += len(raw)
            self.form.fields.setdefault(part.name, []).append(raw.decode("utf-8", "replace"))

    async def _drain_file(self, part: _Part) -> None:
        if part.upload is None:
            assert part.filename is not None  # noqa: S101
            part.upload = UploadedFile(part.name, part.filename, await self._store.begin())
            self.form.files.append(part.upload)
        data, part.data = b"".join(part.data), []
        if part.upload.writer.size + len(data) > self._file_limit:
            raise TooLarge(
                f"{part.filename} is larger than the limit of {self._file_limit} bytes "
                "(DEVFLOW_REGISTRY__MAX_UPLOAD_BYTES)"
            )
        if data:
            await part.upload.writer.write(data)


async def parse_form(
    body: AsyncIterator[bytes], *, content_type: str, store: BlobStore, file_limit: int
) -> Form:
    """Parse a streamed form; file parts are written to temporary blobs as they arrive.

    Raises:
        Invalid: a malformed body.
        TooLarge: a file part or the fields exceed their limit.
    """
    reader = _FormReader(boundary_of(content_type), store, file_limit)
    try:
        async for chunk in body:
            await reader.feed(chunk)
        reader.parser.finalize()
    except BaseException:
        await reader.form.abort()
        raise
    return reader.form
