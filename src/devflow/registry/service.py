"""Registry management: repositories, packages, versions, yank/deprecate/delete, search, stats.

Protocol endpoints (formats/) and the REST API both call these; every function takes the caller's
`Principal` (None for anonymous protocol reads) and checks access itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from devflow.core import clock, events
from devflow.core.auth import Principal, Role, Scope
from devflow.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from devflow.identity import Project, require_project, visible_project_ids
from devflow.registry import access
from devflow.registry.models import (
    Blob,
    Dependency,
    OciBlobLink,
    OciManifest,
    Package,
    PackageFile,
    PackageVersion,
    Repository,
    Tag,
)
from devflow.registry.schemas import (
    SERVED_FORMATS,
    FileRead,
    Format,
    FormatStats,
    Kind,
    PackageDetail,
    PackageRead,
    RepositoryCreate,
    RepositoryRead,
    RepositoryStats,
    RepositoryUpdate,
    StatsRead,
    VersionRead,
)

_SEARCH_LIMIT = 200


# -- repositories ---------------------------------------------------------------------------------


async def get_repository(session: AsyncSession, *, name: str) -> Repository | None:
    """Return a repository by name, or None."""
    return await session.scalar(select(Repository).where(Repository.name == name))


def client_url(repo: Repository, base_url: str) -> str:
    """Return the URL a package client is pointed at for this repository."""
    if repo.format == Format.PYPI:
        return f"{base_url}/pypi/{repo.name}/simple/"
    if repo.format == Format.NPM:
        return f"{base_url}/npm/{repo.name}/"
    if repo.format == Format.OCI:
        return base_url.split("://", 1)[-1]
    return f"{base_url}/{repo.format}/{repo.name}/"


async def read_repository(
    session: AsyncSession, repo: Repository, *, base_url: str
) -> RepositoryRead:
    """Return the API view of a repository."""
    project = await session.get_one(Project, repo.project_id)
    return RepositoryRead(
        id=repo.id,
        name=repo.name,
        project=project.name,
        format=repo.format,
        kind=repo.kind,
        visibility=repo.visibility,
        description=repo.description,
        created_at=repo.created_at,
        url=client_url(repo, base_url),
    )


async def create_repository(
    session: AsyncSession, *, principal: Principal, data: RepositoryCreate
) -> Repository:
    """Create a repository in a project the caller administers.

    Raises:
        Conflict: the name is taken (names are unique across the instance).
        Invalid: a format or kind this version cannot serve yet.
    """
    project = await require_project(
        session, principal=principal, name=data.project, role=Role.ADMIN
    )
    if data.kind is not Kind.HOSTED:
        raise Invalid(f"{data.kind.value} repositories are not available yet; use --kind hosted")
    if data.format not in SERVED_FORMATS:
        served = ", ".join(sorted(f.value for f in SERVED_FORMATS))
        raise Invalid(f"the {data.format.value} format is not available yet; available: {served}")
    if await get_repository(session, name=data.name) is not None:
        raise Conflict(f"a repository named {data.name!r} already exists")
    repo = Repository(
        name=data.name,
        project_id=project.id,
        format=data.format.value,
        kind=data.kind.value,
        visibility=data.visibility.value,
        description=data.description,
        config={},
        created_by=principal.user_id,
    )
    session.add(repo)
    await session.flush()
    await events.emit(
        session,
        type="registry.repository.created",
        project_id=project.id,
        actor_id=principal.user_id,
        payload={"repository": repo.name, "format": repo.format, "visibility": repo.visibility},
    )
    return repo


def _readable(principal: Principal) -> Select[Repository]:
    query = select(Repository)
    if principal.is_instance_admin:
        return query
    visible = visible_project_ids(principal) or []
    conditions = [Repository.visibility == access.Visibility.PUBLIC]
    if principal.has_scope(Scope.REGISTRY_READ):
        conditions.append(Repository.project_id.in_(visible))
        if principal.project_id is None:
            conditions.append(Repository.visibility == access.Visibility.INTERNAL)
    return query.where(or_(*conditions))


async def list_repositories(
    session: AsyncSession, *, principal: Principal, fmt: str | None = None
) -> list[Repository]:
    """Return the repositories the caller may read, by name."""
    query = _readable(principal).order_by(Repository.name)
    if fmt:
        query = query.where(Repository.format == fmt)
    return list(await session.scalars(query))


async def require_repository(
    session: AsyncSession, *, principal: Principal | None, name: str
) -> Repository:
    """Return a repository the caller may read.

    Raises:
        NotFound, Unauthenticated: see `access.require_read`.
    """
    return access.require_read(principal, await get_repository(session, name=name), name)


async def update_repository(
    session: AsyncSession, *, principal: Principal, name: str, data: RepositoryUpdate
) -> Repository:
    """Change a repository's visibility or description (project admins)."""
    repo = await require_repository(session, principal=principal, name=name)
    _require_project_admin(principal, repo)
    if data.visibility is not None:
        repo.visibility = data.visibility.value
    if data.description is not None:
        repo.description = data.description
    await session.flush()
    return repo


