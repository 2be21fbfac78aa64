"""The deployment files shipped for users: Dockerfile, .dockerignore and compose.yaml.

No Docker engine runs where the tests run. Where the docker client has the Compose plugin,
`docker compose config` validates and interpolates compose.yaml exactly as `docker compose up`
would; elsewhere those tests skip and say why. The structural checks always run: they read
compose.yaml with PyYAML when it is installed, otherwise with a small reader for the YAML subset
compose.yaml keeps to (block mappings, block lists, JSON-style flow lists, plain and quoted
scalars), and they execute the healthcheck probes against a local HTTP server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVER, WORKER, POSTGRES = "devflow", "worker", "postgres"


# --- reading compose.yaml -------------------------------------------------------------------


class UnsupportedYamlError(ValueError):
    """compose.yaml used YAML outside the subset the fallback reader understands."""


_KEY = re.compile(r"(?P<key>[A-Za-z0-9_.-]+):(?:\s+(?P<rest>.*))?$")
_JSON = json.JSONDecoder()


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


def _scalar(text: str, line: _Line) -> Any:
    if text[0] in '[{"':  # flow lists and double-quoted strings are written as JSON
        try:
            value, end = _JSON.raw_decode(text)
        except json.JSONDecodeError as exc:
            raise UnsupportedYamlError(f"line {line.number}: {exc}") from None
        rest = text[end:].strip()
        if rest and not rest.startswith("#"):
            raise UnsupportedYamlError(f"line {line.number}: text after a value: {rest!r}")
        return value
    if text[0] == "'":
        match = re.fullmatch(r"'((?:[^']|'')*)'\s*(#.*)?", text)
        if match is None:
            raise UnsupportedYamlError(f"line {line.number}: unterminated single quote")
        return match.group(1).replace("''", "'")
    if text[0] in "&*!|>%@`":
        raise UnsupportedYamlError(f"line {line.number}: anchors, tags and block scalars")
    text = re.sub(r"\s+#.*$", "", text)
    if text in {"true", "false"}:
        return text == "true"
    if text in {"null", "~"}:
        return None
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


def _list(lines: list[_Line], i: int, indent: int) -> tuple[list[Any], int]:
    items = []
    while i < len(lines) and lines[i].indent == indent and lines[i].text.startswith("- "):
        item = lines[i].text[2:].strip()
        if _KEY.match(item):
            raise UnsupportedYamlError(f"line {lines[i].number}: a mapping in a list")
        items.append(_scalar(item, lines[i]))
        i += 1
    return items, i


def _mapping(lines: list[_Line], i: int, indent: int) -> tuple[dict[str, Any], int]:
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i].indent == indent:
        line = lines[i]
        match = _KEY.match(line.text)
        if match is None:
            raise UnsupportedYamlError(f"line {line.number}: expected `key: value`: {line.text!r}")
        if match["key"] in mapping:
            raise UnsupportedYamlError(f"line {line.number}: duplicate key {match['key']!r}")
        rest = (match["rest"] or "").strip()
        i += 1
        if rest and not rest.startswith("#"):
            mapping[match["key"]] = _scalar(rest, line)
        elif i < len(lines) and lines[i].indent > indent:
            mapping[match["key"]], i = _block(lines, i, lines[i].indent)
        else:
            mapping[match["key"]] = None
    return mapping, i


def _block(lines: list[_Line], i: int, indent: int) -> tuple[Any, int]:
    parse = _list if lines[i].text.startswith("- ") else _mapping
    value, i = parse(lines, i, indent)
    if i < len(lines) and lines[i].indent > indent:
        raise UnsupportedYamlError(f"line {lines[i].number}: unexpected indentation")
    return value, i


def read_yaml_subset(text: str) -> Any:
    """Parse the YAML subset described in the module docstring; raise on anything else."""
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise UnsupportedYamlError(f"line {number}: tab in indentation")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped in {"---", "..."}:
            raise UnsupportedYamlError(f"line {number}: multiple documents")
        lines.append(_Line(number, len(raw) - len(raw.lstrip()), stripped))
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0].indent)
    if end != len(lines):
        raise UnsupportedYamlError(f"line {lines[end].number}: unexpected indentation")
    return value


def load_compose() -> dict[str, Any]:
    text = COMPOSE.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        return read_yaml_subset(text)
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    return shlex.split(test) if isinstance(test, str) else list(test)


# --- reading the Dockerfile -----------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_instructions() -> list[Instruction]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append(Instruction(keyword.upper(), args.strip()))
    return found


def final_stage() -> list[Instruction]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"expected the exec (JSON) form, got {args!r}"
    return value


# --- `docker compose config` ----------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_compose() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed, so `docker compose config` cannot run")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        why = (probe.stderr or probe.stdout).strip().splitlines()
        pytest.skip(
            "the docker client has no Compose plugin (`docker compose version` failed: "
            f"{why[0] if why else probe.returncode}), so `docker compose config` cannot run"
        )
    return docker


def run_compose(
    docker: str, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose -f compose.yaml ARGS` with only `env` set among its variables.

    An empty --env-file replaces a developer's own .env, and the compose variables of the
    calling environment are dropped, so the result depends on compose.yaml alone.
    """
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POSTGRES_", "DEVFLOW_", "COMPOSE_"))
    }
    return subprocess.run(
        [docker, "compose", "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**base, **env},
    )


def test_docker_compose_config_accepts_the_file(docker_compose: str, tmp_path: Path) -> None:
    result = run_compose(docker_compose, tmp_path, "config", "--quiet", POSTGRES_PASSWORD="s3cret")
    assert result.returncode == 0, result.stderr

    rendered = run_compose(
        docker_compose, tmp_path, "config", "--format", "json", POSTGRES_PASSWORD="s3cret"
    )
    assert rendered.returncode == 0, rendered.stderr
    project = json.loads(rendered.stdout)
    expected = "postgresql://devflow:s3cret@postgres:5432/devflow"
    for name in (SERVER, WORKER):
        assert project["services"][name]["environment"]["DEVFLOW_DATABASE_URL"] == expected
    assert project["services"][POSTGRES]["environment"]["POSTGRES_PASSWORD"] == "s3cret"


def test_docker_compose_config_requires_a_postgres_password(
    docker_compose: str, tmp_path: Path
) -> None:
    result = run_compose(docker_compose, tmp_path, "config", "--quiet")

    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
    assert "docs/deployment.md" in result.stderr, result.stderr  # our hint, not a bare error


# --- compose.yaml, structurally -------------------------------------------------------------


def test_the_fallback_reader_agrees_with_pyyaml() -> None:
    yaml = pytest.importorskip("yaml")
    text = COMPOSE.read_text(encoding="utf-8")
    assert read_yaml_subset(text) == yaml.safe_load(text)


def test_the_fallback_reader_refuses_what_it_does_not_understand() -> None:
    assert read_yaml_subset('a:\n  b: [1, "x"]\n  c:\n    - "y"\n    - z # note\n') == {
        "a": {"b": [1, "x"], "c": ["y", "z"]}
    }
    for text in ("a: &x 1\n", "a: |\n  text\n", "a:\n  - b: 1\n    c: 2\n", "a:\n b: 1\n  c: 2\n"):
        with pytest.raises(UnsupportedYamlError):
            read_yaml_subset(text)


def test_postgres_is_pgvector_16_with_a_healthcheck_and_a_volume(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services[POSTGRES]

    assert postgres["image"] == "pgvector/pgvector:pg16"
    assert "pg_isready" in " ".join(healthcheck_command(postgres))
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]


def test_the_postgres_password_is_required_everywhere_it_is_used() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)

    assert len(uses) == 3, uses  # postgres itself, then the server's and the worker's URL
    assert all(use.startswith(":?") for use in uses), f"a use with a default: {uses}"


