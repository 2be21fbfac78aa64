"""Registry input and output shapes for the REST API and the CLI."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from devflow.registry.access import Visibility


class FormatName(StrEnum):
    """Package format names, served or planned (`formats.FORMATS` holds the served ones)."""

    PYPI = "pypi"
    NPM = "npm"
    OCI = "oci"
    CARGO = "cargo"
    MAVEN = "maven"
    APT = "apt"
    HELM = "helm"


class Kind(StrEnum):
    """How a repository gets its packages: uploads (hosted) now; proxy and group later."""

    HOSTED = "hosted"
    PROXY = "proxy"
    GROUP = "group"


RepoName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$",
    ),
]


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RepositoryCreate(BaseModel):
    """A new repository."""

    name: RepoName = Field(description="Unique across the instance; appears in client URLs.")
    format: FormatName
    kind: Kind = Kind.HOSTED
    project: str | None = Field(None, description="Owning project (default: `default`).")
    visibility: Visibility = Visibility.PRIVATE
    description: str = Field("", max_length=2000)


class RepositoryUpdate(BaseModel):
    """Changes to a repository."""

    visibility: Visibility | None = None
    description: str | None = Field(None, max_length=2000)


class RepositoryRead(_Read):
    """A repository and the URLs its clients use."""

    id: uuid.UUID
    name: str
    project: str
    format: str
    kind: str
    visibility: str
    description: str
    created_at: datetime
    url: str = Field(description="Where clients install from (pip's index, npm's registry).")
    upload_url: str = Field(description="Where clients publish to (twine's repository URL).")


class FileRead(_Read):
    """A file of a version."""

    filename: str
    size: int
    sha256: str
    url: str
    downloads: int
    created_at: datetime
    meta: dict[str, Any]


class VersionRead(_Read):
    """A version of a package."""

    version: str
    summary: str
    yanked: bool
    yanked_reason: str | None
    deprecated: str | None
    published_at: datetime
    downloads: int
    files: list[FileRead] = []
    dependencies: list[dict[str, str]] = []


class PackageRead(_Read):
    """A package."""

    repository: str
    format: str
    name: str
    display_name: str
    summary: str
    latest: str | None
    versions: int
    downloads: int
    updated_at: datetime


class PackageDetail(PackageRead):
    """A package with its versions and tags."""

    tags: dict[str, str]
    version_list: list[VersionRead]


class YankRequest(BaseModel):
    """Why a version is yanked."""

    reason: str = Field("", max_length=1000)


class DeprecateRequest(BaseModel):
    """A deprecation message (empty: undeprecate)."""

    message: str = Field("", max_length=1000)


class RepositoryStats(BaseModel):
    """Storage and use of one repository."""

    repository: str
    format: str
    packages: int
    versions: int
    files: int
    bytes: int
    downloads: int


class FormatStats(BaseModel):
    """Storage and use of every repository of one format."""

    format: str
    repositories: int
    packages: int
    versions: int
    files: int
    bytes: int
    downloads: int


class StatsRead(BaseModel):
    """Registry statistics the caller may see; blob totals for instance admins."""

    repositories: list[RepositoryStats]
    formats: list[FormatStats]
    blobs: int | None = None
    blob_bytes: int | None = None


class GcRequest(BaseModel):
    """Run garbage collection."""

    dry_run: StrictBool = Field(
        False,
        description="Report what would be removed, remove nothing (true or false: a destructive "
        "switch takes no 0, 1 or strings).",
    )


class GcReport(BaseModel):
    """What garbage collection removed (or would remove)."""

    dry_run: bool
    blobs_removed: int
    bytes_removed: int
    temporaries_removed: int
    orphan_objects_removed: int
    kept_in_grace: int
    untagged_manifests_removed: int = Field(
        0, description="Untagged OCI manifests past DEVFLOW_REGISTRY__OCI_UNTAGGED_RETENTION_DAYS."
    )
    job_id: int | None = None
