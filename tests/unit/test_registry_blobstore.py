"""Blob stores (filesystem, and S3 against moto's server over HTTP) and protocol helpers."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import boto3
import httpx
import pytest

from devflow.core.auth import token_from_authorization
from devflow.core.blobs import BlobStore, DigestMismatch, FileBlobStore, UploadLost
from devflow.core.blobs.s3 import PART_SIZE, S3BlobStore
from devflow.core.embedded_pg import free_port
from devflow.core.errors import Invalid, Unauthenticated
from devflow.core.protocol import parse_range
from devflow.registry.formats.npm.names import parse_path
from devflow.registry.formats.pypi.index import HTML_TYPE, JSON_TYPE, NotAcceptable, negotiate
from devflow.registry.formats.pypi.names import normalize, parse_filename
from tests.factories import file_mode


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """Run moto's S3 server as a real HTTP server on a free port."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "filesystem":
        return FileBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("moto")
    bucket = f"b{os.urandom(4).hex()}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)
    return S3BlobStore(
        bucket=bucket,
        prefix="devflow/",
        endpoint_url=endpoint,
        access_key_id="test",
        secret_access_key="test",
    )


async def put(store: BlobStore, data: bytes, chunk: int = 7000, **expect):
    writer = await store.begin()
    for start in range(0, len(data), chunk):
        await writer.write(data[start : start + chunk])
    return await writer.commit(**expect)


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in stream])