def test_the_server_builds_the_image_serves_on_3737_and_waits_for_postgres(
    services: dict[str, dict[str, Any]],
) -> None:
    server = services[SERVER]
    env = environment(server)

    assert server["build"] in (".", {"context": "."})
    assert server.get("command", ["devflow", "serve"]) == ["devflow", "serve"]
    assert any(str(port).endswith(":3737") for port in server["ports"])
    assert env["DEVFLOW_SERVER__PORT"] == "3737"
    assert env["DEVFLOW_SERVER__HOST"] == "0.0.0.0"
    assert "@postgres:5432/" in env["DEVFLOW_DATABASE_URL"]
    assert env["DEVFLOW_HOME"] == "/data"
    assert "devflow-data:/data" in server["volumes"]
    assert server["depends_on"][POSTGRES]["condition"] == "service_healthy"


def test_the_server_healthcheck_probes_ready(services: dict[str, dict[str, Any]]) -> None:
    command = healthcheck_command(services[SERVER])

    assert command[0] == "CMD"
    assert "/ready" in " ".join(command)


def test_the_worker_runs_devflow_worker_from_the_server_image_after_migrations(
    services: dict[str, dict[str, Any]],
) -> None:
    server, worker = services[SERVER], services[WORKER]

    assert worker["command"] == ["devflow", "worker"]
    assert worker["image"] == server["image"]
    assert "build" not in worker  # one image, built once by the server service
    assert worker["depends_on"][SERVER]["condition"] == "service_healthy"
    assert (
        environment(worker)["DEVFLOW_DATABASE_URL"] == environment(server)["DEVFLOW_DATABASE_URL"]
    )
    assert "devflow-data:/data" in worker["volumes"]


