"""Blobs in an S3-compatible bucket (AWS, MinIO, Ceph, moto) through boto3.

Uploads of up to one part are hashed in memory and put once, after the check; larger ones stream
as a multipart upload to `tmp/<id>` and are copied to `sha256/<aa>/<bb>/<hex>` after the check.
boto3 is synchronous, so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from devflow.core.blobs.ports import BlobInfo, DigestMismatch, Hasher, StoredObject, check_sha256

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_SIZE = 8 * 1024 * 1024
_READ_CHUNK = 256 * 1024


class _S3Writer:
    def __init__(self, store: S3BlobStore, key: str, *, sha256_only: bool) -> None:
        self._store = store
        self._key = key
        self._hasher = Hasher(sha256_only=sha256_only)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    @property
    def size(self) -> int:
        return self._hasher.size

    async def write(self, data: bytes) -> None:
        if self._done:
            raise RuntimeError("the upload was already committed or aborted")
        self._hasher.update(data)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= PART_SIZE:
            await self._send_part()

    async def _send_part(self) -> None:
        data = b"".join(self._buffer)
        self._buffer, self._buffered = [], 0
        s3, bucket, key = self._store.client, self._store.bucket, self._store.key(self._key)
        if self._upload_id is None:
            started = await asyncio.to_thread(s3.create_multipart_upload, Bucket=bucket, Key=key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        answer = await asyncio.to_thread(
            s3.upload_part,
            Bucket=bucket,
            Key=key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})

    async def commit(self, *, sha256: str | None = None, size: int | None = None) -> BlobInfo:
        try:
            md5, sha1, s256, s512 = self._hasher.check(sha256=sha256, size=size)
        except DigestMismatch:
            await self.abort()
            raise
        s3, bucket = self._store.client, self._store.bucket
        final = self._store.blob_key(s256)
        created = await self._store.size(s256) is None
        if self._upload_id is None:
            body = b"".join(self._buffer)
            if created:
                await asyncio.to_thread(s3.put_object, Bucket=bucket, Key=final, Body=body)
        else:
            if self._buffer:
                await self._send_part()
            tmp = self._store.key(self._key)
            await asyncio.to_thread(
                s3.complete_multipart_upload,
                Bucket=bucket,
                Key=tmp,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
            )
            self._upload_id = None
            if created:  # a same-digest blob is the same bytes: nothing to copy
                await asyncio.to_thread(s3.copy, {"Bucket": bucket, "Key": tmp}, bucket, final)
            await asyncio.to_thread(s3.delete_object, Bucket=bucket, Key=tmp)
        self._done = True
        self._buffer = []
        return BlobInfo(s256, self._hasher.size, md5, sha1, s512, created)

    async def abort(self) -> None:
        self._done = True
        self._buffer = []
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                await asyncio.to_thread(
                    self._store.client.abort_multipart_upload,
                    Bucket=self._store.bucket,
                    Key=self._store.key(self._key),
                    UploadId=upload_id,
                )
            except ClientError as exc:  # already collected: nothing left to remove
                if exc.response.get("Error", {}).get("Code") not in {"NoSuchUpload", "404"}:
                    raise


class S3BlobStore:
    """Blobs in an S3 bucket, for installs that outgrow one machine's disk."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def key(self, tmp_id: str) -> str:
        """Return the object key of a temporary upload."""
        return f"{self.prefix}tmp/{tmp_id}"

    def blob_key(self, sha256: str) -> str:
        """Return the object key of a blob."""
        check_sha256(sha256)
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    async def begin(self, *, sha256_only: bool = False) -> _S3Writer:
        return _S3Writer(self, uuid.uuid4().hex, sha256_only=sha256_only)

    async def size(self, sha256: str) -> int | None:
        try:
            head = await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=self.blob_key(sha256)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return int(head["ContentLength"])

    async def read(
        self, sha256: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self.blob_key(sha256)
        if start or end is not None:
            byte_range = f"bytes={start}-{'' if end is None else end}"
            answer = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=key, Range=byte_range
            )
        else:
            answer = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=key)
        body = answer["Body"]
        try:
            while True:
                data = await asyncio.to_thread(body.read, _READ_CHUNK)
                if not data:
                    break
                yield data
        finally:
            body.close()

    async def read_all(self, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in self.read(sha256)])

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=self.blob_key(sha256)
        )

    async def _list(self, prefix: str) -> AsyncIterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = await asyncio.to_thread(
            lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"].rsplit("/", 1)[-1],
                    size=int(item["Size"]),
                    modified_at=item["LastModified"],
                )

    def list_blobs(self) -> AsyncIterator[StoredObject]:
        return self._list("sha256/")

    async def list_temporaries(self) -> AsyncIterator[StoredObject]:
        async for item in self._list("tmp/"):
            yield item
        uploads = await asyncio.to_thread(
            self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=self.prefix + "tmp/"
        )
        for upload in uploads.get("Uploads", []):
            yield StoredObject(
                key=upload["Key"].rsplit("/", 1)[-1], size=0, modified_at=upload["Initiated"]
            )

    async def delete_temporary(self, key: str) -> None:
        if not key.isalnum():
            raise ValueError(f"bad temporary key {key!r}")
        full = self.key(key)
        uploads = await asyncio.to_thread(
            self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=full
        )
        for upload in uploads.get("Uploads", []):
            await asyncio.to_thread(
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=full,
                UploadId=upload["UploadId"],
            )
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=full)
