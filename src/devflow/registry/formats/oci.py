"""OCI Distribution Spec v1.1 (and Docker Registry HTTP API v2) at `/v2/`.

Image repositories are named `<project>/<name>`: each is a registry repository of format `oci`,
created on the first push by a caller who may publish in that project (private by default).
Blobs live in the shared blob store; `registry_oci_blob` links a blob into a repository, so a
blob is only ever served, or mounted, through a repository the caller can read. Manifests are
stored byte-exact as blobs. Clients authenticate with Basic (any user name, a DevFlow token as
the password) or with a short-lived registry token from `/v2/token` (Docker token auth).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import ClientDisconnect

from devflow.core import clock
from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import (
    DevflowError,
    Invalid,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from devflow.core.http import SessionDep
from devflow.identity import Project, User, role_in
from devflow.identity.models import ApiToken
from devflow.identity.service import issue_token
from devflow.registry import access, digests, publish
from devflow.registry.access import token_from_authorization
from devflow.registry.http import base_url, blob_response, optional_principal, runtime
from devflow.registry.models import (
    OciBlobLink,
    OciManifest,
    OciTag,
    PackageFile,
    Repository,
)
from devflow.registry.ports import BlobWriter, DigestMismatch

FORMAT = "oci"
SERVICE = "devflow"
TOKEN_TTL = timedelta(minutes=5)
MANIFEST_LIMIT = 4 * 1024 * 1024
UPLOAD_IDLE_SECONDS = 3600.0
ANONYMOUS_TOKEN = "anonymous"  # noqa: S105 - what the token endpoint gives anonymous callers
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST}) | INDEX_TYPES
_NAME_RE = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)+$"
)
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
_CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?(\d+)-(\d+)$")
_NAME_LIMIT = 64


class OciError(DevflowError):
    """An error answered in the spec's `{"errors": [...]}` form with one of its codes."""

    status: ClassVar[int] = 400

    def __init__(
        self,
        oci_code: str,
        message: str,
        *,
        http_status: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.oci_code = oci_code
        self.http_status = http_status
        self.headers = headers or {}


def _error_response(exc: OciError) -> Response:
    body = {"errors": [{"code": exc.oci_code, "message": exc.message, "detail": None}]}
    return Response(
        orjson.dumps(body),
        status_code=exc.http_status,
        media_type="application/json",
        headers={**exc.headers, "Docker-Distribution-API-Version": "registry/2.0"},
    )


def _challenge(request: Request, name: str | None, actions: str) -> dict[str, str]:
    realm = f"{base_url(request)}/v2/token"
    value = f'Bearer realm="{realm}",service="{SERVICE}"'
    if name:
        value += f',scope="repository:{name}:{actions}"'
    return {"WWW-Authenticate": value}


def _translate(exc: DevflowError, request: Request, name: str | None, actions: str) -> OciError:
    """Map a domain error to the spec's code and status."""
    if isinstance(exc, OciError):
        return exc
    if isinstance(exc, Unauthenticated):
        return OciError(
            "UNAUTHORIZED",
            exc.message,
            http_status=401,
            headers=_challenge(request, name, actions),
        )
    for kind, code, status in _SIMPLE:
        if isinstance(exc, kind):
            return OciError(code, exc.message, http_status=status)
    return OciError("DENIED", exc.message, http_status=exc.status)


_SIMPLE: tuple[tuple[type[DevflowError], str, int], ...] = (
    (PermissionDenied, "DENIED", 403),
    (NotFound, "NAME_UNKNOWN", 404),
    (DigestMismatch, "DIGEST_INVALID", 400),
    (publish.TooLarge, "SIZE_INVALID", 413),
    (Invalid, "DENIED", 400),
)


router = APIRouter(tags=["registry: oci"])


# -- upload sessions ------------------------------------------------------------------------------


@dataclass
class _Upload:
    """A blob upload in progress, held by this server process."""

    id: str
    repository_id: uuid.UUID
    user_id: uuid.UUID
    writer: BlobWriter
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _uploads(request: Request) -> dict[str, _Upload]:
    found: dict[str, _Upload] | None = getattr(request.app.state, "oci_uploads", None)
    if found is None:
        found = {}
        request.app.state.oci_uploads = found
    return found


async def abort_uploads(app: FastAPI) -> None:
    """Abort the uploads still in progress when the server stops (they live in its memory)."""
    uploads: dict[str, _Upload] = getattr(app.state, "oci_uploads", None) or {}
    while uploads:
        _, upload = uploads.popitem()
        await upload.writer.abort()


async def _expire_uploads(uploads: dict[str, _Upload]) -> None:
    """Drop uploads idle for longer than `UPLOAD_IDLE_SECONDS` (their temporaries go too)."""
    cutoff = time.monotonic() - UPLOAD_IDLE_SECONDS
    for key in [k for k, u in uploads.items() if u.touched < cutoff]:
        upload = uploads.pop(key)
        await upload.writer.abort()


# -- helpers --------------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    if len(name) > _NAME_LIMIT or not _NAME_RE.match(name):
        raise OciError(
            "NAME_INVALID",
            f"{name!r} is not a valid repository name: use <project>/<name>, lower-case letters, "
            f"digits and separators ('.', '_', '__', '-'), at most {_NAME_LIMIT} characters",
            http_status=400,
        )
    return name


def _parse_digest(value: str, *, code: str = "DIGEST_INVALID") -> str:
    """Return the sha256 hex of `sha256:<hex>`."""
    match = _DIGEST_RE.match(value)
    if match is None:
        raise OciError(code, f"{value!r} is not a digest (sha256:<64 hex>)", http_status=400)
    algorithm, encoded = match.groups()
    if algorithm != "sha256":
        raise OciError(
            code,
            f"digest algorithm {algorithm!r} is not supported; use sha256",
            http_status=400,
        )
    if not re.fullmatch(r"[0-9a-f]{64}", encoded):
        raise OciError(code, f"{value!r} is not a sha256 digest (64 hex)", http_status=400)
    return encoded


async def _principal(request: Request, session: AsyncSession) -> Principal | None:
    token = token_from_authorization(request.headers.get("authorization"))
    if token == ANONYMOUS_TOKEN:
        return None
    return await optional_principal(request, session, token)


async def _find_repository(session: AsyncSession, name: str) -> Repository | None:
    repo = await session.scalar(select(Repository).where(Repository.name == name))
    return repo if repo is not None and repo.format == FORMAT else None


async def _repo_for_read(
    session: AsyncSession, principal: Principal | None, name: str
) -> Repository:
    return access.require_read(principal, await _find_repository(session, name), name)


async def _repo_for_push(
    session: AsyncSession, principal: Principal | None, name: str
) -> Repository:
    """Return the repository, creating it on first push in a project the caller may publish to."""
    repo = await _find_repository(session, name)
    if repo is None and principal is not None:
        project_name = name.split("/", 1)[0]
        project = await session.scalar(select(Project).where(Project.name == project_name))
        held = None if project is None else role_in(principal, project.id)
        if project is None or held is None:
            raise NotFound(f"no project {project_name!r}: image names start with a project name")
        if not held.allows(Role.WRITE):
            raise PermissionDenied(
                f"pushing to {name!r} needs the write role in project {project_name!r}"
            )
        principal.require_scope(Scope.REGISTRY_PUBLISH)
        await session.execute(
            insert(Repository)
            .values(
                id=uuid.uuid4(),
                name=name,
                project_id=project.id,
                format=FORMAT,
                kind="hosted",
                visibility="private",
                description="",
                config={},
                created_at=clock.now(),
                created_by=principal.user_id,
            )
            .on_conflict_do_nothing()
        )
        repo = await _find_repository(session, name)
    return access.require_publish(principal, repo, name)


async def _has_blob(session: AsyncSession, repo: Repository, sha256: str) -> bool:
    found = await session.scalar(
        select(OciBlobLink.sha256).where(
            OciBlobLink.repository_id == repo.id, OciBlobLink.sha256 == sha256
        )
    )
    return found is not None


async def _link(session: AsyncSession, repo: Repository, sha256: str) -> None:
    await session.execute(
        insert(OciBlobLink)
        .values(repository_id=repo.id, sha256=sha256, created_at=clock.now())
        .on_conflict_do_nothing()
    )


def _headers(**values: str) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in values.items()}