def _require_project_admin(principal: Principal, repo: Repository) -> None:
    principal.require_scope(Scope.WRITE)
    if not access.has_role(principal, repo, Role.ADMIN):
        raise PermissionDenied(f"only admins of {repo.name!r}'s project may change it")


async def delete_repository(session: AsyncSession, *, principal: Principal, name: str) -> None:
    """Delete a repository and everything in it (project admins); blobs go at the next GC."""
    repo = await require_repository(session, principal=principal, name=name)
    _require_project_admin(principal, repo)
    await session.delete(repo)
    await session.flush()
    await events.emit(
        session,
        type="registry.repository.deleted",
        project_id=repo.project_id,
        actor_id=principal.user_id,
        payload={"repository": repo.name, "format": repo.format},
    )


# -- packages and versions ------------------------------------------------------------------------


async def get_package(session: AsyncSession, *, repo: Repository, name: str) -> Package | None:
    """Return a package of a repository by its (normalized) name."""
    return await session.scalar(
        select(Package).where(Package.repository_id == repo.id, Package.name == name)
    )


async def require_package(session: AsyncSession, *, repo: Repository, name: str) -> Package:
    """Return a package or raise NotFound."""
    package = await get_package(session, repo=repo, name=name)
    if package is None:
        raise NotFound(f"no package {name!r} in {repo.name!r}")
    return package


async def list_versions(session: AsyncSession, *, package: Package) -> list[PackageVersion]:
    """Return a package's versions, oldest first."""
    return list(
        await session.scalars(
            select(PackageVersion)
            .where(PackageVersion.package_id == package.id)
            .order_by(PackageVersion.published_at, PackageVersion.version)
        )
    )


async def require_version(
    session: AsyncSession, *, package: Package, version: str
) -> PackageVersion:
    """Return a version or raise NotFound."""
    found = await session.scalar(
        select(PackageVersion).where(
            PackageVersion.package_id == package.id, PackageVersion.version == version
        )
    )
    if found is None:
        raise NotFound(f"no version {version!r} of {package.display_name!r}")
    return found


async def files_of(session: AsyncSession, *, version_ids: list[uuid.UUID]) -> list[PackageFile]:
    """Return the files of some versions, by file name."""
    if not version_ids:
        return []
    return list(
        await session.scalars(
            select(PackageFile)
            .where(PackageFile.version_id.in_(version_ids))
            .order_by(PackageFile.filename)
        )
    )


async def touch_package(session: AsyncSession, package: Package) -> None:
    """Record a change to a package (npm `_rev`, ETags, `modified` times)."""
    await session.execute(
        update(Package)
        .where(Package.id == package.id)
        .values(revision=Package.revision + 1, updated_at=clock.now())
    )
    await session.refresh(package)


def _summaries(
    rows: list[tuple[Package, Repository, str | None, int]],
) -> list[PackageRead]:
    return [
        PackageRead(
            repository=repo.name,
            format=repo.format,
            name=pkg.name,
            display_name=pkg.display_name,
            summary=pkg.summary,
            latest=latest,
            versions=count,
            downloads=pkg.downloads,
            updated_at=pkg.updated_at,
        )
        for pkg, repo, latest, count in rows
    ]


