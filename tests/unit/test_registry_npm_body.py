"""The npm publish document is read as it streams: the tarball goes to the blob store, the rest
is parsed as JSON."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import AsyncIterator

import pytest

from devflow.core.blobs import FileBlobStore
from devflow.core.errors import Invalid
from devflow.registry.blobs import TooLarge
from devflow.registry.formats.npm.body import read_publish

TARBALL = os.urandom(70_000)
README = 'Say "_attachments": {"x.tgz": {"data": "AAAA"}} and a \\ backslash, then }]'


def document(**attachments: bytes) -> dict[str, object]:
    return {
        "_id": "pkg",
        "name": "pkg",
        "readme": README,
        "versions": {"1.0.0": {"name": "pkg", "version": "1.0.0", "keywords": ["a", "b"]}},
        "_attachments": {
            name: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
            for name, data in attachments.items()
        },
    }


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.fixture
def store(tmp_path):
    return FileBlobStore(tmp_path / "blobs")


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
async def test_the_tarball_streams_to_the_store_and_the_rest_parses(store, chunk):
    sent = document(**{"pkg-1.0.0.tgz": TARBALL})
    body = json.dumps(sent).encode()
    got = await read_publish(pieces(body, chunk), store=store, limit=1 << 24, file_limit=1 << 24)
    assert got.writer is not None
    assert got.size == len(TARBALL)
    blob = await got.writer.commit(size=len(TARBALL))
    assert blob.sha256 == hashlib.sha256(TARBALL).hexdigest()
    sent["_attachments"]["pkg-1.0.0.tgz"]["data"] = ""  # type: ignore[index]
    assert got.document == sent


async def test_a_document_without_attachments_stores_nothing(store):
    body = json.dumps({"name": "pkg", "versions": {}, "readme": README}).encode()
    got = await read_publish(pieces(body, 3), store=store, limit=1 << 20, file_limit=1 << 20)
    assert got.writer is None
    assert got.document["readme"] == README


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps(document(**{"a.tgz": b"x", "b.tgz": b"y"})).encode(), "exactly one"),
        (b'{"_attachments": {"a.tgz": {"data": "!!!!"}}}', "not valid base64"),
        (b'{"_attachments": {"a.tgz": {"data": "QUJD', "ends early"),
        (b'{"name": "pkg"', "ends early"),
        (b"[1, 2]", "JSON object"),
    ],
)
async def test_bad_bodies_are_refused_and_leave_no_temporary_object(store, body, message):
    with pytest.raises(Invalid, match=message):
        await read_publish(pieces(body, 5), store=store, limit=1 << 20, file_limit=1 << 20)
    assert [obj async for obj in store.list_temporaries()] == []


async def test_a_body_over_the_limit_is_refused(store):
    body = json.dumps(document(**{"pkg-1.0.0.tgz": TARBALL})).encode()
    with pytest.raises(TooLarge):
        await read_publish(pieces(body, 4096), store=store, limit=1 << 24, file_limit=50_000)
    with pytest.raises(TooLarge):
        await read_publish(pieces(body, 4096), store=store, limit=60_000, file_limit=1 << 24)
    assert [obj async for obj in store.list_temporaries()] == []
