"""PyPI uploads: the legacy API of twine, uv publish, poetry and hatch (`/pypi/<repo>/legacy/`).

The form is read first (its file streams into a temporary blob, with no database connection
held), checked and translated into a `PypiUpload`, and published by the one publish path in
its own unit of work; the archive is opened and its METADATA kept for PEP 658 there
(`PypiUpload.check`).
"""

from __future__ import annotations

import email.parser
import hashlib
import tarfile
import zipfile
from dataclasses import dataclass
from typing import IO

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from packaging.requirements import InvalidRequirement, Requirement

from devflow.core.blobs import BlobInfo, BlobStore
from devflow.core.errors import Invalid
from devflow.registry import access
from devflow.registry.blobs import spooled
from devflow.registry.formats.pypi._common import FORMAT, router
from devflow.registry.formats.pypi.meta import (
    LIST_FIELDS,
    TEXT_FIELDS,
    PypiFileMeta,
    PypiVersionMeta,
)
from devflow.registry.formats.pypi.multipart import Form, UploadedFile, parse_form
from devflow.registry.formats.pypi.names import (
    check_name,
    check_version,
    normalize,
    parse_filename,
)
from devflow.registry.http import cached_repository, caller, runtime, upload_limit, write_unit
from devflow.registry.publish import (
    CheckedFile,
    DependencySpec,
    IncomingFile,
    Release,
    publish_upload,
)

_METADATA_LIMIT = 16 * 1024 * 1024
_DESCRIPTION_LIMIT = 256 * 1024


@router.post(
    "/{repo}/legacy/", response_class=PlainTextResponse, responses={200: {"description": "OK"}}
)
async def upload(repo: str, request: Request) -> Response:
    """Accept a file upload from twine, uv publish, poetry or hatch (the legacy API)."""
    principal = await caller(request)
    # Refused before a byte of the body is taken; `publish_upload` checks again in its unit of work.
    access.require_publish(principal, await cached_repository(request, None, repo, FORMAT), repo)
    assert principal is not None  # noqa: S101 - require_publish checked it
    store = runtime(request).store
    form = await parse_form(
        request.stream(),
        content_type=request.headers.get("content-type", ""),
        store=store,
        file_limit=upload_limit(request),
    )
    try:
        sent = PypiUpload.read(form)
        async with write_unit(request) as session:
            await publish_upload(
                session, principal=principal, repository=repo, upload=sent, store=store
            )
    finally:
        await form.abort()  # no-op for the committed file
    return PlainTextResponse("OK\n")


# twine never follows redirects: accept the URL without the slash too.
router.add_api_route("/{repo}/legacy", upload, methods=["POST"], include_in_schema=False)


@dataclass(frozen=True)
class PypiUpload:
    """One distribution file of the legacy upload form (`publish.Upload`)."""

    release: Release
    file: IncomingFile
    filetype: str
    pyversion: str
    requires_python: str
    md5: str
    """The md5 the client announced ("" if none)."""
    blake2_256: str
    """The BLAKE2b-256 the client announced ("" if none; twine sends it)."""
    format: str = FORMAT

    @classmethod
    def read(cls, form: Form) -> PypiUpload:
        """Translate the form: one file, of the project and version the form names.

        Raises:
            Invalid: another action, not exactly one file, a bad name, version or file name.
        """
        content = _content(form)
        name = check_name(form.get("name") or "")
        version = check_version(form.get("version") or "")
        file_name, file_version, filetype = parse_filename(content.filename)
        if file_name != normalize(name) or file_version != version:
            raise Invalid(
                f"{content.filename} does not belong to {name} {version}: the file name must "
                "start with the project name and version"
            )
        summary = form.get("summary") or ""
        return cls(
            release=Release(
                name=normalize(name),
                display_name=name,
                version=str(version),
                summary=summary,
                meta=_version_meta(form),
                dependencies=_dependencies(form.fields.get("requires_dist", [])),
            ),
            file=IncomingFile(
                filename=content.filename,
                writer=content.writer,
                sha256=(form.get("sha256_digest") or "").strip().lower() or None,
            ),
            filetype=filetype,
            pyversion=form.get("pyversion") or "",
            requires_python=form.get("requires_python") or "",
            md5=(form.get("md5_digest") or "").strip().lower(),
            blake2_256=(form.get("blake2_256_digest") or "").strip().lower(),
        )

    async def check(self, store: BlobStore, blob: BlobInfo) -> CheckedFile:
        """Check the announced md5 and BLAKE2b-256 and the archive; keep a wheel's METADATA.

        Raises:
            Invalid: a digest mismatch, a broken archive, or metadata naming another project or
                version.
        """
        if self.md5 and self.md5 != blob.md5:
            raise Invalid(
                f"md5 mismatch: the upload's md5 is {blob.md5} but {self.md5} was announced"
            )
        metadata = await _inspect(
            store,
            blob,
            self.file.filename,
            name=self.release.display_name,
            version=self.release.version,
            blake2_256=self.blake2_256,
        )
        meta = PypiFileMeta(
            filetype=self.filetype, pyversion=self.pyversion, requires_python=self.requires_python
        )
        return CheckedFile(meta=meta, metadata=metadata)


