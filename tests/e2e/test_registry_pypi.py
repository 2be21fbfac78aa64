"""PyPI repositories with the real clients over real sockets: twine, pip, uv."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.registry_fixtures import (
    RegistryServer,
    build_sdist_with_backend,
    build_wheel,
    index_url,
    run_client,
    running_server,
    twine_upload,
)

UV = Path(sys.executable).with_name("uv")


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        running.create_repo("py", "pypi")
        yield running


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dists")


def twine(server: RegistryServer, home: Path, *files: Path, extra: tuple[str, ...] = ()):
    return twine_upload(f"{server.url}/pypi/py/legacy/", server.token, home, *files, extra=extra)


def pip(server: RegistryServer, home: Path, *args: str, check: bool = True):
    return run_client(
        [sys.executable, "-m", "pip", *args, "--no-cache-dir", "--index-url", index_url(server)],
        home,
        check=check,
    )


@pytest.fixture(scope="module")
def published(server, dists, tmp_path_factory):
    """alpha 1.0 (needs beta>=1.0) and beta 1.0 as wheels, gamma 2.0 as an sdist, via twine."""
    home = tmp_path_factory.mktemp("twine")
    files = [
        build_wheel(dists, "alpha", "1.0", requires=("beta>=1.0",), requires_python=">=3.8"),
        build_wheel(dists, "beta", "1.0", summary="the second letter"),
        build_sdist_with_backend(dists, "gamma", "2.0", requires=("beta",)),
    ]
    done = twine(server, home, *files)
    assert done.returncode == 0, done.stdout + done.stderr
    return files


class TestTwineAndPip:
    def test_pip_installs_a_wheel_with_its_dependency_from_the_same_repository(
        self, server, published, tmp_path
    ):
        target = tmp_path / "site"
        pip(server, tmp_path, "install", "--target", str(target), "alpha")
        assert (target / "alpha" / "__init__.py").read_text().startswith("NAME = 'alpha'")
        assert (target / "beta" / "__init__.py").exists()

    def test_pip_builds_and_installs_an_sdist(self, server, published, tmp_path):
        target = tmp_path / "site"
        pip(server, tmp_path, "install", "--target", str(target), "gamma==2.0")
        assert (target / "gamma" / "__init__.py").read_text() == "FROM_SDIST = True\n"
        assert (target / "beta").is_dir()

    def test_pip_download_checks_hashes_in_require_hashes_mode(self, server, published, tmp_path):
        alpha, beta = published[0], published[1]
        good = tmp_path / "good.txt"
        good.write_text(
            f"alpha==1.0 --hash=sha256:{hashlib.sha256(alpha.read_bytes()).hexdigest()}\n"
            f"beta==1.0 --hash=sha256:{hashlib.sha256(beta.read_bytes()).hexdigest()}\n"
        )
        pip(server, tmp_path, "download", "-d", str(tmp_path / "dl"), "-r", str(good))
        assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == [alpha.name, beta.name]
        bad = tmp_path / "bad.txt"
        bad.write_text(f"beta==1.0 --hash=sha256:{'0' * 64}\n")
        done = pip(
            server, tmp_path, "download", "-d", str(tmp_path / "x"), "-r", str(bad), check=False
        )
        assert done.returncode != 0
        assert "THESE PACKAGES DO NOT MATCH THE HASHES" in done.stderr

    def test_uv_installs_from_the_index(self, server, published, tmp_path):
        target = tmp_path / "uv-site"
        run_client(
            [
                str(UV),
                "pip",
                "install",
                "--target",
                str(target),
                "--index-url",
                index_url(server),
                "--python",
                sys.executable,
                "alpha",
            ],
            tmp_path,
        )
        assert (target / "alpha").is_dir()
        assert (target / "beta").is_dir()

    def test_reuploading_a_file_is_refused_with_409(self, server, published, tmp_path):
        again = twine(server, tmp_path, published[1])
        assert again.returncode != 0
        assert "409" in again.stdout + again.stderr
        assert "Conflict" in again.stdout

    def test_twine_verbose_prints_why_a_reupload_is_refused(self, server, published, tmp_path):
        # twine prints the status line, then the body with --verbose (which it suggests); an
        # ASGI server cannot put the reason into the status line as PyPI does.
        again = twine(server, tmp_path, published[1], extra=("--verbose",))
        assert again.returncode != 0
        said = " ".join((again.stdout + again.stderr).split())  # rich wraps long lines
        assert f"file {published[1].name} already exists in py" in said
        assert "published files are immutable" in said
        assert "bump the version" in said

    def test_uv_publish_uploads_and_skips_existing_files_with_check_url(
        self, server, dists, tmp_path
    ):
        wheel = build_wheel(dists, "delta", "3.0")

        def publish(*extra: str) -> subprocess.CompletedProcess[str]:
            return run_client(
                [
                    str(UV),
                    "publish",
                    "--publish-url",
                    f"{server.url}/pypi/py/legacy/",
                    "--username",
                    "__token__",
                    "--password",
                    server.token,
                    *extra,
                    str(wheel),
                ],
                tmp_path,
                check=False,
            )

        first = publish()
        assert first.returncode == 0, first.stderr
        assert publish().returncode != 0  # the same file again is refused
        skipped = publish("--check-url", index_url(server))
        assert skipped.returncode == 0, skipped.stderr
        assert "already exists" in skipped.stderr.lower()

    def test_an_upload_whose_blake2_digest_does_not_match_publishes_nothing(self, server, dists):
        wheel = build_wheel(dists, "blaked", "1.0")
        data = wheel.read_bytes()
        form = {
            ":action": "file_upload",
            "name": "blaked",
            "version": "1.0",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
            "blake2_256_digest": hashlib.blake2b(b"other", digest_size=32).hexdigest(),
        }
        answer = httpx.post(
            f"{server.url}/pypi/py/legacy/",
            data=form,
            files={"content": (wheel.name, data, "application/octet-stream")},
            auth=("__token__", server.token),
        )
        assert answer.status_code == 400
        assert "blake2_256 mismatch" in answer.text
        listed = httpx.get(f"{server.url}/pypi/py/simple/blaked/", auth=("__token__", server.token))
        assert listed.status_code == 404

    def test_a_yanked_version_is_ignored_unless_pinned(self, server, dists, tmp_path):
        old = build_wheel(dists, "yanky", "1.0")
        new = build_wheel(dists, "yanky", "1.1")
        assert twine(server, tmp_path, old, new).returncode == 0
        with server.api() as api:
            answer = api.post(
                "/api/v1/registry/repositories/py/packages/yanky/versions/1.1/yank",
                json={"reason": "broken build"},
            )
            assert answer.status_code == 204, answer.text
        pip(server, tmp_path, "download", "--no-deps", "-d", str(tmp_path / "a"), "yanky")
        assert [p.name for p in (tmp_path / "a").iterdir()] == [old.name]
        pinned = pip(
            server, tmp_path, "download", "--no-deps", "-d", str(tmp_path / "b"), "yanky==1.1"
        )
        assert [p.name for p in (tmp_path / "b").iterdir()] == [new.name]
        assert "broken build" in pinned.stdout + pinned.stderr


class TestSimpleApi:
    def get(self, server, path, **headers):
        with server.api() as api:
            return api.get(path, headers=headers)

    def test_json_project_page_carries_hashes_sizes_metadata_and_requires_python(
        self, server, published
    ):
        answer = self.get(
            server, "/pypi/py/simple/alpha/", Accept="application/vnd.pypi.simple.v1+json"
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/vnd.pypi.simple.v1+json"
        body = answer.json()
        assert body["meta"]["api-version"] == "1.1"
        assert body["versions"] == ["1.0"]
        (entry,) = body["files"]
        wheel = published[0].read_bytes()
        assert entry["hashes"] == {"sha256": hashlib.sha256(wheel).hexdigest()}
        assert entry["size"] == len(wheel)
        assert entry["requires-python"] == ">=3.8"
        assert entry["yanked"] is False
        assert entry["url"] == f"{server.url}/pypi/py/files/{published[0].name}"
        metadata = self.get(server, f"/pypi/py/files/{published[0].name}.metadata")
        with zipfile.ZipFile(published[0]) as archive:
            expected = archive.read("alpha-1.0.dist-info/METADATA")
        assert metadata.content == expected
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(expected).hexdigest()}

    def test_html_is_the_default_and_escapes_requires_python(self, server, published):
        answer = self.get(server, "/pypi/py/simple/alpha/")
        assert answer.headers["content-type"].startswith("application/vnd.pypi.simple.v1+html")
        assert 'data-requires-python="&gt;=3.8"' in answer.text
        assert 'name="pypi:repository-version"' in answer.text
        assert "data-core-metadata=" in answer.text
        assert "data-dist-info-metadata=" in answer.text

    def test_names_are_normalized_and_slashes_redirected(self, server, published):
        with server.api() as api:
            answer = api.get("/pypi/py/simple/Alpha_/", follow_redirects=False)
            assert answer.status_code == 301
            assert answer.headers["location"] == "/pypi/py/simple/alpha-/"
            assert api.get("/pypi/py/simple/ALPHA", follow_redirects=True).status_code == 200

    def test_unacceptable_media_types_get_406(self, server, published):
        assert self.get(server, "/pypi/py/simple/", Accept="application/xml").status_code == 406
        answer = self.get(server, "/pypi/py/simple/?format=application/vnd.pypi.simple.v1%2Bjson")
        assert answer.json()["projects"]

    def test_range_requests_return_partial_content(self, server, published):
        wheel = published[1].read_bytes()
        answer = self.get(server, f"/pypi/py/files/{published[1].name}", Range="bytes=10-29")
        assert answer.status_code == 206
        assert answer.content == wheel[10:30]
        assert answer.headers["content-range"] == f"bytes 10-29/{len(wheel)}"
        suffix = self.get(server, f"/pypi/py/files/{published[1].name}", Range="bytes=-16")
        assert suffix.content == wheel[-16:]
        beyond = self.get(server, f"/pypi/py/files/{published[1].name}", Range="bytes=999999-")
        assert beyond.status_code == 416

    def test_conditional_get_answers_304(self, server, published):
        first = self.get(server, "/pypi/py/simple/beta/")
        again = self.get(
            server, "/pypi/py/simple/beta/", **{"If-None-Match": first.headers["etag"]}
        )
        assert again.status_code == 304


def test_anonymous_reads_of_a_public_repository_work(server, dists, tmp_path):
    with server.api() as api:
        assert (
            api.post(
                "/api/v1/registry/repositories",
                json={"name": "pub", "format": "pypi", "visibility": "public"},
            ).status_code
            == 201
        )
    wheel = build_wheel(dists, "openpkg", "0.1")
    # twine never follows redirects: the URL without the slash must work as it is.
    upload = twine_upload(f"{server.url}/pypi/pub/legacy", server.token, tmp_path, wheel)
    assert upload.returncode == 0, upload.stdout + upload.stderr
    anonymous = httpx.get(f"{server.url}/pypi/pub/simple/openpkg/")
    assert anonymous.status_code == 200
    assert wheel.name in anonymous.text
