"""The registry of formats and the one publish path's inputs: each format describes itself
(URLs, names, body limits), and translates its wire form into an `Upload` whose checks run on
the stored bytes. Typed metadata keeps the JSON each format stored before."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from devflow.core.auth import Principal
from devflow.core.blobs import BlobInfo, FileBlobStore
from devflow.core.errors import Invalid
from devflow.domains import scope_catalog
from devflow.registry import FORMATS, find_format
from devflow.registry.formats.npm.body import read_publish
from devflow.registry.formats.npm.meta import NpmPackageMeta, NpmVersionMeta
from devflow.registry.formats.npm.people import author, names, person, publisher, search_person
from devflow.registry.formats.npm.upload import NpmUpload
from devflow.registry.formats.pypi.meta import PypiFileMeta
from devflow.registry.formats.pypi.multipart import Form, UploadedFile
from devflow.registry.formats.pypi.upload import PypiUpload
from devflow.registry.meta import FileMeta
from devflow.registry.models import Package, PackageFile, Repository
from devflow.registry.service import client_url, stored_name, upload_url
from tests.registry_fixtures import build_wheel, npm_document

BASE = "https://devflow.example.com"


def _repo(fmt: str, name: str) -> Repository:
    return Repository(id=uuid.uuid4(), name=name, project_id=uuid.uuid4(), format=fmt)


class TestTheRegistryOfFormats:
    def test_it_serves_pypi_npm_and_oci_each_under_its_own_prefix(self):
        assert list(FORMATS) == ["pypi", "npm", "oci"]
        assert [f.prefix for f in FORMATS.values()] == ["/pypi", "/npm", "/v2"]
        assert find_format("cargo") is None

    def test_each_format_tells_its_clients_url(self):
        assert client_url(_repo("pypi", "py"), BASE) == f"{BASE}/pypi/py/simple/"
        assert client_url(_repo("npm", "js"), BASE) == f"{BASE}/npm/js/"
        assert client_url(_repo("oci", "default/app"), BASE) == "devflow.example.com"

    def test_each_format_tells_where_its_clients_publish(self):
        assert upload_url(_repo("pypi", "py"), BASE) == f"{BASE}/pypi/py/legacy/"
        assert upload_url(_repo("npm", "js"), BASE) == f"{BASE}/npm/js/"
        assert upload_url(_repo("oci", "default/app"), BASE) == "devflow.example.com"

    def test_each_format_names_its_packages(self):
        assert stored_name(_repo("pypi", "py"), "Foo.Bar_baz") == "foo-bar-baz"
        assert stored_name(_repo("npm", "js"), "@Scope/Name") == "@Scope/Name"

    def test_file_urls_are_the_formats(self):
        npm = _repo("npm", "js")
        package = Package(name="@acme/left-pad")
        file = PackageFile(filename="@acme/left-pad-1.0.0.tgz", blob_sha256="0" * 64)
        url = FORMATS["npm"].file_url(npm, package, file, BASE)
        assert url == f"{BASE}/npm/js/@acme/left-pad/-/left-pad-1.0.0.tgz"

    def test_an_upload_body_is_bounded_by_the_format(self):
        limit = 1024 * 1024
        assert FORMATS["npm"].body_limit(limit) > limit * 4 // 3  # base64 inside JSON
        assert FORMATS["pypi"].body_limit(limit) > limit  # the form's text fields too
        assert FORMATS["oci"].body_limit(limit) == limit

    def test_only_oci_repositories_are_made_by_their_first_push(self):
        assert [f.name for f in FORMATS.values() if f.created_on_push] == ["oci"]


class TestTypedMetadata:
    def test_pypi_file_meta_is_stored_as_before(self):
        meta = PypiFileMeta(filetype="bdist_wheel", pyversion="py3", requires_python=">=3.9")
        stored = meta.model_copy(update={"metadata_size": 120}).stored()
        assert stored == {
            "filetype": "bdist_wheel",
            "pyversion": "py3",
            "requires_python": ">=3.9",
            "metadata_size": 120,
        }
        assert FileMeta.of(stored).metadata_size == 120

    def test_unknown_keys_of_a_stored_row_are_ignored(self):
        assert PypiFileMeta.of({"filetype": "sdist", "later": 1}).filetype == "sdist"

    def test_a_package_meta_left_unset_is_not_stored(self):
        assert NpmPackageMeta(publisher="ann").stored() == {"publisher": "ann"}


async def _writer(store: FileBlobStore, data: bytes):
    writer = await store.begin()
    await writer.write(data)
    return writer


def _form(wheel: Path, writer, **fields: str) -> Form:
    values = {":action": "file_upload", "name": "tidy", "version": "1.0", **fields}
    return Form(
        fields={k: [v] for k, v in values.items()},
        files=[UploadedFile(field="content", filename=wheel.name, writer=writer)],
    )


class TestPypiUploads:
    async def test_a_wheel_translates_into_a_release_and_its_metadata_is_kept(self, tmp_path):
        store = FileBlobStore(tmp_path / "blobs")
        wheel = build_wheel(tmp_path, "tidy", "1.0", requires=("attrs>=22",), summary="Tidy.")
        writer = await _writer(store, wheel.read_bytes())
        upload = PypiUpload.read(
            _form(wheel, writer, summary="Tidy.", requires_dist="attrs>=22", pyversion="py3")
        )
        assert (upload.format, upload.release.name, upload.release.version) == (
            "pypi",
            "tidy",
            "1.0",
        )
        assert upload.release.meta.stored()["requires_dist"] == ["attrs>=22"]
        assert [d.name for d in upload.release.dependencies] == ["attrs"]
        assert not upload.release.once  # a version gathers its wheels and sdist
        checked = await upload.check(store, await writer.commit())
        assert checked.meta.stored()["filetype"] == "bdist_wheel"
        assert checked.metadata is not None
        assert b"Name: tidy" in checked.metadata

    async def test_a_file_of_another_project_is_refused_before_anything_is_stored(self, tmp_path):
        store = FileBlobStore(tmp_path / "blobs")
        wheel = build_wheel(tmp_path, "other", "1.0")
        writer = await _writer(store, wheel.read_bytes())
        with pytest.raises(Invalid, match=r"does not belong to tidy 1\.0"):
            PypiUpload.read(_form(wheel, writer))
        await writer.abort()

    async def test_an_announced_md5_is_checked(self, tmp_path):
        store = FileBlobStore(tmp_path / "blobs")
        wheel = build_wheel(tmp_path, "tidy", "1.0")
        writer = await _writer(store, wheel.read_bytes())
        upload = PypiUpload.read(_form(wheel, writer, md5_digest="0" * 32))
        blob: BlobInfo = await writer.commit()
        with pytest.raises(Invalid, match="md5 mismatch"):
            await upload.check(store, blob)


async def _chunks(data: bytes):
    yield data


class TestNpmUploads:
    async def test_a_publish_document_translates_into_a_release_published_once(self, tmp_path):
        store = FileBlobStore(tmp_path / "blobs")
        document = npm_document("left-pad", "1.0.0", tags={"latest": "1.0.0", "next": "2.0.0"})
        document["versions"]["1.0.0"]["dependencies"] = {"tiny": "^1.0.0"}
        sent = await read_publish(
            _chunks(json.dumps(document).encode()), store=store, limit=1 << 24, file_limit=1 << 24
        )
        principal = Principal(
            user_id=uuid.uuid4(),
            username="ann",
            is_admin=False,
            scopes=frozenset(s.value for s in scope_catalog().defaults),
        )
        upload = NpmUpload.read(sent, "left-pad", principal)
        release = upload.release
        assert (release.once, release.tags, release.first_tag) == (True, ("latest",), "latest")
        assert [(d.name, d.specifier, d.kind) for d in release.dependencies] == [
            ("tiny", "^1.0.0", "runtime")
        ]
        assert isinstance(release.meta, NpmVersionMeta)
        assert release.meta.manifest["_npmUser"] == {"name": "ann", "email": ""}
        assert "_id" not in release.meta.manifest
        assert upload.file.filename == "left-pad-1.0.0.tgz"
        assert upload.file.writer is not None
        blob = await upload.file.writer.commit()
        checked = await upload.check(store, blob)
        assert (
            checked.meta.stored()["shasum"]
            == hashlib.sha1(
                (store.path_of(blob.sha256)).read_bytes(), usedforsecurity=False
            ).hexdigest()
        )


class TestNpmPeople:
    """Maintainers, publishers and authors in the shapes npm's clients read."""

    def test_devflow_users_have_a_name_and_an_empty_email_in_packuments_and_search(self):
        assert person("ann") == {"name": "ann", "email": ""}
        assert search_person("ann") == {"username": "ann", "email": ""}

    def test_a_publisher_stored_before_people_had_emails_is_served_with_one(self):
        assert publisher({"name": "ann"}) == {"name": "ann", "email": ""}
        assert publisher({"email": "x@example.com"}) is None
        assert publisher("ann") is None

    def test_stored_maintainers_are_read_by_name_and_malformed_ones_skipped(self):
        assert names([{"name": "ann"}, {"name": 7}, "bob", {"name": "cy"}]) == ["ann", "cy"]
        assert names(None) == []

    @pytest.mark.parametrize(
        ("written", "served"),
        [
            (
                "Ann Dev <ann@example.com> (https://ann.dev)",
                {"name": "Ann Dev", "email": "ann@example.com", "url": "https://ann.dev"},
            ),
            ("Ann Dev", {"name": "Ann Dev"}),
            ("<ann@example.com>", {"email": "ann@example.com"}),
            ({"name": "Ann", "email": "a@example.com"}, {"name": "Ann", "email": "a@example.com"}),
            ({"name": "Ann", "extra": {"deep": 1}, "url": 5}, {"name": "Ann"}),
            ("   ", None),
            (["Ann"], None),
            (None, None),
        ],
    )
    def test_an_author_is_served_as_an_object_as_the_registry_does(self, written, served):
        assert author(written) == served
