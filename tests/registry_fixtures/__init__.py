"""Helpers for the registry tests and bench: a DevFlow server on a free port (real sockets, real
uvicorn, a real database), and packages built the way their tools build them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.core.embedded_pg import free_port
from devflow.identity import service as identity
from devflow.identity.schemas import UserCreate
from devflow.settings import load_settings


@dataclass
class RegistryServer:
    """A running DevFlow HTTP server (no worker) and its admin token."""

    url: str
    token: str
    home: Path
    db_url: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=60,
        )

    def create_repo(self, name: str, fmt: str, visibility: str = "private", **extra: Any) -> dict:
        with self.api() as api:
            answer = api.post(
                "/api/v1/registry/repositories",
                json={"name": name, "format": fmt, "visibility": visibility, **extra},
            )
            assert answer.status_code == 201, answer.text
            return answer.json()

    def make_user(self, username: str, *, project_role: str | None = None) -> str:
        """Create a user (optionally a member of `default`) and return a token of theirs."""
        return asyncio.run(_make_user(self.db_url, username, project_role))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def another_process(self, **registry: Any) -> RegistryServer:
        """Start a second server on the same database: its own app, caches and connections, as
        a second `devflow serve` behind a load balancer would have."""
        return start_server(self.db_url, self.home, token=self.token, **registry)


async def _bootstrap(db_url: str) -> str:
    engine = create_engine(db_url, load_settings(database_url=db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            done = await identity.bootstrap(
                session, admin_username="admin", code_ttl=timedelta(minutes=5)
            )
    finally:
        await engine.dispose()
    assert done is not None
    return done.token


async def _make_user(db_url: str, username: str, role: str | None) -> str:
    from devflow.core.auth import Role
    from devflow.domains import scope_catalog
    from devflow.identity.models import Membership, Project

    engine = create_engine(db_url, load_settings(database_url=db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            user = await identity.create_user(
                session, principal=None, data=UserCreate(username=username)
            )
            if role is not None:
                project = await identity.get_project(session, name="default")
                assert isinstance(project, Project)
                session.add(Membership(project_id=project.id, user_id=user.id, role=Role(role)))
            _, secret = await identity.issue_token(
                session, user=user, name="test", scopes=list(scope_catalog().defaults)
            )
    finally:
        await engine.dispose()
    return secret


def start_server(
    db_url: str,
    home: Path,
    *,
    token: str | None = None,
    settings: dict[str, Any] | None = None,
    **registry: Any,
) -> RegistryServer:
    """Start DevFlow's app with uvicorn on a free port, in a thread; return when it answers.

    The first server on a database creates the admin and its token; pass `token` for more.
    `settings` adds other sections of the settings tree (`{"server": {...}}`).
    """
    from devflow.web import create_app

    port = free_port()
    token = token or asyncio.run(_bootstrap(db_url))
    extra = dict(settings or {})
    server_settings = {**extra.pop("server", {}), "host": "127.0.0.1", "port": port}
    loaded = load_settings(
        database_url=db_url,
        home=home,
        server=server_settings,
        registry=registry,
        log={"access_log": False, "level": "WARNING"},
        **extra,
    )
    config = uvicorn.Config(
        create_app(loaded),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        http="httptools",
        loop="uvloop",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True, name="devflow-test-server")
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return RegistryServer(url, token, home, db_url, server, thread)
        except httpx.TransportError:
            time.sleep(0.05)
    server.should_exit = True
    raise RuntimeError("the test server did not start")


# -- Python distributions, built by hand as the PyPA specs describe them -----------------------


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def metadata_text(
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    requires_python: str | None = None,
    summary: str = "",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    requires_python: str | None = None,
    summary: str = "",
    metadata_name: str | None = None,
) -> Path:
    """Write a pure-Python wheel with one module; return its path."""
    dist = name.replace("-", "_").replace(".", "_")
    module = dist.lower()
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"NAME = {name!r}\nVERSION = {version!r}\n".encode(),
        f"{info}/METADATA": metadata_text(
            metadata_name or name,
            version,
            requires=requires,
            requires_python=requires_python,
            summary=summary,
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: devflow-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n\n",
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items())
    record += f"{info}/RECORD,,\n"
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for p, d in files.items():
            archive.writestr(p, d)
        archive.writestr(f"{info}/RECORD", record)
    return path


def build_sdist(folder: Path, name: str, version: str, *, requires: tuple[str, ...] = ()) -> Path:
    """Write an sdist (.tar.gz with PKG-INFO and a setup.py); return its path."""
    dist = name.replace("-", "_").replace(".", "_")
    root = f"{dist}-{version}"
    pkg_info = metadata_text(name, version, requires=requires).encode()
    setup = (
        "from setuptools import setup\n"
        f"setup(name={name!r}, version={version!r}, py_modules=[], "
        f"install_requires={list(requires)!r})\n"
    ).encode()
    path = folder / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, data in ((f"{root}/PKG-INFO", pkg_info), (f"{root}/setup.py", setup)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return path


# -- npm packages, packed by npm itself --------------------------------------------------------


def npm_pack(
    folder: Path,
    name: str,
    version: str,
    *,
    dependencies: dict[str, str] | None = None,
    description: str = "",
) -> Path:
    """Make a package folder and `npm pack` it; return the tarball."""
    source = folder / f"src-{name.replace('/', '-')}-{version}"
    source.mkdir(parents=True)
    manifest = {
        "name": name,
        "version": version,
        "description": description or f"{name} for tests",
        "main": "index.js",
        "license": "MIT",
        "dependencies": dependencies or {},
    }
    (source / "package.json").write_text(json.dumps(manifest))
    (source / "index.js").write_text(f"module.exports = {json.dumps(name + '@' + version)};\n")
    (source / "README.md").write_text(f"# {name}\n")
    out = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(folder)],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return folder / json.loads(out.stdout)[0]["filename"]


def npm_tarball(name: str, version: str) -> bytes:
    """A .tgz as `npm pack` lays it out, whose package.json says `name@version` (the same bytes
    for the same arguments: the gzip header carries no time)."""
    manifest = json.dumps({"name": name, "version": version}).encode()
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w") as archive,
    ):
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    return out.getvalue()


def npm_document(name: str, version: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """The publish document libnpmpublish sends, for a tarball of `name@version`."""
    data = npm_tarball(name, version)
    return {
        "_id": name,
        "name": name,
        "description": "",
        "dist-tags": {"latest": version} if tags is None else tags,
        "versions": {
            version: {
                "name": name,
                "version": version,
                "_id": f"{name}@{version}",
                "dist": {
                    "shasum": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                    "integrity": "sha512-"
                    + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                },
            }
        },
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }


def write_npmrc(folder: Path, registry: str, token: str | None) -> Path:
    """Write an .npmrc pointing at `registry` with a token for it (npm's own format)."""
    host_path = registry.split("://", 1)[1]
    lines = [f"registry={registry}", "audit=false", "fund=false", "update-notifier=false"]
    if token:
        lines.append(f"//{host_path}:_authToken={token}")
    path = folder / ".npmrc"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_client(
    args: list[str],
    home: Path,
    *,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a client (pip, uv, twine, npm) in `client_env(home)` plus `env`; unless `check` is
    off, fail the test with the client's output when it fails."""
    done = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**client_env(home), **(env or {})},
        timeout=180,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return done


def index_url(server: RegistryServer, repo: str = "py", token: str | None = None) -> str:
    """Return the simple index URL of a PyPI repository with a token in it, as pip takes it."""
    auth = f"__token__:{token or server.token}@"
    return server.url.replace("http://", f"http://{auth}") + f"/pypi/{repo}/simple/"


def twine_upload(
    upload_url: str, token: str, home: Path, *files: Path, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Upload with twine as a user would, to `upload_url` (`…/pypi/<repo>/legacy/`) as
    `__token__`; the caller checks the outcome."""
    args = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar"]
    args += ["--repository-url", upload_url, "-u", "__token__", "-p", token, *extra]
    return run_client([*args, *map(str, files)], home, check=False)


def run_npm(
    folder: Path, *args: str, check: bool = True, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the npm CLI in `folder` with the .npmrc there as its user config."""
    userconfig = {"npm_config_userconfig": str(folder / ".npmrc")}
    return run_client(["npm", *args], home or folder, check=check, cwd=folder, env=userconfig)


def iter_lines(text: str) -> Iterator[str]:
    yield from (line for line in text.splitlines() if line.strip())


_BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION, REQUIRES = {name!r}, {version!r}, {requires!r}
WHEEL = b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n\\n"


def get_requires_for_build_wheel(config_settings=None):
    return []


def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = NAME.replace("-", "_").replace(".", "_")
    info = dist + "-" + VERSION + ".dist-info"
    meta = "Metadata-Version: 2.1\\nName: " + NAME + "\\nVersion: " + VERSION + "\\n"
    meta += "".join("Requires-Dist: " + r + "\\n" for r in REQUIRES) + "\\n"
    files = {{
        dist.lower() + "/__init__.py": ("FROM_SDIST = True\\n").encode(),
        info + "/METADATA": meta.encode(),
        info + "/WHEEL": WHEEL,
    }}
    record = "".join(p + "," + _hash(d) + "," + str(len(d)) + "\\n" for p, d in files.items())
    record += info + "/RECORD,,\\n"
    name = dist + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for p, d in files.items():
            zf.writestr(p, d)
        zf.writestr(info + "/RECORD", record)
    return name
"""


def build_sdist_with_backend(
    folder: Path, name: str, version: str, *, requires: tuple[str, ...] = ()
) -> Path:
    """Write an sdist whose in-tree PEP 517 backend needs nothing from an index to build."""
    dist = name.replace("-", "_").replace(".", "_")
    root = f"{dist}-{version}"
    members = {
        f"{root}/PKG-INFO": metadata_text(name, version, requires=requires).encode(),
        f"{root}/pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        b'backend-path = ["."]\n',
        f"{root}/backend.py": _BACKEND.format(
            name=name, version=version, requires=list(requires)
        ).encode(),
    }
    path = folder / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return path


def client_env(home: Path) -> dict[str, str]:
    """Return an environment in which pip, uv, twine and npm see only what a test tells them."""
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("PIP_", "UV_", "NPM_", "TWINE_", "DEVFLOW_"))
    }
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(home / "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "npm_config_cache": str(home / "npm-cache"),
            "npm_config_update_notifier": "false",
            "HOME": str(home),
        }
    )
    return env


@contextlib.contextmanager
def running_server(
    pg_server: str, home: Path, *, settings: dict[str, Any] | None = None, **registry: Any
) -> Iterator[RegistryServer]:
    """Yield a server on a fresh clone of the migrated template database."""
    import secrets

    from tests.conftest import clone_database, drop_database

    name = f"t_{secrets.token_hex(6)}"
    url = clone_database(pg_server, name)
    server = start_server(url, home, settings=settings, **registry)
    try:
        yield server
    finally:
        server.stop()
        drop_database(pg_server, name)


@contextlib.contextmanager
def two_processes(
    pg_server: str, home: Path, repo: str, fmt: str
) -> Iterator[tuple[RegistryServer, RegistryServer]]:
    """Yield two servers on one database with repository `repo` of format `fmt`, as two
    `devflow serve` processes behind a load balancer (each with its own caches)."""
    with running_server(pg_server, home) as first:
        first.create_repo(repo, fmt)
        second = first.another_process()
        try:
            yield first, second
        finally:
            second.stop()