def _package_rows(
    query_filter: Select[Repository],
) -> Select[Package, Repository, str | None, int]:
    readable = query_filter.subquery()
    latest = (
        select(PackageVersion.version)
        .where(PackageVersion.package_id == Package.id)
        .order_by(PackageVersion.published_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    count = (
        select(func.count())
        .select_from(PackageVersion)
        .where(PackageVersion.package_id == Package.id)
        .scalar_subquery()
    )
    return (
        select(Package, Repository, latest, count)
        .join(Repository, Repository.id == Package.repository_id)
        .where(Repository.id.in_(select(readable.c.id)))
    )


async def list_packages(
    session: AsyncSession, *, principal: Principal, repository: str, query: str | None = None
) -> list[PackageRead]:
    """Return the packages of a repository (optionally matching `query`), by name."""
    repo = await require_repository(session, principal=principal, name=repository)
    stmt = _package_rows(select(Repository).where(Repository.id == repo.id)).order_by(Package.name)
    if query:
        stmt = stmt.where(_matches(query))
    rows = (await session.execute(stmt.limit(_SEARCH_LIMIT * 5))).all()
    return _summaries([(r[0], r[1], r[2], r[3]) for r in rows])


def _matches(query: str) -> ColumnElement[bool]:
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(Package.name.ilike(pattern), Package.summary.ilike(pattern))


async def search_packages(
    session: AsyncSession, *, principal: Principal, query: str, fmt: str | None = None
) -> list[PackageRead]:
    """Search packages by name and summary in every repository the caller may read."""
    if not query.strip():
        raise Invalid("give a search text (q=...)")
    readable = _readable(principal)
    if fmt:
        readable = readable.where(Repository.format == fmt)
    stmt = (
        _package_rows(readable)
        .where(_matches(query.strip()))
        .order_by(func.similarity(Package.name, query.strip()).desc(), Package.name)
        .limit(_SEARCH_LIMIT)
    )
    rows = (await session.execute(stmt)).all()
    return _summaries([(r[0], r[1], r[2], r[3]) for r in rows])


def file_url(repo: Repository, file: PackageFile, package: Package, base_url: str) -> str:
    """Return the absolute download URL of a file."""
    if repo.format == Format.NPM:
        basename = file.filename.rsplit("/", 1)[-1]
        return f"{base_url}/npm/{repo.name}/{package.name}/-/{basename}"
    return f"{base_url}/pypi/{repo.name}/files/{file.filename}"


async def describe_package(
    session: AsyncSession, *, principal: Principal, repository: str, name: str, base_url: str
) -> PackageDetail:
    """Return a package with its versions, files, dependencies and tags."""
    repo = await require_repository(session, principal=principal, name=repository)
    package = await require_package(session, repo=repo, name=_normalize_for(repo, name))
    versions = await list_versions(session, package=package)
    files = await files_of(session, version_ids=[v.id for v in versions])
    deps = list(
        await session.scalars(
            select(Dependency).where(Dependency.version_id.in_([v.id for v in versions]))
        )
    )
    tag_rows = await session.execute(
        select(Tag.name, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == Tag.version_id)
        .where(Tag.package_id == package.id)
    )
    tags = dict(tag_rows.all())
    version_list = [
        VersionRead(
            version=v.version,
            summary=v.summary,
            yanked=v.yanked,
            yanked_reason=v.yanked_reason,
            deprecated=v.deprecated,
            published_at=v.published_at,
            downloads=v.downloads,
            files=[
                FileRead(
                    filename=f.filename,
                    size=f.size,
                    sha256=f.blob_sha256,
                    url=file_url(repo, f, package, base_url),
                    downloads=f.downloads,
                    created_at=f.created_at,
                    meta=f.meta,
                )
                for f in files
                if f.version_id == v.id
            ],
            dependencies=[
                {"name": d.name, "specifier": d.specifier, "kind": d.kind}
                for d in deps
                if d.version_id == v.id
            ],
        )
        for v in versions
    ]
    return PackageDetail(
        repository=repo.name,
        format=repo.format,
        name=package.name,
        display_name=package.display_name,
        summary=package.summary,
        latest=versions[-1].version if versions else None,
        versions=len(versions),
        downloads=package.downloads,
        updated_at=package.updated_at,
        tags=tags,
        version_list=version_list,
    )


def _normalize_for(repo: Repository, name: str) -> str:
    if repo.format == Format.PYPI:
        from devflow.registry.formats.pypi_names import normalize

        return normalize(name)
    return name


@dataclass(frozen=True)
class VersionRef:
    """A version with its package and repository, as the change functions need them."""

    repo: Repository
    package: Package
    version: PackageVersion


async def _version_for_change(
    session: AsyncSession,
    *,
    principal: Principal,
    repository: str,
    name: str,
    version: str,
    admin: bool = False,
) -> VersionRef:
    found = await get_repository(session, name=repository)
    check = access.require_admin if admin else access.require_publish
    repo = check(principal, found, repository)
    package = await require_package(session, repo=repo, name=_normalize_for(repo, name))
    ver = await require_version(session, package=package, version=version)
    return VersionRef(repo, package, ver)


async def yank_version(
    session: AsyncSession,
    *,
    principal: Principal,
    repository: str,
    name: str,
    version: str,
    reason: str | None,
    yanked: bool = True,
) -> PackageVersion:
    """Yank (or un-yank) a version: installers skip it unless it is pinned (PEP 592)."""
    ref = await _version_for_change(
        session, principal=principal, repository=repository, name=name, version=version
    )
    ref.version.yanked = yanked
    ref.version.yanked_reason = (reason or None) if yanked else None
    await touch_package(session, ref.package)
    await events.emit(
        session,
        type="registry.version.yanked" if yanked else "registry.version.unyanked",
        project_id=ref.repo.project_id,
        actor_id=principal.user_id,
        payload={
            "repository": ref.repo.name,
            "package": ref.package.name,
            "version": version,
            "reason": reason or "",
        },
    )
    return ref.version


async def deprecate_version(
    session: AsyncSession,
    *,
    principal: Principal,
    repository: str,
    name: str,
    version: str,
    message: str,
) -> PackageVersion:
    """Mark a version deprecated with a message (empty message: undeprecate)."""
    ref = await _version_for_change(
        session, principal=principal, repository=repository, name=name, version=version
    )
    ref.version.deprecated = message or None
    await touch_package(session, ref.package)
    await events.emit(
        session,
        type="registry.version.deprecated",
        project_id=ref.repo.project_id,
        actor_id=principal.user_id,
        payload={
            "repository": ref.repo.name,
            "package": ref.package.name,
            "version": version,
            "message": message,
        },
    )
    return ref.version


async def delete_version(
    session: AsyncSession, *, principal: Principal, repository: str, name: str, version: str
) -> None:
    """Delete a version and its files (project admins only); blobs go at the next GC."""
    ref = await _version_for_change(
        session, principal=principal, repository=repository, name=name, version=version, admin=True
    )
    await session.execute(delete(PackageVersion).where(PackageVersion.id == ref.version.id))
    remaining = await session.scalar(
        select(func.count())
        .select_from(PackageVersion)
        .where(PackageVersion.package_id == ref.package.id)
    )
    if remaining:
        await touch_package(session, ref.package)
    else:
        await session.execute(delete(Package).where(Package.id == ref.package.id))
    await events.emit(
        session,
        type="registry.version.deleted",
        project_id=ref.repo.project_id,
        actor_id=principal.user_id,
        payload={"repository": ref.repo.name, "package": ref.package.name, "version": version},
    )


async def delete_package(
    session: AsyncSession, *, principal: Principal, repository: str, name: str
) -> None:
    """Delete a package with all its versions (project admins only)."""
    found = await get_repository(session, name=repository)
    repo = access.require_admin(principal, found, repository)
    package = await require_package(session, repo=repo, name=_normalize_for(repo, name))
    await session.execute(delete(Package).where(Package.id == package.id))
    await events.emit(
        session,
        type="registry.package.deleted",
        project_id=repo.project_id,
        actor_id=principal.user_id,
        payload={"repository": repo.name, "package": package.name},
    )


# -- statistics -----------------------------------------------------------------------------------


async def stats(
    session: AsyncSession, *, principal: Principal, repository: str | None = None
) -> StatsRead:
    """Return storage and download statistics per repository and per format."""
    readable = _readable(principal)
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
