"""The process's blob store as the settings choose it, and the provider that makes it.

The store's settings are core's (`DEVFLOW_BLOBS__…`). They used to be the registry's
(`DEVFLOW_REGISTRY__BLOB_BACKEND`, `__BLOB_DIR`, `__S3_*`); a section that still reads such
former names offers them through `MovedBlobSettings`, and each applies while its new name is
unset, so that no deployment breaks. Core names no domain: it only asks the sections it is given.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from devflow.core.blobs.filesystem import FileBlobStore
from devflow.core.blobs.ports import BLOB_STORE, BlobStore
from devflow.core.config import BlobSettings, Settings
from devflow.core.errors import Invalid
from devflow.core.services import Provider, Services


@runtime_checkable
class MovedBlobSettings(Protocol):
    """A settings section that still accepts blob store settings under their former names."""

    def moved_blob_settings(self) -> dict[str, Any]:
        """Return the values set under former names, keyed by their `BlobSettings` field."""
        ...


def blob_settings(settings: Settings) -> BlobSettings:
    """Return the blob store settings in effect: `settings.blobs`, where a field left unset there
    takes its value under a former name if one was given."""
    current = settings.blobs
    moved: dict[str, Any] = {}
    for name in type(settings).model_fields:
        section = getattr(settings, name)
        if isinstance(section, MovedBlobSettings):
            moved.update(section.moved_blob_settings())
    moved = {k: v for k, v in moved.items() if k not in current.model_fields_set}
    return current.model_copy(update=moved) if moved else current


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """Build the configured blob store.

    Raises:
        Invalid: the S3 store is chosen without a bucket.
    """
    conf = blob_settings(settings)
    if conf.backend == "s3":
        if not conf.s3_bucket:
            raise Invalid("DEVFLOW_BLOBS__S3_BUCKET must be set when the blob backend is s3")
        from devflow.core.blobs.s3 import S3BlobStore  # boto3 is slow to import

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
        conf.dir or settings.home / "blobs",
        file_mode=settings.files.file_mode,
        dir_mode=settings.files.dir_mode,
    )


def _make(services: Services) -> BlobStore:
    return blob_store_from_settings(services.settings)


BLOB_STORE_PROVIDER: Provider[BlobStore] = Provider(BLOB_STORE, _make)
"""Makes the process's blob store on first use (core's own provider, see `devflow.domains`)."""
