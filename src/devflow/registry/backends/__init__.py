"""Blob store implementations and the factory that picks one from settings."""

from __future__ import annotations

from devflow.core.config import Settings
from devflow.core.errors import Invalid
from devflow.registry.backends.filesystem import FileBlobStore
from devflow.registry.ports import BlobStore
from devflow.registry.settings import RegistrySettings

__all__ = ["FileBlobStore", "blob_store_from_settings"]


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """Build the configured blob store.

    Raises:
        Invalid: the S3 store is chosen without a bucket.
    """
    conf = settings.section(RegistrySettings)
    if conf.blob_backend == "s3":
        if not conf.s3_bucket:
            raise Invalid("DEVFLOW_REGISTRY__S3_BUCKET must be set when the blob backend is s3")
        from devflow.registry.backends.s3 import S3BlobStore  # boto3 is slow to import

        return S3BlobStore(
            bucket=conf.s3_bucket,
            prefix=conf.s3_prefix,
            endpoint_url=conf.s3_endpoint_url,
            region=conf.s3_region,
            access_key_id=conf.s3_access_key_id.get_secret_value()
            if conf.s3_access_key_id
            else None,
            secret_access_key=conf.s3_secret_access_key.get_secret_value()
            if conf.s3_secret_access_key
            else None,
        )
    return FileBlobStore(
        conf.blob_dir or settings.home / "blobs",
        file_mode=settings.files.file_mode,
        dir_mode=settings.files.dir_mode,
    )
