"""The blob store is core's: `DEVFLOW_BLOBS__…` chooses it, and the registry's former names
(`DEVFLOW_REGISTRY__BLOB_BACKEND`, `__BLOB_DIR`, `__S3_*`) still do, with a warning, so that no
deployment breaks."""

from __future__ import annotations

import logging

import pytest

from devflow.core.blobs import BLOB_STORE, FileBlobStore, blob_store_from_settings
from devflow.core.blobs.s3 import S3BlobStore
from devflow.core.config import describe_settings
from devflow.core.errors import Invalid
from devflow.domains import providers
from devflow.settings import load_settings


class TestBlobSettings:
    def test_the_store_is_a_folder_under_the_home_by_default(self, tmp_path):
        store = blob_store_from_settings(load_settings(home=tmp_path))
        assert isinstance(store, FileBlobStore)
        assert store.root == tmp_path / "blobs"

    def test_the_blobs_section_chooses_the_folder(self, tmp_path, monkeypatch):
        monkeypatch.setenv("DEVFLOW_BLOBS__DIR", str(tmp_path / "elsewhere"))
        store = blob_store_from_settings(load_settings(home=tmp_path))
        assert isinstance(store, FileBlobStore)
        assert store.root == tmp_path / "elsewhere"

    def test_the_blobs_section_chooses_a_bucket(self, tmp_path):
        settings = load_settings(
            home=tmp_path,
            blobs={
                "backend": "s3",
                "s3_bucket": "packages",
                "s3_prefix": "devflow/",
                "s3_endpoint_url": "http://127.0.0.1:9",
                "s3_access_key_id": "test",
                "s3_secret_access_key": "test",
            },
        )
        store = blob_store_from_settings(settings)
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix) == ("packages", "devflow/")

    def test_a_bucket_store_without_a_bucket_is_refused_naming_the_variable(self, tmp_path):
        settings = load_settings(home=tmp_path, blobs={"backend": "s3"})
        with pytest.raises(Invalid, match="DEVFLOW_BLOBS__S3_BUCKET"):
            blob_store_from_settings(settings)

    def test_core_provides_the_store_to_every_process(self):
        assert [p for p in providers() if p.key is BLOB_STORE]

    def test_config_show_lists_the_blob_settings_with_their_variables(self):
        rows = {r.key: r for r in describe_settings(load_settings())}
        assert rows["blobs.backend"].env == "DEVFLOW_BLOBS__BACKEND"
        assert rows["blobs.s3_secret_access_key"].value is None


class TestFormerNames:
    def test_the_registry_names_still_choose_the_folder(self, tmp_path, monkeypatch):
        monkeypatch.setenv("DEVFLOW_REGISTRY__BLOB_BACKEND", "filesystem")
        monkeypatch.setenv("DEVFLOW_REGISTRY__BLOB_DIR", str(tmp_path / "old"))
        store = blob_store_from_settings(load_settings(home=tmp_path))
        assert isinstance(store, FileBlobStore)
        assert store.root == tmp_path / "old"

    def test_the_registry_names_still_choose_a_bucket(self, tmp_path):
        settings = load_settings(
            home=tmp_path,
            registry={"blob_backend": "s3", "s3_bucket": "legacy", "s3_prefix": "r/"},
        )
        store = blob_store_from_settings(settings)
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix) == ("legacy", "r/")

    def test_a_new_name_wins_over_its_former_one(self, tmp_path, monkeypatch):
        monkeypatch.setenv("DEVFLOW_REGISTRY__BLOB_DIR", str(tmp_path / "old"))
        monkeypatch.setenv("DEVFLOW_BLOBS__DIR", str(tmp_path / "new"))
        store = blob_store_from_settings(load_settings(home=tmp_path))
        assert isinstance(store, FileBlobStore)
        assert store.root == tmp_path / "new"

    def test_names_mix_field_by_field(self, tmp_path):
        settings = load_settings(
            home=tmp_path,
            blobs={"backend": "s3", "s3_bucket": "new"},
            registry={"s3_prefix": "kept/"},
        )
        store = blob_store_from_settings(settings)
        assert isinstance(store, S3BlobStore)
        assert (store.bucket, store.prefix) == ("new", "kept/")

    def test_a_former_name_is_warned_about_when_the_settings_are_read(self, tmp_path, caplog):
        with caplog.at_level(logging.WARNING):
            load_settings(home=tmp_path, registry={"blob_dir": str(tmp_path / "old")})
        assert "DEVFLOW_REGISTRY__BLOB_DIR is deprecated: use DEVFLOW_BLOBS__DIR" in caplog.text

    def test_nothing_is_warned_about_without_former_names(self, tmp_path, caplog):
        with caplog.at_level(logging.WARNING):
            load_settings(home=tmp_path)
        assert "deprecated" not in caplog.text