# -- version check and tokens ---------------------------------------------------------------------


@router.get("/v2/", include_in_schema=False)
@router.get("/v2", include_in_schema=False)
async def version_check(request: Request, session: SessionDep) -> Response:
    """Answer 200 to an authenticated caller, 401 with the token challenge otherwise."""
    try:
        principal = await _principal(request, session)
        if principal is None:
            raise Unauthenticated("send a DevFlow token (docker login with any user name)")
    except DevflowError as exc:
        return _error_response(_translate(exc, request, None, "pull"))
    return Response(
        b"{}",
        media_type="application/json",
        headers={"Docker-Distribution-API-Version": "registry/2.0"},
    )


async def _lifetime(session: AsyncSession, principal: Principal) -> timedelta:
    """Return `TOKEN_TTL`, or less: a registry token never outlives the token it came from."""
    if principal.token_id is None:
        return TOKEN_TTL
    expires_at = await session.scalar(
        select(ApiToken.expires_at).where(ApiToken.id == principal.token_id)
    )
    if expires_at is None:
        return TOKEN_TTL
    return max(min(TOKEN_TTL, expires_at - clock.now()), timedelta(seconds=1))


async def _issue(request: Request, session: AsyncSession, secret: str | None) -> Response:
    try:
        if not secret:
            body: dict[str, Any] = {"token": ANONYMOUS_TOKEN, "access_token": ANONYMOUS_TOKEN}
        else:
            state = request.app.state.devflow
            principal = await state.authenticate(session, secret)
            user = await session.get_one(User, principal.user_id)
            scopes = [
                s for s in (Scope.REGISTRY_READ, Scope.REGISTRY_PUBLISH) if principal.has_scope(s)
            ]
            if not scopes:
                raise PermissionDenied(
                    "this token has neither 'registry:read' nor 'registry:publish'; create one "
                    "with `devflow token create --scope registry:publish`"
                )
            ttl = await _lifetime(session, principal)
            _, token = await issue_token(
                session,
                user=user,
                name="oci registry token",
                scopes=scopes,
                expires_in=ttl,
                project_id=principal.project_id,
                kind="registry",
            )
            body = {"token": token, "access_token": token, "expires_in": int(ttl.total_seconds())}
    except DevflowError as exc:
        err = _translate(exc, request, None, "pull")
        err.headers.pop("WWW-Authenticate", None)
        err.headers["WWW-Authenticate"] = 'Basic realm="DevFlow registry"'
        return _error_response(err)
    body.setdefault("expires_in", int(TOKEN_TTL.total_seconds()))
    body["issued_at"] = clock.now().isoformat()
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/v2/token", include_in_schema=False)
async def token_get(request: Request, session: SessionDep) -> Response:
    """Docker token endpoint: Basic auth with a DevFlow token gives a short-lived registry token."""
    try:
        secret = token_from_authorization(request.headers.get("authorization"))
    except DevflowError as exc:
        return _error_response(_translate(exc, request, None, "pull"))
    return await _issue(request, session, secret)


