"""Registry statistics: storage and downloads per repository and per format.

OCI repositories keep their own tables: their manifests count as versions, and the layers and
configs linked into them, with the manifests themselves, as files and bytes.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.registry.models import (
    Blob,
    OciBlobLink,
    OciManifest,
    Package,
    PackageFile,
    PackageVersion,
    Repository,
)
from devflow.registry.schemas import FormatStats, RepositoryStats, StatsRead
from devflow.registry.service import readable_repositories, require_repository


async def stats(
    session: AsyncSession, *, principal: Principal, repository: str | None = None
) -> StatsRead:
    """Return storage and download statistics per repository and per format."""
    readable = readable_repositories(principal)
    if repository is not None:
        repo = await require_repository(session, principal=principal, name=repository)
        readable = readable.where(Repository.id == repo.id)
    repos = readable.subquery()
    pkg_counts = (
        select(
            Package.repository_id.label("rid"),
            func.count().label("packages"),
            func.coalesce(func.sum(Package.downloads), 0).label("downloads"),
        )
        .group_by(Package.repository_id)
        .subquery()
    )
    ver_counts = (
        select(Package.repository_id.label("rid"), func.count(PackageVersion.id).label("versions"))
        .join(PackageVersion, PackageVersion.package_id == Package.id)
        .group_by(Package.repository_id)
        .subquery()
    )
    file_counts = (
        select(
            PackageFile.repository_id.label("rid"),
            func.count().label("files"),
            func.coalesce(func.sum(PackageFile.size), 0).label("bytes"),
        )
        .group_by(PackageFile.repository_id)
        .subquery()
    )
    # OCI: manifests count as versions; layers and configs linked into the repository, and the
    # manifests themselves, as files and bytes.
    oci_blobs = (
        select(
            OciBlobLink.repository_id.label("rid"),
            func.count().label("files"),
            func.coalesce(func.sum(Blob.size), 0).label("bytes"),
        )
        .join(Blob, Blob.sha256 == OciBlobLink.sha256)
        .group_by(OciBlobLink.repository_id)
        .subquery()
    )
    oci_manifests = (
        select(
            OciManifest.repository_id.label("rid"),
            func.count().label("manifests"),
            func.coalesce(func.sum(OciManifest.size), 0).label("bytes"),
        )
        .group_by(OciManifest.repository_id)
        .subquery()
    )
    manifests = func.coalesce(oci_manifests.c.manifests, 0)
    rows = await session.execute(
        select(
            repos.c.name,
            repos.c.format,
            func.coalesce(pkg_counts.c.packages, 0),
            func.coalesce(ver_counts.c.versions, 0) + manifests,
            func.coalesce(file_counts.c.files, 0) + func.coalesce(oci_blobs.c.files, 0) + manifests,
            func.coalesce(file_counts.c.bytes, 0)
            + func.coalesce(oci_blobs.c.bytes, 0)
            + func.coalesce(oci_manifests.c.bytes, 0),
            func.coalesce(pkg_counts.c.downloads, 0),
        )
        .select_from(repos)
        .outerjoin(pkg_counts, pkg_counts.c.rid == repos.c.id)
        .outerjoin(ver_counts, ver_counts.c.rid == repos.c.id)
        .outerjoin(file_counts, file_counts.c.rid == repos.c.id)
        .outerjoin(oci_blobs, oci_blobs.c.rid == repos.c.id)
        .outerjoin(oci_manifests, oci_manifests.c.rid == repos.c.id)
        .order_by(repos.c.name)
    )
    per_repo = [
        RepositoryStats(
            repository=r[0],
            format=r[1],
            packages=int(r[2]),
            versions=int(r[3]),
            files=int(r[4]),
            bytes=int(r[5]),
            downloads=int(r[6]),
        )
        for r in rows
    ]
    per_format: dict[str, FormatStats] = {}
    for r in per_repo:
        f = per_format.setdefault(
            r.format,
            FormatStats(
                format=r.format,
                repositories=0,
                packages=0,
                versions=0,
                files=0,
                bytes=0,
                downloads=0,
            ),
        )
        f.repositories += 1
        f.packages += r.packages
        f.versions += r.versions
        f.files += r.files
        f.bytes += r.bytes
        f.downloads += r.downloads
    result = StatsRead(
        repositories=per_repo, formats=sorted(per_format.values(), key=lambda f: f.format)
    )
    if principal.is_instance_admin and repository is None:
        blobs = (
            await session.execute(select(func.count(), func.coalesce(func.sum(Blob.size), 0)))
        ).one()
        result.blobs, result.blob_bytes = int(blobs[0]), int(blobs[1])
    return result


__all__ = ["stats"]
