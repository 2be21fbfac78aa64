"""OCI artifacts, referrers and Helm charts pushed with the `oras` Python client against a running
DevFlow (Docker token auth with a DevFlow token as the password)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import quote

import httpx
import oras.client
import oras.oci
import pytest

from tests.cli_inprocess import run_cli
from tests.registry_fixtures import RegistryServer, running_server

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SIGNATURE = "application/vnd.example.signature.v1+json"
SBOM = "application/spdx+json"


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory):
    del template_url
    with running_server(pg_server, tmp_path_factory.mktemp("home")) as running:
        yield running


def oras_client(server: RegistryServer, tmp_path: Path, token: str | None = None):
    registry = oras.client.OrasClient(hostname=server.url.removeprefix("http://"), insecure=True)
    registry.login(
        username="anyone",
        password=token or server.token,
        hostname=host(server),
        config_path=str(tmp_path / "docker-config.json"),
    )
    return registry


def host(server: RegistryServer) -> str:
    return server.url.removeprefix("http://")


def chart_package(folder: Path, name: str, version: str, app_version: str) -> Path:
    """Write `<name>-<version>.tgz` the way `helm package` lays it out; return its path."""
    chart_yaml = (
        f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: '{app_version}'\n"
        f"description: {name} for the tests\ntype: application\n"
    ).encode()
    path = folder / f"{name}-{version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for member, data in {
            f"{name}/Chart.yaml": chart_yaml,
            f"{name}/values.yaml": b"replicaCount: 1\n",
            f"{name}/templates/NOTES.txt": b"installed\n",
        }.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def chart_config(folder: Path, name: str, version: str, app_version: str) -> Path:
    """The config helm pushes: Chart.yaml as JSON."""
    path = folder / f"{name}-{version}.config.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v2",
                "name": name,
                "version": version,
                "appVersion": app_version,
                "description": f"{name} for the tests",
                "type": "application",
            }
        )
    )
    return path


def push_chart(registry, server: RegistryServer, folder: Path, name: str, version: str, app: str):
    package = chart_package(folder, name, version, app)
    config = chart_config(folder, name, version, app)
    return registry.push(
        target=f"{host(server)}/default/charts/{name}:{version}",
        files=[f"{package}:{HELM_CHART}"],
        manifest_config=f"{config}:{HELM_CONFIG}",
        disable_path_validation=True,
        quiet=True,
    )


def cli(server: RegistryServer, *args: str) -> subprocess.CompletedProcess[str]:
    # In this process: tests/e2e/test_registry_up.py runs `devflow registry` in its own.
    env = dict(os.environ)
    return run_cli(*args, "--url", server.url, "--token", server.token, env=env)


class TestHelmCharts:
    def test_charts_pushed_with_oras_are_listed_as_charts_and_pull_back(self, server, tmp_path):
        registry = oras_client(server, tmp_path)
        for version, app in (("0.1.0", "1.0"), ("0.2.0", "1.1")):
            assert push_chart(registry, server, tmp_path, "web", version, app).status_code == 201
        # An artifact that is not a chart, in the same repository, is not listed.
        other = tmp_path / "notes.txt"
        other.write_text("not a chart")
        registry.push(
            target=f"{host(server)}/default/charts/web:notes",
            files=[str(other)],
            disable_path_validation=True,
            quiet=True,
        )

        with server.api() as api:
            answer = api.get("/api/v1/registry/oci/default/charts/web/charts")
        assert answer.status_code == 200, answer.text
        charts = answer.json()["items"]
        assert [(c["name"], c["version"], c["app_version"], c["tags"]) for c in charts] == [
            ("web", "0.2.0", "1.1", ["0.2.0"]),
            ("web", "0.1.0", "1.0", ["0.1.0"]),
        ]
        assert charts[0]["description"] == "web for the tests"
        assert charts[0]["api_version"] == "v2"
        assert charts[0]["digest"].startswith("sha256:")

        shown = cli(server, "registry", "charts", "default/charts/web", "--json")
        assert shown.returncode == 0, shown.stderr
        assert [c["version"] for c in json.loads(shown.stdout)] == ["0.2.0", "0.1.0"]
        table = cli(server, "registry", "charts", "default/charts/web")
        assert "0.1.0" in table.stdout
        assert "web for the tests" in table.stdout

        out = tmp_path / "pulled"
        pulled = registry.pull(target=f"{host(server)}/default/charts/web:0.1.0", outdir=str(out))
        assert [Path(p).name for p in pulled] == ["web-0.1.0.tgz"]
        assert Path(pulled[0]).read_bytes() == (tmp_path / "web-0.1.0.tgz").read_bytes()

    def test_chart_listing_needs_read_access_and_a_valid_name(self, server):
        stranger = server.make_user("chartstranger")
        with server.api(stranger) as api:
            hidden = api.get("/api/v1/registry/oci/default/charts/web/charts")
        assert hidden.status_code == 404
        with server.api() as api:
            bad = api.get("/api/v1/registry/oci/Default/Bad Name/charts")
            missing = api.get("/api/v1/registry/oci/default/nothing-here/charts")
        assert bad.status_code == 422
        assert "not a valid repository name" in bad.json()["error"]["message"]
        assert missing.status_code == 404
        anonymous = httpx.get(f"{server.url}/api/v1/registry/oci/default/charts/web/charts")
        assert anonymous.status_code == 401


class TestArtifactsAndReferrers:
    def test_oras_pushes_an_artifact_and_its_referrers_and_pulls_them(self, server, tmp_path):
        registry = oras_client(server, tmp_path)
        target = f"{host(server)}/default/artifacts:v1"
        data = tmp_path / "model.bin"
        data.write_bytes(bytes(range(256)) * 512)
        pushed = registry.push(
            target=target,
            files=[f"{data}:application/vnd.example.model.v1"],
            manifest_annotations={"org.opencontainers.image.title": "model"},
            disable_path_validation=True,
            quiet=True,
        )
        assert pushed.status_code == 201
        subject_digest = pushed.headers["Docker-Content-Digest"]
        manifest = registry.get_manifest(target)
        subject = oras.oci.Subject.from_manifest(manifest)
        assert subject.digest == subject_digest

        for kind, name in ((SIGNATURE, "sig.json"), (SBOM, "sbom.json")):
            attached = tmp_path / name
            attached.write_text(json.dumps({"about": subject_digest, "kind": kind}))
            config = tmp_path / f"{name}.config"
            config.write_text("{}")
            answer = registry.push(
                target=f"{host(server)}/default/artifacts:{name.split('.')[0]}",
                files=[f"{attached}:{kind}"],
                manifest_config=f"{config}:{kind}",
                subject=subject,
                disable_path_validation=True,
                quiet=True,
            )
            assert answer.status_code == 201
            assert answer.headers["OCI-Subject"] == subject_digest

        referrers_url = f"{server.url}/v2/default/artifacts/referrers/{subject_digest}"
        every = registry.do_request(referrers_url, "GET").json()
        assert sorted(m["artifactType"] for m in every["manifests"]) == sorted([SIGNATURE, SBOM])
        only = registry.do_request(f"{referrers_url}?artifactType={quote(SBOM)}", "GET")
        assert only.headers["OCI-Filters-Applied"] == "artifactType"
        assert [m["artifactType"] for m in only.json()["manifests"]] == [SBOM]

        out = tmp_path / "out"
        pulled = registry.pull(target=target, outdir=str(out))
        assert [Path(p).read_bytes() for p in pulled] == [data.read_bytes()]
        assert sorted(registry.get_tags(f"{host(server)}/default/artifacts")) == [
            "sbom",
            "sig",
            "v1",
        ]
