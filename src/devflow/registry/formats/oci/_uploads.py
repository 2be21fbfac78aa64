"""Blobs and blob uploads: GET/HEAD/DELETE, monolithic and chunked uploads, mounts."""

from __future__ import annotations

import time
import uuid

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from devflow.core.auth import Principal
from devflow.core.blobs import BlobWriter, DigestMismatch, UploadLost
from devflow.registry import access, blobs, digests
from devflow.registry.formats.oci._common import (
    CONTENT_RANGE_RE,
    UPLOAD_IDLE_SECONDS,
    OciError,
    error_response,
    find_repository,
    has_blob,
    headers_of,
    link_blob,
    may_push,
    parse_digest,
    repo_for_push,
    repo_for_read,
)
from devflow.registry.http import blob_response, runtime, upload_limit
from devflow.registry.models import (
    OciBlobLink,
    PackageFile,
    Repository,
)
from devflow.registry.runtime import PendingUpload

# -- upload sessions ------------------------------------------------------------------------------


def _uploads(request: Request) -> dict[str, PendingUpload]:
    return runtime(request).uploads


async def _expire_uploads(uploads: dict[str, PendingUpload]) -> None:
    """Drop uploads idle for longer than `UPLOAD_IDLE_SECONDS` (their temporaries go too)."""
    cutoff = time.monotonic() - UPLOAD_IDLE_SECONDS
    for key in [k for k, u in uploads.items() if u.touched < cutoff]:
        upload = uploads.pop(key)
        await upload.writer.abort()


# -- blobs ----------------------------------------------------------------------------------------


