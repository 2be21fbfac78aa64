"""Settings of the registry domain (`DEVFLOW_REGISTRY__…`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class RegistrySettings(BaseModel):
    """The package registry: blob storage, upload limits and garbage collection."""

    blob_backend: Literal["filesystem", "s3"] = Field(
        "filesystem", description="Where package files live: `filesystem` or `s3`."
    )
    blob_dir: Path | None = Field(
        None, description="Folder of the filesystem blob store (default: DEVFLOW_HOME/blobs)."
    )
    s3_bucket: str = Field("", description="S3 bucket of the `s3` blob store.")
    s3_prefix: str = Field("", description="Key prefix inside the bucket (e.g. `devflow/`).")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph, moto); unset: AWS."
    )
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: SecretStr | None = Field(
        None, description="S3 access key id (unset: the usual AWS credential chain)."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    max_upload_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="Largest package file one upload may carry."
    )
    gc_grace_seconds: int = Field(
        3600,
        ge=0,
        description="Unreferenced blobs and abandoned temporary uploads younger than this are "
        "kept by garbage collection (protects uploads in flight).",
    )
    oci_untagged_retention_days: float | None = Field(
        None,
        ge=0,
        description="Garbage collection removes untagged OCI manifests older than this many days "
        "(index children and referrers of kept manifests stay); unset: never.",
    )

    def untagged_retention(self) -> timedelta | None:
        """`oci_untagged_retention_days` as a duration (None: keep untagged manifests)."""
        days = self.oci_untagged_retention_days
        return None if days is None else timedelta(days=days)


__all__ = ["RegistrySettings"]
