"""Changes to published versions and packages (yank, deprecate, delete) and tags.

Versions are immutable: what can change is whether installers should use one (a yank, PEP 592;
a deprecation message) and, for project admins only, whether it exists at all. Tags (npm
dist-tags) are movable names for versions; every change bumps the package's revision, so cached
index pages of every process are replaced at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core import clock, events
from devflow.core.auth import Principal
from devflow.registry import access
from devflow.registry.models import Package, PackageVersion, Repository, Tag
from devflow.registry.service import (
    get_repository,
    require_package,
    require_version,
    stored_name,
    touch_package,
)


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
    package = await require_package(session, repo=repo, name=stored_name(repo, name))
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
    package = await require_package(session, repo=repo, name=stored_name(repo, name))
    await session.execute(delete(Package).where(Package.id == package.id))
    await events.emit(
        session,
        type="registry.package.deleted",
        project_id=repo.project_id,
        actor_id=principal.user_id,
        payload={"repository": repo.name, "package": package.name},
    )


# -- tags -----------------------------------------------------------------------------------------


async def tags_of(session: AsyncSession, package: Package) -> dict[str, str]:
    """Return the package's tags and the versions they point at, by tag name."""
    rows = await session.execute(
        select(Tag.name, PackageVersion.version)
        .join(PackageVersion, PackageVersion.id == Tag.version_id)
        .where(Tag.package_id == package.id)
        .order_by(Tag.name)
    )
    return dict(rows.all())


async def point_tag(
    session: AsyncSession,
    package: Package,
    tag: str,
    version: PackageVersion,
    *,
    check_new: Callable[[str], object] | None = None,
) -> None:
    """Point `tag` at `version`, making the tag if it is new (`check_new` checks its name
    first: a tag made before a format's rules can still be moved, not made anew)."""
    existing = await session.scalar(
        select(Tag).where(Tag.package_id == package.id, Tag.name == tag)
    )
    if existing is None:
        if check_new is not None:
            check_new(tag)
        session.add(Tag(package_id=package.id, name=tag, version_id=version.id))
    else:
        existing.version_id = version.id
        existing.updated_at = clock.now()
    await session.flush()


async def remove_tag(session: AsyncSession, package: Package, tag: str) -> None:
    """Remove a tag from a package (nothing happens if it has no such tag)."""
    await session.execute(delete(Tag).where(Tag.package_id == package.id, Tag.name == tag))


__all__ = [
    "delete_package",
    "delete_version",
    "deprecate_version",
    "point_tag",
    "remove_tag",
    "tags_of",
    "yank_version",
]