def test_the_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services[WORKER]

    # `--scale worker=3` fails on a fixed container name or a published host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    # The image's healthcheck asks the HTTP server's /ready, which a worker does not run.
    healthcheck = worker.get("healthcheck", {})
    assert healthcheck.get("disable") is True or "/ready" not in " ".join(
        healthcheck_command(worker)
    )


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        str(volume).split(":", 1)[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if not str(volume).startswith((".", "/", "~"))
    }

    assert used == {"postgres-data", "devflow-data"}
    assert used <= declared, f"undeclared named volumes: {used - declared}"


# --- the healthcheck probes, executed -------------------------------------------------------


class _FakeDevflow(BaseHTTPRequestHandler):
    status = 200
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        code = type(self).status if self.path == "/ready" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        pass


@pytest.fixture
def fake_devflow() -> Iterator[tuple[int, type[_FakeDevflow]]]:
    handler = type("Handler", (_FakeDevflow,), {"status": 200, "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def probe(command: list[str], port: int) -> int:
    """Run a healthcheck's `python -c ...` here, as the container would; return its exit code."""
    assert command[:2] == ["CMD", "python"], command
    env = {
        **os.environ,
        "DEVFLOW_SERVER__PORT": str(port),
        # A proxy that answers nothing: the probe must go straight to 127.0.0.1.
        "http_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "no_proxy": "",
        "NO_PROXY": "",
    }
    result = subprocess.run(
        [sys.executable, *command[2:]], capture_output=True, timeout=60, check=False, env=env
    )
    return result.returncode


def dockerfile_healthcheck() -> list[str]:
    (healthcheck,) = [ins for ins in final_stage() if ins.keyword == "HEALTHCHECK"]
    _, cmd, args = healthcheck.args.partition("CMD ")
    assert cmd, f"HEALTHCHECK without CMD: {healthcheck.args!r}"
    return ["CMD", *exec_form(args)]


@pytest.mark.parametrize("where", ["Dockerfile", "compose.yaml"])
def test_the_healthcheck_passes_only_when_ready_answers_200(
    where: str, fake_devflow: tuple[int, type[_FakeDevflow]]
) -> None:
    port, handler = fake_devflow
    command = (
        dockerfile_healthcheck()
        if where == "Dockerfile"
        else healthcheck_command(load_compose()["services"][SERVER])
    )

    assert probe(command, port) == 0
    handler.status = 503
    assert probe(command, port) != 0
    assert handler.paths == ["/ready", "/ready"]


# --- the Dockerfile -------------------------------------------------------------------------


def stage_bases() -> dict[str, str]:
    """Each stage's name (or number) and its base image, with the global ARG defaults filled in."""
    instructions = dockerfile_instructions()
    defaults = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.args:
            name, value = ins.args.split("=", 1)
            defaults[name] = value
    bases = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(bases))
            bases[name] = image
    return bases


def stage(name: str) -> list[Instruction]:
    instructions = dockerfile_instructions()
    (start,) = [
        i
        for i, ins in enumerate(instructions)
        if ins.keyword == "FROM" and ins.args.split()[-1] == name
    ]
    ends = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM" and i > start]
    return instructions[start : ends[0] if ends else None]


def test_the_image_is_multi_stage_on_python_311_slim() -> None:
    bases = stage_bases()
    python = [image for image in bases.values() if not image.startswith("node:")]

    assert len(python) >= 2, bases
    assert all(image.startswith("python:3.11-slim") for image in python), bases
    assert list(bases.values())[-1].startswith("python:3.11-slim"), "the final image is not Python"
    assert any(ins.keyword == "COPY" and ins.args.startswith("--from=") for ins in final_stage()), (
        "the final stage copies nothing from the build stage"
    )


def test_the_dashboard_is_built_in_a_node_stage_that_stays_out_of_the_image() -> None:
    bases = stage_bases()
    (ui,) = [name for name, image in bases.items() if image.startswith("node:20")]
    runs = " && ".join(ins.args for ins in stage(ui) if ins.keyword == "RUN")
    into_wheel = [
        ins.args
        for ins in stage("build")
        if ins.keyword == "COPY" and ins.args.startswith(f"--from={ui} ")
    ]

    # As `make ui` builds it: from the lockfile, into the package (hatch ships it in the wheel).
    assert "npm ci" in runs
    assert "npm run build" in runs
    assert into_wheel == [f"--from={ui} /src/src/devflow/web/ui_dist ./src/devflow/web/ui_dist"]
    assert not any(ins.args.startswith(f"--from={ui} ") for ins in final_stage()), (
        "the final stage copies from the Node stage: only the wheel should carry the build"
    )


def test_the_image_runs_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [ins.args.split(":")[0] for ins in stage if ins.keyword == "USER"]

    assert users, "no USER in the final stage: the container would run as root"
    assert users[-1] not in {"root", "0"}
    created = " ".join(ins.args for ins in stage if ins.keyword == "RUN")
    user = re.escape(users[-1])
    made = rf"useradd\b[^&;]*?(--uid[ =]{user}\b|\s{user}(?=\s*(&&|;|$)))"
    assert re.search(made, created), f"no `useradd` in the final stage creates {users[-1]}"


def test_the_image_defaults_suit_a_container() -> None:
    stage = final_stage()
    env: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(ins.args))
    (cmd,) = [ins for ins in stage if ins.keyword == "CMD"]
    exposed = " ".join(ins.args for ins in stage if ins.keyword == "EXPOSE").split()
    volumes = [path for ins in stage if ins.keyword == "VOLUME" for path in exec_form(ins.args)]

    assert env["DEVFLOW_HOME"] == "/data"
    assert env["DEVFLOW_SERVER__HOST"] == "0.0.0.0"
    assert env["DEVFLOW_LOG__FORMAT"] == "json"
    assert "3737" in exposed
    assert "/data" in volumes
    assert exec_form(cmd.args) == ["devflow", "serve"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out: the last pattern matching it or a folder above it
    decides (so `!ui` lets `ui/package.json` in after `*`)."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        if any(
            fnmatchcase(candidate, glob) or fnmatchcase(candidate, glob.removeprefix("**/"))
            for candidate in candidates
        ):
            ignored = not negated
    return ignored


def test_the_build_context_has_what_the_dockerfile_copies_and_no_secrets() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    copied = [
        source
        for ins in dockerfile_instructions()
        if ins.keyword == "COPY" and not ins.args.startswith("--from=")
        for source in ins.args.split()[:-1]
    ]

    assert copied, "the Dockerfile copies nothing from the context"
    for source in copied:
        assert not _ignored(source.removeprefix("./"), patterns), f"{source} is .dockerignored"
    for secret in (".env", ".git", ".venv", "credentials"):
        assert _ignored(secret, patterns), f"{secret} would be sent to the build"
    # The Node stage installs and builds afresh; a checkout's install or build would mix in.
    for local in ("ui/node_modules", "ui/test-results", "src/devflow/web/ui_dist"):
        assert _ignored(local, patterns), f"{local} would be sent to the build"