def _content(form: Form) -> UploadedFile:
    action = form.get(":action")
    if action not in {None, "file_upload"}:
        raise Invalid(f"unsupported :action {action!r}; only file_upload is supported")
    files = [f for f in form.files if f.field == "content"]
    if len(files) != 1:
        raise Invalid("the upload needs exactly one file in the `content` field")
    return files[0]


def _version_meta(form: Form) -> PypiVersionMeta:
    fields: dict[str, object] = {k: form.get(k) for k in TEXT_FIELDS if form.get(k)}
    fields.update({k: form.fields[k] for k in LIST_FIELDS if form.fields.get(k)})
    description = form.get("description") or ""
    if description:
        fields["description"] = description[:_DESCRIPTION_LIMIT]
    return PypiVersionMeta.model_validate(fields)


def _dependencies(requires_dist: list[str]) -> tuple[DependencySpec, ...]:
    deps = []
    for line in requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        kind = "optional" if req.marker and "extra" in str(req.marker) else "runtime"
        deps.append(DependencySpec(normalize(req.name), line, kind))
    return tuple(deps)


async def _inspect(
    store: BlobStore,
    blob: BlobInfo,
    filename: str,
    *,
    name: str,
    version: str,
    blake2_256: str = "",
) -> bytes | None:
    """Check the archive (and its BLAKE2b-256 digest when the client sent one, as twine does);
    return a wheel's METADATA (PEP 658), or None for an sdist.

    Raises:
        Invalid: a digest mismatch, a broken archive, or metadata naming another project or
            version.
    """
    blake2 = hashlib.blake2b(digest_size=32)
    async with spooled(store, blob.sha256, on_chunk=blake2.update) as spool:
        if blake2_256 and blake2_256 != blake2.hexdigest():
            raise Invalid(
                f"blake2_256 mismatch: the upload's digest is {blake2.hexdigest()} but "
                f"{blake2_256} was announced"
            )
        try:
            if filename.endswith(".whl"):
                metadata = _wheel_metadata(spool)
            elif filename.endswith(".zip"):
                _sdist_zip_check(spool)
                return None
            else:
                _sdist_tar_check(spool)
                return None
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            raise Invalid(f"{filename} is not a valid archive: {exc}") from None
    headers = email.parser.BytesHeaderParser().parsebytes(metadata)
    meta_name, meta_version = headers.get("Name", ""), headers.get("Version", "")
    if normalize(meta_name) != normalize(name) or check_version(meta_version) != check_version(
        version
    ):
        raise Invalid(
            f"{filename}: its METADATA says {meta_name} {meta_version}, but the upload is for "
            f"{name} {version}"
        )
    return metadata


def _wheel_metadata(spool: IO[bytes]) -> bytes:
    with zipfile.ZipFile(spool) as archive:
        candidates = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(candidates) != 1:
            raise Invalid("a wheel must hold exactly one top-level *.dist-info/METADATA")
        info = archive.getinfo(candidates[0])
        if info.file_size > _METADATA_LIMIT:
            raise Invalid("the wheel's METADATA is larger than 16 MiB")
        return archive.read(info)


def _sdist_tar_check(spool: IO[bytes]) -> None:
    with tarfile.open(fileobj=spool, mode="r:gz") as archive:
        for member in archive:
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise Invalid(f"the sdist holds an unsafe path {member.name!r}")


def _sdist_zip_check(spool: IO[bytes]) -> None:
    with zipfile.ZipFile(spool) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise Invalid(f"the sdist's member {bad!r} is corrupt")
