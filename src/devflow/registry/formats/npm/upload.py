"""npm publishes: the publish document read into an `NpmUpload` for the one publish path.

`npm publish` sends one JSON document carrying the tarball in base64 (`_attachments`), the
version's manifest and the dist-tags. `body.read_publish` decodes the tarball into a temporary
blob as it arrives; `NpmUpload.read` checks the rest as npm does; `publish_upload` then records
it, and `NpmUpload.check` opens the stored tarball on the way.
"""

from __future__ import annotations

import base64
import gzip
import tarfile
from dataclasses import dataclass
from typing import IO, Any

import orjson

from devflow.core.auth import Principal
from devflow.core.blobs import BlobInfo, BlobStore
from devflow.core.errors import Invalid
from devflow.registry.blobs import spooled
from devflow.registry.formats.npm._common import FORMAT
from devflow.registry.formats.npm.body import PublishBody
from devflow.registry.formats.npm.meta import NpmFileMeta, NpmPackageMeta, NpmVersionMeta
from devflow.registry.formats.npm.names import (
    MAX_FILENAME,
    check_dist_tags,
    check_new_name,
    check_version,
    clean_version,
)
from devflow.registry.formats.npm.people import person
from devflow.registry.publish import CheckedFile, DependencySpec, IncomingFile, Release

_DEP_KINDS = {
    "dependencies": "runtime",
    "devDependencies": "dev",
    "peerDependencies": "peer",
    "optionalDependencies": "optional",
}
_README_LIMIT = 262144


@dataclass(frozen=True)
class NpmUpload:
    """One version's tarball from a publish document (`publish.Upload`)."""

    release: Release
    file: IncomingFile
    shasum: str
    """The sha1 hex the manifest's `dist.shasum` announced ("" if none)."""
    integrity: str
    """The manifest's `dist.integrity` ("" if none; only `sha512-…` is checked)."""
    format: str = FORMAT

    @classmethod
    def read(cls, sent: PublishBody, name: str, principal: Principal) -> NpmUpload:
        """Translate a publish document for package `name`, published by `principal`.

        Raises:
            Invalid: not exactly one tarball, one that matches no version, an empty one, a
                length that differs, or a name, version or dist-tag that npm would refuse.
        """
        body = sent.document
        attachment_name, version, manifest, attachment = _attachment(body, name)
        if sent.writer is None:
            raise Invalid(f"the attachment {attachment_name!r} has no data")
        length = attachment.get("length") if isinstance(attachment, dict) else None
        if length is not None and length != sent.size:
            raise Invalid(f"the attachment has {sent.size} bytes but its length says {length}")
        dist = manifest.get("dist") or {}
        if not isinstance(dist, dict):
            raise Invalid(f"the manifest of {attachment_name} has a `dist` that is not an object")
        stored = {k: v for k, v in manifest.items() if k not in {"readme", "_id"}}
        stored["_npmUser"] = person(principal.username)
        stored["dist"] = {k: v for k, v in dist.items() if k != "tarball"}
        tags = body.get("dist-tags") or {"latest": version}
        readme = body.get("readme") or manifest.get("readme")
        release = Release(
            name=name,
            display_name=name,
            version=version,
            summary=str(body.get("description") or ""),
            version_summary=str(manifest.get("description", "")),
            meta=NpmVersionMeta(manifest=stored),
            dependencies=tuple(
                DependencySpec(dep, str(spec), kind)
                for field, kind in _DEP_KINDS.items()
                for dep, spec in (manifest.get(field) or {}).items()
            ),
            once=True,
            tags=tuple(str(tag) for tag, target in tags.items() if target == version),
            first_tag="latest",
            package_meta=NpmPackageMeta(
                readme=str(readme)[:_README_LIMIT] if readme else None,
                maintainers=[{"name": principal.username}],
                publisher=principal.username,
            ),
        )
        return cls(
            release=release,
            file=IncomingFile(filename=attachment_name, writer=sent.writer, size=sent.size),
            shasum=str(dist.get("shasum") or ""),
            integrity=str(dist.get("integrity") or ""),
        )

    async def check(self, store: BlobStore, blob: BlobInfo) -> CheckedFile:
        """Check the tarball (gzip, its package.json) and the announced shasum and integrity.

        Raises:
            Invalid: naming what differs.
        """
        name, version = self.release.name, self.release.version
        await _check_tarball(store, blob.sha256, name=name, version=version)
        integrity = "sha512-" + base64.b64encode(bytes.fromhex(blob.sha512)).decode()
        if self.shasum and self.shasum != blob.sha1:
            raise Invalid(f"shasum mismatch: the tarball's sha1 is {blob.sha1}, not {self.shasum}")
        if self.integrity.startswith("sha512-") and self.integrity != integrity:
            raise Invalid("integrity mismatch: the tarball's sha512 differs from dist.integrity")
        return CheckedFile(meta=NpmFileMeta(shasum=blob.sha1, integrity=integrity))


