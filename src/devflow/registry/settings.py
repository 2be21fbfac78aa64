"""Settings of the registry domain (`DEVFLOW_REGISTRY__…`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator

log = logging.getLogger(__name__)

# The blob store's settings moved to core (`DEVFLOW_BLOBS__…`, core.config.BlobSettings). Their
# former names here still apply where the new ones are unset: field here -> field there.
_MOVED = {
    "blob_backend": "backend",
    "blob_dir": "dir",
    "s3_bucket": "s3_bucket",
    "s3_prefix": "s3_prefix",
    "s3_endpoint_url": "s3_endpoint_url",
    "s3_region": "s3_region",
    "s3_access_key_id": "s3_access_key_id",
    "s3_secret_access_key": "s3_secret_access_key",
}
_DEPRECATED = "Deprecated: use DEVFLOW_BLOBS__{} (which wins when both are set)."


class RegistrySettings(BaseModel):
    """The package registry: upload limits and garbage collection (blob storage: `blobs`)."""

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
    blob_backend: Literal["filesystem", "s3"] | None = Field(
        None, description=_DEPRECATED.format("BACKEND")
    )
    blob_dir: Path | None = Field(None, description=_DEPRECATED.format("DIR"))
    s3_bucket: str | None = Field(None, description=_DEPRECATED.format("S3_BUCKET"))
    s3_prefix: str | None = Field(None, description=_DEPRECATED.format("S3_PREFIX"))
    s3_endpoint_url: str | None = Field(None, description=_DEPRECATED.format("S3_ENDPOINT_URL"))
    s3_region: str | None = Field(None, description=_DEPRECATED.format("S3_REGION"))
    s3_access_key_id: SecretStr | None = Field(
        None, description=_DEPRECATED.format("S3_ACCESS_KEY_ID")
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description=_DEPRECATED.format("S3_SECRET_ACCESS_KEY")
    )

    def untagged_retention(self) -> timedelta | None:
        """`oci_untagged_retention_days` as a duration (None: keep untagged manifests)."""
        days = self.oci_untagged_retention_days
        return None if days is None else timedelta(days=days)

    def moved_blob_settings(self) -> dict[str, Any]:
        """Return the blob store settings given under their former names, keyed by their
        field in `DEVFLOW_BLOBS__…` (`core.blobs.MovedBlobSettings`)."""
        return {
            new: getattr(self, old) for old, new in _MOVED.items() if getattr(self, old) is not None
        }

    @model_validator(mode="after")
    def _warn_of_moved_names(self) -> Self:
        # At start, where the settings are read: a deprecation that nobody sees helps nobody.
        for old, new in _MOVED.items():
            if getattr(self, old) is not None:
                log.warning(
                    "DEVFLOW_REGISTRY__%s is deprecated: use DEVFLOW_BLOBS__%s",
                    old.upper(),
                    new.upper(),
                )
        return self


__all__ = ["RegistrySettings"]