async def get_blob(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    sha256 = parse_digest(rest[0])
    repo = await repo_for_read(request, session, principal, name)
    if not await has_blob(session, repo, sha256):
        raise OciError("BLOB_UNKNOWN", f"blob {rest[0]} is not in {name}", http_status=404)
    stored = await runtime(request).store.size(sha256)
    if stored is None:
        raise OciError("BLOB_UNKNOWN", f"blob {rest[0]} is missing from storage", http_status=404)
    file = PackageFile(blob_sha256=sha256, size=stored)
    response = await blob_response(
        request, file, package_id=repo.id, media_type="application/octet-stream", count=False
    )
    response.headers["Docker-Content-Digest"] = f"sha256:{sha256}"
    return response


async def delete_blob(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del request
    sha256 = parse_digest(rest[0])
    repo = access.require_admin(principal, await find_repository(session, name), name)
    gone = await session.execute(
        delete(OciBlobLink).where(
            OciBlobLink.repository_id == repo.id, OciBlobLink.sha256 == sha256
        )
    )
    if not getattr(gone, "rowcount", 0):
        raise OciError("BLOB_UNKNOWN", f"blob {rest[0]} is not in {name}", http_status=404)
    return Response(status_code=202)


def _upload_location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


async def start_upload(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del rest
    query = request.query_params
    mount, source, digest_param = query.get("mount"), query.get("from"), query.get("digest")
    if digest_param and not mount:
        return await _monolithic_upload(request, session, principal, name, digest_param)
    repo = await repo_for_push(request, session, principal, name)
    assert principal is not None  # noqa: S101 - require_publish refuses anonymous callers
    if mount:
        sha256 = parse_digest(mount)
        if source and await _may_mount(session, principal, source, sha256):
            await link_blob(session, repo, sha256)
            digest = f"sha256:{sha256}"
            return Response(
                status_code=201,
                headers=headers_of(
                    Location=f"/v2/{name}/blobs/{digest}", Docker_Content_Digest=digest
                ),
            )
    uploads = _uploads(request)
    await _expire_uploads(uploads)
    writer = await runtime(request).store.begin(sha256_only=True)
    upload = PendingUpload(uuid.uuid4().hex, repo.id, principal.user_id, writer)
    uploads[upload.id] = upload
    return Response(
        status_code=202,
        headers=headers_of(
            Location=_upload_location(name, upload.id),
            Range="0-0",
            Docker_Upload_UUID=upload.id,
        ),
    )


async def _monolithic_upload(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, digest: str
) -> Response:
    """A whole blob in one POST: the body first, then the unit of work (see `may_push`)."""
    sha256 = parse_digest(digest)
    await may_push(request, principal, name)
    writer = await runtime(request).store.begin(sha256_only=True)
    try:
        await _write_body(request, writer)
        repo = await repo_for_push(request, session, principal, name)
        return await _finish(session, repo, name, writer, sha256)
    except BaseException:
        await writer.abort()
        raise


async def _may_mount(session: AsyncSession, principal: Principal, source: str, sha256: str) -> bool:
    """Whether the caller may read `sha256` in `source` (never an error: 202 otherwise)."""
    repo = await find_repository(session, source)
    if repo is None or not access.can_read(principal, repo):
        return False
    return await has_blob(session, repo, sha256)


def _open_upload(
    request: Request, principal: Principal | None, repo: Repository | None, upload_id: str
) -> PendingUpload:
    """Return an upload of this caller in this repository (anyone else's is unknown)."""
    upload = _uploads(request).get(upload_id)
    if (
        upload is None
        or repo is None
        or principal is None
        or upload.user_id != principal.user_id
        or upload.repository_id != repo.id
        or time.monotonic() - upload.touched > UPLOAD_IDLE_SECONDS  # expired, not yet dropped
    ):
        raise OciError(
            "BLOB_UPLOAD_UNKNOWN",
            f"no upload {upload_id!r} in progress (expired, finished or cancelled): start again",
            http_status=404,
        )
    upload.touched = time.monotonic()
    return upload


def _still_open(request: Request, upload: PendingUpload) -> None:
    """Check, once the upload's lock is held, that a concurrent request did not end it."""
    if _uploads(request).get(upload.id) is not upload:
        raise OciError(
            "BLOB_UPLOAD_UNKNOWN",
            f"upload {upload.id!r} ended meanwhile: start again",
            http_status=404,
        )


async def _write_body(request: Request, writer: BlobWriter) -> None:
    limit = upload_limit(request)
    async for chunk in request.stream():
        blobs.check_limit(writer.size + len(chunk), limit)
        if chunk:
            await writer.write(chunk)


def _progress_headers(name: str, upload: PendingUpload) -> dict[str, str]:
    return headers_of(
        Location=_upload_location(name, upload.id),
        Range=f"0-{max(upload.writer.size - 1, 0)}",
        Docker_Upload_UUID=upload.id,
    )


def _progress(name: str, upload: PendingUpload, status: int) -> Response:
    return Response(status_code=status, headers=_progress_headers(name, upload))


async def upload_status(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del session
    repo = await may_push(request, principal, name)
    return _progress(name, _open_upload(request, principal, repo, rest[1]), 204)


async def upload_chunk(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del session  # a chunk only streams into the upload's temporary blob: no database work
    repo = await may_push(request, principal, name)
    upload = _open_upload(request, principal, repo, rest[1])
    async with upload.lock:
        _still_open(request, upload)
        content_range = request.headers.get("content-range")
        if content_range:
            match = CONTENT_RANGE_RE.match(content_range.strip())
            if match is None or int(match.group(1)) != upload.writer.size:
                return error_response(
                    OciError(
                        "BLOB_UPLOAD_INVALID",
                        f"chunk {content_range!r} is out of order: the next chunk starts at "
                        f"byte {upload.writer.size}",
                        http_status=416,
                        headers=_progress_headers(name, upload),
                    )
                )
        try:
            await _write_body(request, upload.writer)
        except ClientDisconnect:
            # Keep what arrived: the client asks for the upload's `Range` and resumes from there.
            return _progress(name, upload, 400)
        except BaseException:
            _uploads(request).pop(upload.id, None)
            await upload.writer.abort()
            raise
        return _progress(name, upload, 202)


async def _finish(
    session: AsyncSession, repo: Repository, name: str, writer: BlobWriter, sha256: str
) -> Response:
    try:
        info = await blobs.commit_blob(session, writer, sha256=sha256)
    except DigestMismatch as exc:
        raise OciError("DIGEST_INVALID", exc.message, http_status=400) from exc
    except UploadLost as exc:
        raise OciError("BLOB_UPLOAD_UNKNOWN", exc.message, http_status=404) from exc
    if info.created:  # md5, sha1 and sha512 are left for the job (see registry/digests.py)
        await digests.defer_completion(session)
    await link_blob(session, repo, sha256)
    digest = f"sha256:{sha256}"
    return Response(
        status_code=201,
        headers=headers_of(Location=f"/v2/{name}/blobs/{digest}", Docker_Content_Digest=digest),
    )


async def upload_finish(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await may_push(request, principal, name)
    upload = _open_upload(request, principal, repo, rest[1])
    assert repo is not None  # noqa: S101 - _open_upload found the upload in it
    async with upload.lock:
        _still_open(request, upload)
        _uploads(request).pop(upload.id, None)
        try:
            sha256 = parse_digest(request.query_params.get("digest", ""))
            await _write_body(request, upload.writer)
            return await _finish(session, repo, name, upload.writer, sha256)
        except BaseException:
            await upload.writer.abort()
            raise


async def upload_cancel(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del session
    repo = await may_push(request, principal, name)
    upload = _open_upload(request, principal, repo, rest[1])
    _uploads(request).pop(upload.id, None)
    await upload.writer.abort()
    return Response(status_code=204)