def _attachment(body: dict[str, Any], name: str) -> tuple[str, str, dict[str, Any], Any]:
    """Return the tarball attachment's name, its version, that version's manifest, and the
    attachment's own fields.

    Raises:
        Invalid: not exactly one .tgz, one that matches no version of this package, or a name,
            version or dist-tag that npm would refuse.
    """
    check_new_name(name)
    attachments = body.get("_attachments") or {}
    tarballs = {k: v for k, v in attachments.items() if k.endswith(".tgz")}
    if len(tarballs) != 1:
        raise Invalid("a publish carries exactly one .tgz attachment")
    ((attachment_name, attachment),) = tarballs.items()
    version = attachment_name.removeprefix(f"{name}-").removesuffix(".tgz")
    manifest = (body.get("versions") or {}).get(version)
    if attachment_name != f"{name}-{version}.tgz" or not isinstance(manifest, dict):
        raise Invalid(f"the attachment {attachment_name!r} does not match a version in `versions`")
    if manifest.get("name") != name or manifest.get("version") != version:
        raise Invalid(f"the manifest of {attachment_name} names another package or version")
    check_version(version)
    if len(attachment_name) > MAX_FILENAME:
        raise Invalid(
            f"{attachment_name!r} is longer than {MAX_FILENAME} characters: shorten the package "
            "name or the version"
        )
    check_dist_tags(body.get("dist-tags") or {})
    return attachment_name, version, manifest, attachment


async def _check_tarball(store: BlobStore, sha256: str, *, name: str, version: str) -> None:
    async with spooled(store, sha256) as spool:
        if spool.read(2) != b"\x1f\x8b":
            raise Invalid("the tarball is not gzip-compressed (npm pack makes .tgz files)")
        spool.seek(0)
        raw = _package_json(spool)
    if raw is None:
        raise Invalid("the tarball has no package/package.json")
    try:
        inner = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("the tarball's package.json is not valid JSON") from None
    written = inner.get("version")
    # npm publishes the cleaned version of what package.json says: 1.0.0+build.7 as 1.0.0.
    cleaned = clean_version(written) if isinstance(written, str) else None
    if inner.get("name") != name or version not in {written, cleaned}:
        raise Invalid(
            f"the tarball's package.json says {inner.get('name')}@{inner.get('version')}, "
            f"but the publish is for {name}@{version}"
        )


def _package_json(spool: IO[bytes]) -> bytes | None:
    try:
        with tarfile.open(fileobj=spool, mode="r:gz") as archive:
            member = next(
                (
                    m
                    for m in archive
                    if m.name.split("/", 1)[-1] == "package.json" and m.name.count("/") == 1
                ),
                None,
            )
            return archive.extractfile(member).read() if member is not None else None  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise Invalid(f"the tarball is broken: {exc}") from None


__all__ = ["NpmUpload"]
