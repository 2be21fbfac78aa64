"""The blob store: content-addressed files shared by every domain (registry packages, CI
artifacts, uploads), in a folder (`FileBlobStore`) or an S3-compatible bucket (`S3BlobStore`,
from `devflow.core.blobs.s3`: boto3 is imported only when it is chosen).

`BLOB_STORE` names the process's store among its services; `BLOB_STORE_PROVIDER` makes it from
`DEVFLOW_BLOBS__…`.
"""

from devflow.core.blobs.factory import (
    BLOB_STORE_PROVIDER,
    MovedBlobSettings,
    blob_settings,
    blob_store_from_settings,
)
from devflow.core.blobs.filesystem import FileBlobStore
from devflow.core.blobs.ports import (
    BLOB_STORE,
    BlobInfo,
    BlobStore,
    BlobWriter,
    DigestMismatch,
    Hasher,
    StoredObject,
    UploadLost,
    check_sha256,
)

__all__ = [
    "BLOB_STORE",
    "BLOB_STORE_PROVIDER",
    "BlobInfo",
    "BlobStore",
    "BlobWriter",
    "DigestMismatch",
    "FileBlobStore",
    "Hasher",
    "MovedBlobSettings",
    "StoredObject",
    "UploadLost",
    "blob_settings",
    "blob_store_from_settings",
    "check_sha256",
]
