"""Start `devflow up` as a user would: a subprocess on a free port with its own DEVFLOW_HOME."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devflow.core.embedded_pg import free_port
from tests import leak_scan
from tests.cli_inprocess import run_cli

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    """A running `devflow up`."""

    proc: subprocess.Popen[str]
    home: Path
    url: str
    env: dict[str, str]
    drained: list[str] | None = None  # its output so far, when a thread reads it (`drain`)
    _reader: threading.Thread | None = None

    def drain(self) -> None:
        """Read the server's output as it comes, so a long-lived server never blocks writing to
        a full pipe (64 KiB of logs, and it stops answering); `stop` returns what it printed."""
        assert self.proc.stdout is not None
        self.drained = []
        lines, out = self.drained, self.proc.stdout
        self._reader = threading.Thread(target=lambda: lines.extend(out), daemon=True)
        self._reader.start()

    @property
    def token(self) -> str:
        return json.loads((self.home / "credentials").read_text())["token"]

    def _cli_env(self, token: str | None) -> dict[str, str]:
        return {**self.env, "DEVFLOW_TOKEN": token} if token else dict(self.env)

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the `devflow` CLI against this server, in this process (see cli_inprocess)."""
        return run_cli(*args, env=self._cli_env(token))

    def cli_process(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `python -m devflow` in its own process, as a user does: for the tests that keep
        the entry point and start-up of each command family covered."""
        return subprocess.run(
            [sys.executable, "-m", "devflow", *args],
            env=self._cli_env(token),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def stop(self) -> str:
        """Ctrl-C, as a user would; return what it printed (scanned for leaked secret values,
        with its log files)."""
        out = self._stop()
        leak_scan.report(leak_scan.scan_server(self.home, out))
        return out

    def _stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        if self._reader is None or self.drained is None:
            out, _ = self.proc.communicate(timeout=60)
            return out
        self.proc.wait(timeout=60)
        self._reader.join(timeout=60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return "".join(self.drained)


def wait_for(predicate, timeout: float = 90):
    """Poll until `predicate` returns something truthy and return it; a bound on the wait, not
    a timing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("condition not reached")


def make_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="devflow-e2e-"))
    home.chmod(0o755)  # as root, the PostgreSQL service user must reach it
    return home / "home"


def start_up(
    home: Path,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    wait: bool = True,
) -> Running:
    port = port or free_port()
    env = {
        **os.environ,
        "DEVFLOW_HOME": str(home),
        "DEVFLOW_LOG__FORMAT": "json",
        "PYTHONPATH": str(REPO),
        **(extra_env or {}),
    }
    env.pop("DEVFLOW_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "devflow", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Running(proc=proc, home=home, url=f"http://127.0.0.1:{port}", env=env)
    if wait:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"devflow up exited early:\n{proc.communicate()[0]}")
            try:
                if httpx.get(f"{running.url}/ready", timeout=1).status_code == 200:
                    return running
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        running.stop()
        pytest.fail("devflow up did not become ready")
    return running


@pytest.fixture(scope="module")
def devflow() -> Iterator[Running]:
    """One `devflow up` shared by a module's tests, with the test job plugin loaded."""
    running = start_up(
        make_home(),
        extra_env={
            "DEVFLOW_JOBS__EXTRA_MODULES": '["tests.jobs_plugin"]',
            "DEVFLOW_JOBS__STALLED_AFTER_SECONDS": "5",
        },
    )
    running.drain()
    yield running
    running.stop()
