"""Package views of the REST API and the CLI: listings, search, and a package in full.

Every function takes the caller's `Principal` and shows only what it may read.
"""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from devflow.core.auth import Principal
from devflow.core.errors import Invalid
from devflow.registry.formats import find_format
from devflow.registry.models import (
    Dependency,
    Package,
    PackageFile,
    PackageVersion,
    Repository,
    Tag,
)
from devflow.registry.schemas import FileRead, PackageDetail, PackageRead, VersionRead
from devflow.registry.service import (
    files_of,
    list_versions,
    readable_repositories,
    require_package,
    require_repository,
    stored_name,
)

_SEARCH_LIMIT = 200


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
    readable = readable_repositories(principal)
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
    fmt = find_format(repo.format)
    if fmt is None:
        return f"{base_url}/{repo.format}/{repo.name}/files/{file.filename}"
    return fmt.file_url(repo, package, file, base_url)


async def describe_package(
    session: AsyncSession, *, principal: Principal, repository: str, name: str, base_url: str
) -> PackageDetail:
    """Return a package with its versions, files, dependencies and tags."""
    repo = await require_repository(session, principal=principal, name=repository)
    package = await require_package(session, repo=repo, name=stored_name(repo, name))
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


__all__ = ["describe_package", "file_url", "list_packages", "search_packages"]