class TestBlobStore:
    async def test_a_streamed_blob_is_stored_under_its_sha256_with_every_digest(self, store):
        data = os.urandom(100_000)
        info = await put(store, data, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert info.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert info.sha1 == hashlib.sha1(data, usedforsecurity=False).hexdigest()
        assert info.sha512 == hashlib.sha512(data).hexdigest()
        assert info.created is True
        assert await store.size(info.sha256) == len(data)
        assert await store.read_all(info.sha256) == data
        assert [o.key async for o in store.list_blobs()] == [info.sha256]
        assert [o async for o in store.list_temporaries()] == []

    async def test_a_sha256_only_upload_leaves_the_other_digests_for_later(self, store):
        data = os.urandom(300_000)
        writer = await store.begin(sha256_only=True)
        await writer.write(data)
        info = await writer.commit(sha256=hashlib.sha256(data).hexdigest())
        assert (info.md5, info.sha1, info.sha512) == ("", "", "")
        assert await store.read_all(info.sha256) == data

    async def test_an_upload_whose_temporary_was_collected_is_lost_not_a_crash(self, store):
        if store.name != "filesystem":
            pytest.skip("an S3 upload in progress is a multipart upload, not a listed temporary")
        data = os.urandom(10_000)
        writer = await store.begin()
        await writer.write(data)
        for obj in [o async for o in store.list_temporaries()]:
            await store.delete_temporary(obj.key)
        with pytest.raises(UploadLost, match="upload again"):
            await writer.commit(sha256=hashlib.sha256(data).hexdigest())
        assert await store.size(hashlib.sha256(data).hexdigest()) is None

    async def test_identical_content_is_stored_once(self, store):
        data = b"same bytes" * 1000
        first = await put(store, data)
        second = await put(store, data)
        assert (first.created, second.created) == (True, False)
        assert [o.key async for o in store.list_blobs()] == [first.sha256]

    async def test_a_digest_mismatch_commits_nothing(self, store):
        with pytest.raises(DigestMismatch, match="digest mismatch"):
            await put(store, b"payload", sha256="0" * 64)
        assert [o async for o in store.list_blobs()] == []
        assert [o async for o in store.list_temporaries()] == []

    async def test_a_short_upload_is_a_size_mismatch(self, store):
        with pytest.raises(DigestMismatch, match="truncated"):
            await put(store, b"short", size=10)
        assert [o async for o in store.list_blobs()] == []

    async def test_range_reads(self, store):
        data = bytes(range(256)) * 2000
        info = await put(store, data)
        assert await collect(store.read(info.sha256, start=1000, end=1999)) == data[1000:2000]
        assert await collect(store.read(info.sha256, start=len(data) - 5)) == data[-5:]

    async def test_a_large_upload_streams_in_parts(self, store):
        data = os.urandom(PART_SIZE + 1_500_000)
        info = await put(store, data, chunk=1 << 20, size=len(data))
        assert await store.size(info.sha256) == len(data)
        assert hashlib.sha256(await store.read_all(info.sha256)).hexdigest() == info.sha256

    async def test_an_abandoned_upload_is_a_temporary_until_removed(self, store):
        writer = await store.begin()
        await writer.write(os.urandom(PART_SIZE + 10))  # large enough to reach S3 as a part
        await writer.write(b"more")
        temporaries = [o async for o in store.list_temporaries()]
        assert len(temporaries) == 1
        await store.delete_temporary(temporaries[0].key)
        assert [o async for o in store.list_temporaries()] == []
        assert [o async for o in store.list_blobs()] == []
        await writer.abort()  # the crashed process's handle; nothing is left to remove

    async def test_abort_removes_the_temporary(self, store):
        writer = await store.begin()
        await writer.write(os.urandom(PART_SIZE + 10))
        await writer.abort()
        assert [o async for o in store.list_temporaries()] == []

    async def test_delete(self, store):
        info = await put(store, b"to be collected")
        await store.delete(info.sha256)
        assert await store.size(info.sha256) is None

    async def test_names_that_are_not_digests_are_refused(self, store):
        with pytest.raises(Invalid):
            await store.size("../../etc/passwd")


class TestFilePermissions:
    def test_folders_an_older_version_left_open_are_narrowed_and_files_inside_kept(
        self, tmp_path, open_umask
    ):
        root = tmp_path / "blobs"
        blob = root / "sha256" / "ab" / "cd" / ("abcd" + "0" * 60)
        blob.parent.mkdir(parents=True, mode=0o755)
        (root / "tmp").mkdir(mode=0o755)
        blob.write_bytes(b"old")
        blob.chmod(0o644)
        for folder in (root, root / "sha256"):
            folder.chmod(0o755)
        FileBlobStore(root)
        assert [file_mode(f) for f in (root, root / "sha256", root / "tmp")] == [0o700] * 3
        assert file_mode(blob) == 0o644  # unreachable now; documented in docs/deployment.md

    async def test_a_published_blob_and_its_folders_are_private_to_the_owner(
        self, tmp_path, open_umask
    ):
        store = FileBlobStore(tmp_path / "blobs")
        writer = await store.begin()
        await writer.write(b"a private package")
        (upload,) = (store.root / "tmp").iterdir()
        assert file_mode(upload) == 0o600
        info = await writer.commit()
        blob = store.path_of(info.sha256)
        assert file_mode(blob) == 0o600
        folders = [blob.parent, blob.parent.parent, store.root / "sha256", store.root / "tmp"]
        assert [file_mode(f) for f in [*folders, store.root]] == [0o700] * 5

    async def test_a_shared_store_is_readable_by_the_group_and_no_one_else(
        self, tmp_path, open_umask
    ):
        store = FileBlobStore(tmp_path / "data" / "blobs", file_mode=0o640, dir_mode=0o750)
        info = await put(store, b"shared")
        blob = store.path_of(info.sha256)
        assert file_mode(blob) == 0o640
        assert {file_mode(f) for f in (blob.parent, store.root, tmp_path / "data")} == {0o750}


class TestProtocolHelpers:
    @pytest.mark.parametrize(
        ("header", "token"),
        [
            ("Bearer dfl_abc", "dfl_abc"),
            ("Basic " + base64.b64encode(b"__token__:dfl_xyz").decode(), "dfl_xyz"),
            ("Basic " + base64.b64encode(b"dfl_only:").decode(), "dfl_only"),
            (None, None),
        ],
    )
    def test_tokens_in_each_clients_wire_form(self, header, token):
        assert token_from_authorization(header) == token

    @pytest.mark.parametrize("header", ["Digest abc", "Basic !!!", "Token x"])
    def test_other_authorization_forms_are_refused(self, header):
        with pytest.raises(Unauthenticated):
            token_from_authorization(header)

    @pytest.mark.parametrize(
        ("accept", "chosen"),
        [
            (None, HTML_TYPE),
            ("application/vnd.pypi.simple.v1+json, text/html; q=0.01", JSON_TYPE),
            ("application/vnd.pypi.simple.latest+json", JSON_TYPE),
            ("text/html", HTML_TYPE),
            ("application/vnd.pypi.simple.v1+json;q=0.1, text/html", HTML_TYPE),
        ],
    )
    def test_content_negotiation(self, accept, chosen):
        assert negotiate(accept, None) == chosen

    def test_nothing_acceptable_is_406(self):
        with pytest.raises(NotAcceptable):
            negotiate("application/xml", None)
        with pytest.raises(NotAcceptable):
            negotiate(None, "text/plain")

    @pytest.mark.parametrize(
        ("name", "normal"), [("Foo.Bar_baz", "foo-bar-baz"), ("a--b__c", "a-b-c")]
    )
    def test_normalization(self, name, normal):
        assert normalize(name) == normal

    def test_distribution_file_names(self):
        name, version, kind = parse_filename("Foo_Bar-1.0.post1-py3-none-any.whl")
        assert (name, str(version), kind) == ("foo-bar", "1.0.post1", "bdist_wheel")
        for bad in ("../x-1.0.tar.gz", "x-1.0.exe", "x.whl", "a\\b-1.0.zip"):
            with pytest.raises(Invalid):
                parse_filename(bad)

    def test_npm_paths(self):
        route = parse_path("@scope/pkg/-/pkg-1.0.0.tgz")
        assert (route.name, route.rest) == ("@scope/pkg", ["-", "pkg-1.0.0.tgz"])
        for bad in ("../etc/passwd", "@scope", "Upper", "pkg/../x"):
            with pytest.raises(Invalid):
                parse_path(bad)

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            (None, None),
            ("bytes=0-9", (0, 9)),
            ("bytes=5-", (5, 99)),
            ("bytes=-10", (90, 99)),
            ("bytes=50-500", (50, 99)),
            ("bytes=100-", False),
            ("bytes=0-1,5-6", None),
        ],
    )
    def test_range_parsing(self, header, expected):
        assert parse_range(header, 100) == expected