@router.post("/v2/token", include_in_schema=False)
async def token_post(request: Request, session: SessionDep) -> Response:
    """OAuth2 form (`grant_type=password` or `refresh_token`) used by containerd and buildkit."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    grant = (form.get("grant_type") or [""])[0]
    if grant == "password":
        secret = (form.get("password") or [""])[0]
    elif grant == "refresh_token":
        secret = (form.get("refresh_token") or [""])[0]
    else:
        return _error_response(
            OciError(
                "UNSUPPORTED",
                f"grant_type {grant!r} is not supported: use 'password' (a DevFlow token as the "
                "password) or 'refresh_token'",
                http_status=400,
            )
        )
    if not secret:
        return _error_response(
            OciError("UNAUTHORIZED", "send a DevFlow token as the password", http_status=401)
        )
    return await _issue(request, session, secret)


@router.get("/v2/_catalog", include_in_schema=False)
async def catalog(request: Request, session: SessionDep) -> Response:
    """List the image repositories the caller can read (`n`/`last` pagination, `Link`)."""
    try:
        principal = await _principal(request, session)
        if principal is None:
            raise Unauthenticated("listing repositories needs a DevFlow token")
        n = _page_size(request)
        last = request.query_params.get("last") or ""
        repos = await session.scalars(
            select(Repository)
            .where(Repository.format == FORMAT, Repository.name > last)
            .order_by(Repository.name)
        )
        names = [r.name for r in repos if access.can_read(principal, r)]
    except DevflowError as exc:
        return _error_response(_translate(exc, request, None, "pull"))
    headers: dict[str, str] = {}
    if n is not None and len(names) > n:
        names = names[:n]
        if names:
            link = "/v2/_catalog?" + urlencode({"n": n, "last": names[-1]}, quote_via=quote)
            headers["Link"] = f'<{link}>; rel="next"'
    return Response(
        orjson.dumps({"repositories": names}), media_type="application/json", headers=headers
    )


# -- dispatch -------------------------------------------------------------------------------------

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
# Names may contain '/' and tags may be called `blobs`: match whole endpoint shapes, name greedy.
_PATHS = [
    re.compile(r"^(.+)/(blobs)/(uploads/[^/]*)$"),
    re.compile(r"^(.+)/(blobs)/([^/]+)$"),
    re.compile(r"^(.+)/(manifests)/([^/]+)$"),
    re.compile(r"^(.+)/(tags)/(list)$"),
    re.compile(r"^(.+)/(referrers)/([^/]+)$"),
]


@router.api_route("/v2/{path:path}", methods=_METHODS, include_in_schema=False)
async def dispatch(path: str, request: Request, session: SessionDep) -> Response:
    """Route `/v2/<name>/{blobs,manifests,tags,referrers}/…` (names contain slashes)."""
    name, actions = None, "pull" if request.method in {"GET", "HEAD"} else "pull,push"
    try:
        for pattern in _PATHS:
            match = pattern.match(path)
            if match is not None:
                name, kind, tail = match.group(1), match.group(2), match.group(3)
                rest = tail.split("/")
                break
        else:
            raise OciError("NAME_UNKNOWN", f"no endpoint /v2/{path}", http_status=404)
        _check_name(name)
        principal = await _principal(request, session)
        handler = _route(request.method, kind, rest)
        async with session.begin_nested():
            response = await handler(request, session, principal, name, rest)
    except DevflowError as exc:
        return _error_response(_translate(exc, request, name, actions))
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
    return response


Handler = Callable[[Request, AsyncSession, Principal | None, str, list[str]], Awaitable[Response]]


def _route(method: str, kind: str, rest: list[str]) -> Handler:  # noqa: PLR0911
    if kind == "blobs" and rest[:1] == ["uploads"]:
        if len(rest) == 2 and rest[1] == "" and method == "POST":  # noqa: PLR2004
            return _start_upload
        if len(rest) == 1 and method == "POST":
            return _start_upload
        if len(rest) == 2:  # noqa: PLR2004
            return {
                "GET": _upload_status,
                "PATCH": _upload_chunk,
                "PUT": _upload_finish,
                "DELETE": _upload_cancel,
            }.get(method, _unsupported)
    elif kind == "blobs" and len(rest) == 1:
        return {"GET": _get_blob, "HEAD": _get_blob, "DELETE": _delete_blob}.get(
            method, _unsupported
        )
    elif kind == "manifests" and len(rest) == 1:
        return {
            "GET": _get_manifest,
            "HEAD": _get_manifest,
            "PUT": _put_manifest,
            "DELETE": _delete_manifest,
        }.get(method, _unsupported)
    elif kind == "tags" and rest == ["list"] and method == "GET":
        return _list_tags
    elif kind == "referrers" and len(rest) == 1 and method == "GET":
        return _referrers
    return _unsupported


async def _unsupported(
    request: Request, _s: AsyncSession, _p: Principal | None, _n: str, _r: list[str]
) -> Response:
    raise OciError(
        "UNSUPPORTED", f"{request.method} {request.url.path} is not supported", http_status=405
    )


# -- blobs ----------------------------------------------------------------------------------------


async def _get_blob(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    sha256 = _parse_digest(rest[0])
    repo = await _repo_for_read(session, principal, name)
    row = await session.scalar(
        select(OciBlobLink.sha256).where(
            OciBlobLink.repository_id == repo.id, OciBlobLink.sha256 == sha256
        )
    )
    if row is None:
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


async def _delete_blob(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    sha256 = _parse_digest(rest[0])
    repo = access.require_admin(principal, await _find_repository(session, name), name)
    gone = await session.execute(
        delete(OciBlobLink).where(
            OciBlobLink.repository_id == repo.id, OciBlobLink.sha256 == sha256
        )
    )
    if not getattr(gone, "rowcount", 0):
        raise OciError("BLOB_UNKNOWN", f"blob {rest[0]} is not in {name}", http_status=404)
    del request
    return Response(status_code=202)


def _upload_location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


async def _start_upload(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del rest
    repo = await _repo_for_push(session, principal, name)
    assert principal is not None  # noqa: S101 - require_publish refuses anonymous callers
    query = request.query_params
    mount, source = query.get("mount"), query.get("from")
    if mount:
        sha256 = _parse_digest(mount)
        if source and await _may_mount(session, principal, source, sha256):
            await _link(session, repo, sha256)
            digest = f"sha256:{sha256}"
            return Response(
                status_code=201,
                headers=_headers(
                    Location=f"/v2/{name}/blobs/{digest}", Docker_Content_Digest=digest
                ),
            )
    uploads = _uploads(request)
    await _expire_uploads(uploads)
    writer = await runtime(request).store.begin(sha256_only=True)
    upload = _Upload(uuid.uuid4().hex, repo.id, principal.user_id, writer)
    digest_param = query.get("digest")
    if digest_param and not mount:
        try:
            sha256 = _parse_digest(digest_param)
            await _write_body(request, upload)
            return await _finish(session, repo, name, upload, sha256)
        except BaseException:
            await writer.abort()
            raise
    uploads[upload.id] = upload
    return Response(
        status_code=202,
        headers=_headers(
            Location=_upload_location(name, upload.id),
            Range="0-0",
            Docker_Upload_UUID=upload.id,
        ),
    )


async def _may_mount(session: AsyncSession, principal: Principal, source: str, sha256: str) -> bool:
    """Whether the caller may read `sha256` in `source` (never an error: 202 otherwise)."""
    repo = await _find_repository(session, source)
    if repo is None or not access.can_read(principal, repo):
        return False
    return await _has_blob(session, repo, sha256)


def _open_upload(
    request: Request, principal: Principal | None, repo: Repository, upload_id: str
) -> _Upload:
    """Return an upload of this caller in this repository (anyone else's is unknown)."""
    upload = _uploads(request).get(upload_id)
    if (
        upload is None
        or principal is None
        or upload.user_id != principal.user_id
        or upload.repository_id != repo.id
    ):
        raise OciError(
            "BLOB_UPLOAD_UNKNOWN",
            f"no upload {upload_id!r} in progress (expired, finished or cancelled): start again",
            http_status=404,
        )
    upload.touched = time.monotonic()
    return upload


def _still_open(request: Request, upload: _Upload) -> None:
    """Check, once the upload's lock is held, that a concurrent request did not end it."""
    if _uploads(request).get(upload.id) is not upload:
        raise OciError(
            "BLOB_UPLOAD_UNKNOWN",
            f"upload {upload.id!r} ended meanwhile: start again",
            http_status=404,
        )


async def _write_body(request: Request, upload: _Upload) -> None:
    limit = request.app.state.devflow.settings.registry.max_upload_bytes
    async for chunk in request.stream():
        if upload.writer.size + len(chunk) > limit:
            raise publish.TooLarge(
                f"the blob is larger than the limit of {limit} bytes "
                "(DEVFLOW_REGISTRY__MAX_UPLOAD_BYTES)"
            )
        if chunk:
            await upload.writer.write(chunk)


def _progress_headers(name: str, upload: _Upload) -> dict[str, str]:
    return _headers(
        Location=_upload_location(name, upload.id),
        Range=f"0-{max(upload.writer.size - 1, 0)}",
        Docker_Upload_UUID=upload.id,
    )


def _progress(name: str, upload: _Upload, status: int) -> Response:
    return Response(status_code=status, headers=_progress_headers(name, upload))


async def _upload_status(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await _repo_for_push(session, principal, name)
    return _progress(name, _open_upload(request, principal, repo, rest[1]), 204)


async def _upload_chunk(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await _repo_for_push(session, principal, name)
    upload = _open_upload(request, principal, repo, rest[1])
    async with upload.lock:
        _still_open(request, upload)
        content_range = request.headers.get("content-range")
        if content_range:
            match = _CONTENT_RANGE_RE.match(content_range.strip())
            if match is None or int(match.group(1)) != upload.writer.size:
                return Response(
                    orjson.dumps(
                        {
                            "errors": [
                                {
                                    "code": "BLOB_UPLOAD_INVALID",
                                    "message": f"chunk {content_range!r} is out of order: the "
                                    f"next chunk starts at byte {upload.writer.size}",
                                    "detail": None,
                                }
                            ]
                        }
                    ),
                    status_code=416,
                    media_type="application/json",
                    headers=_progress_headers(name, upload),
                )
        try:
            await _write_body(request, upload)
        except ClientDisconnect:
            # Keep what arrived: the client asks for the upload's `Range` and resumes from there.
            return _progress(name, upload, 400)
        except BaseException:
            _uploads(request).pop(upload.id, None)
            await upload.writer.abort()
            raise
        return _progress(name, upload, 202)


async def _finish(
    session: AsyncSession, repo: Repository, name: str, upload: _Upload, sha256: str
) -> Response:
    try:
        info = await publish.commit_blob(session, upload.writer, sha256=sha256)
    except DigestMismatch as exc:
        raise OciError("DIGEST_INVALID", exc.message, http_status=400) from exc
    if info.created:  # md5, sha1 and sha512 are left for the job (see registry/digests.py)
        await digests.defer_completion(session)
    await _link(session, repo, sha256)
    digest = f"sha256:{sha256}"
    return Response(
        status_code=201,
        headers=_headers(Location=f"/v2/{name}/blobs/{digest}", Docker_Content_Digest=digest),
    )


async def _upload_finish(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await _repo_for_push(session, principal, name)
    upload = _open_upload(request, principal, repo, rest[1])
    async with upload.lock:
        _still_open(request, upload)
        _uploads(request).pop(upload.id, None)
        try:
            sha256 = _parse_digest(request.query_params.get("digest", ""))
            await _write_body(request, upload)
            return await _finish(session, repo, name, upload, sha256)
        except BaseException:
            await upload.writer.abort()
            raise


async def _upload_cancel(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await _repo_for_push(session, principal, name)
    upload = _open_upload(request, principal, repo, rest[1])
    _uploads(request).pop(upload.id, None)
    await upload.writer.abort()
    return Response(status_code=204)


# -- manifests ------------------------------------------------------------------------------------


def _invalid_manifest(message: str) -> OciError:
    return OciError("MANIFEST_INVALID", message, http_status=400)


@dataclass(frozen=True)
class _Parsed:
    media_type: str
    blobs: list[str]
    children: list[str]
    subject: str | None
    artifact_type: str | None
    annotations: dict[str, Any]


def _descriptor_digest(item: Any, where: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
        raise _invalid_manifest(f"{where} must be a descriptor with a 'digest'")
    return str(item["digest"])


def _parse_manifest(body: bytes, content_type: str) -> _Parsed:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid_manifest(f"the manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _invalid_manifest("the manifest must be a JSON object")
    media_type = doc.get("mediaType") or content_type
    if media_type not in MANIFEST_TYPES:
        raise _invalid_manifest(
            f"unsupported manifest media type {media_type!r}; send one of "
            + ", ".join(sorted(MANIFEST_TYPES))
        )
    if content_type and content_type != media_type:
        raise _invalid_manifest(
            f"Content-Type {content_type!r} does not match the manifest's mediaType {media_type!r}"
        )
    blobs, children = _references(doc, media_type)
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor_digest(doc["subject"], "subject")
        _parse_digest(subject, code="MANIFEST_INVALID")
    artifact_type = doc.get("artifactType")
    if artifact_type is None and isinstance(doc.get("config"), dict):
        artifact_type = doc["config"].get("mediaType")
    annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
    return _Parsed(
        media_type=media_type,
        blobs=blobs,
        children=children,
        subject=subject,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        annotations=annotations or {},
    )


def _references(doc: dict[str, Any], media_type: str) -> tuple[list[str], list[str]]:
    """Return (blob sha256 hexes, child manifest digests) a manifest or index references."""
    if media_type in INDEX_TYPES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise _invalid_manifest("an index needs a 'manifests' list")
        children = [_descriptor_digest(m, "manifests[]") for m in items]
        for child in children:
            _parse_digest(child, code="MANIFEST_INVALID")
        return [], children
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise _invalid_manifest("an image manifest needs a 'layers' list")
    digests = [_descriptor_digest(doc.get("config"), "config")]
    digests += [_descriptor_digest(layer, "layers[]") for layer in layers]
    return [_parse_digest(d, code="MANIFEST_INVALID") for d in digests], []


async def _read_manifest_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MANIFEST_LIMIT:
            raise OciError(
                "SIZE_INVALID",
                f"the manifest is larger than the limit of {MANIFEST_LIMIT} bytes",
                http_status=413,
            )
    return bytes(body)


async def _first_missing(
    session: AsyncSession,
    model: type[OciBlobLink | OciManifest],
    key: InstrumentedAttribute[str],
    repository_id: uuid.UUID,
    wanted: list[str],
) -> str | None:
    """Return the first of `wanted` that `repository_id` does not hold in `key`, if any."""
    if not wanted:
        return None
    present = set(
        await session.scalars(
            select(key).where(model.repository_id == repository_id, key.in_(wanted))
        )
    )
    return next((w for w in wanted if w not in present), None)


async def _put_manifest(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    reference = rest[0]
    repo = await _repo_for_push(session, principal, name)
    body = await _read_manifest_body(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    parsed = _parse_manifest(body, content_type)
    sha256 = hashlib.sha256(body).hexdigest()
    digest = f"sha256:{sha256}"
    tag = None
    if ":" in reference:
        if _parse_digest(reference) != sha256:
            raise OciError(
                "DIGEST_INVALID",
                f"the manifest's digest is {digest}, not {reference}",
                http_status=400,
            )
    elif _TAG_RE.match(reference):
        tag = reference
    else:
        raise OciError("TAG_INVALID", f"{reference!r} is not a valid tag", http_status=400)
    missing = await _first_missing(session, OciBlobLink, OciBlobLink.sha256, repo.id, parsed.blobs)
    if missing is not None:
        raise OciError(
            "MANIFEST_BLOB_UNKNOWN",
            f"blob sha256:{missing} is not in {name}: push it before the manifest",
            http_status=400,
        )
    missing = await _first_missing(
        session, OciManifest, OciManifest.digest, repo.id, parsed.children
    )
    if missing is not None:
        raise OciError(
            "MANIFEST_BLOB_UNKNOWN",
            f"manifest {missing} is not in {name}: push the index's manifests first",
            http_status=400,
        )
    await publish.store_bytes(session, runtime(request).store, body)
    await session.execute(
        insert(OciManifest)
        .values(
            repository_id=repo.id,
            digest=digest,
            blob_sha256=sha256,
            media_type=parsed.media_type,
            size=len(body),
            artifact_type=parsed.artifact_type,
            subject=parsed.subject,
            blobs=parsed.blobs,
            children=parsed.children,
            annotations=parsed.annotations,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing()
    )
    if tag is not None:
        stmt = insert(OciTag).values(
            repository_id=repo.id, name=tag, digest=digest, updated_at=clock.now()
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[OciTag.repository_id, OciTag.name],
                set_={"digest": stmt.excluded.digest, "updated_at": stmt.excluded.updated_at},
            )
        )
    headers = _headers(Location=f"/v2/{name}/manifests/{digest}", Docker_Content_Digest=digest)
    if parsed.subject:
        headers["OCI-Subject"] = parsed.subject
    return Response(status_code=201, headers=headers)


async def _resolve(session: AsyncSession, repo: Repository, reference: str) -> OciManifest:
    if ":" in reference:
        _parse_digest(reference)
        digest: str | None = reference
    else:
        digest = await session.scalar(
            select(OciTag.digest).where(OciTag.repository_id == repo.id, OciTag.name == reference)
        )
    manifest = None
    if digest is not None:
        manifest = await session.get(OciManifest, (repo.id, digest))
    if manifest is None:
        raise OciError(
            "MANIFEST_UNKNOWN", f"no manifest {reference!r} in {repo.name}", http_status=404
        )
    return manifest


async def _get_manifest(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    repo = await _repo_for_read(session, principal, name)
    manifest = await _resolve(session, repo, rest[0])
    headers = _headers(Docker_Content_Digest=manifest.digest, ETag=f'"{manifest.digest}"')
    if request.method == "HEAD":
        headers["Content-Length"] = str(manifest.size)
        return Response(headers=headers, media_type=manifest.media_type)
    body = await runtime(request).store.read_all(manifest.blob_sha256)
    return Response(body, headers=headers, media_type=manifest.media_type)


async def _delete_manifest(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del request
    reference = rest[0]
    repo = access.require_admin(principal, await _find_repository(session, name), name)
    if ":" not in reference:
        gone = await session.execute(
            delete(OciTag).where(OciTag.repository_id == repo.id, OciTag.name == reference)
        )
        if not getattr(gone, "rowcount", 0):
            raise OciError("MANIFEST_UNKNOWN", f"no tag {reference!r} in {name}", http_status=404)
        return Response(status_code=202)
    manifest = await _resolve(session, repo, reference)
    await session.execute(
        delete(OciTag).where(OciTag.repository_id == repo.id, OciTag.digest == manifest.digest)
    )
    await session.delete(manifest)
    return Response(status_code=202)


# -- listings -------------------------------------------------------------------------------------


def _page_size(request: Request) -> int | None:
    raw = request.query_params.get("n")
    if raw is None:
        return None
    if not raw.isdigit():
        raise OciError("PAGINATION_NUMBER_INVALID", f"n={raw!r} is not a number", http_status=400)
    return int(raw)


async def _list_tags(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    del rest
    repo = await _repo_for_read(session, principal, name)
    n = _page_size(request)
    last = request.query_params.get("last")
    query = select(OciTag.name).where(OciTag.repository_id == repo.id).order_by(OciTag.name)
    if last:
        query = query.where(OciTag.name > last)
    if n is not None:
        query = query.limit(n + 1)
    tags = list(await session.scalars(query))
    headers: dict[str, str] = {}
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            link = f"/v2/{name}/tags/list?" + urlencode({"n": n, "last": tags[-1]})
            headers["Link"] = f'<{link}>; rel="next"'
    return Response(
        orjson.dumps({"name": name, "tags": tags}), media_type="application/json", headers=headers
    )


async def _referrers(
    request: Request, session: AsyncSession, principal: Principal | None, name: str, rest: list[str]
) -> Response:
    _parse_digest(rest[0])
    repo = await _repo_for_read(session, principal, name)
    query = select(OciManifest).where(
        OciManifest.repository_id == repo.id, OciManifest.subject == rest[0]
    )
    wanted = request.query_params.get("artifactType")
    headers: dict[str, str] = {}
    if wanted:
        query = query.where(OciManifest.artifact_type == wanted)
        headers["OCI-Filters-Applied"] = "artifactType"
    rows = (await session.scalars(query.order_by(OciManifest.digest))).all()
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": m.media_type,
                "digest": m.digest,
                "size": m.size,
                **({"artifactType": m.artifact_type} if m.artifact_type else {}),
                **({"annotations": m.annotations} if m.annotations else {}),
            }
            for m in rows
        ],
    }
    return Response(orjson.dumps(index), media_type=OCI_INDEX, headers=headers)


__all__ = ["router"]
