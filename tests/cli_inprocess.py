"""Run the `devflow` command in this process, as `python -m devflow` would run it in its own.

A subprocess costs a Python start and DevFlow's imports (1-2 s on a loaded machine) per command;
a test about what a command says and does needs neither. `run_cli` calls the same `main()` the
entry point calls, so the error mapping and exit codes are the real ones, with the subprocess's
surroundings reproduced: exactly the environment given (nothing else of the test's), its own
working folder, a stdin that is no terminal, stdout and stderr captured apart, and an 80-column
width unless the environment says COLUMNS (a pipe's width). The environment and the folder are
restored afterwards, whatever the command set (`--timeout` writes DEVFLOW_TIMEOUT, for one).
A server running in a thread of the test process sees that environment during the call too,
which is harmless only because servers take their settings when they are made, never from the
environment while they answer: a server that did would need the subprocess again.

Start-up itself stays covered by the tests that still spawn `python -m devflow` (each command
family keeps at least one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import httpx
from typer.testing import CliRunner

from devflow.cli.main import main


@contextmanager
def _closing_http_clients() -> Iterator[None]:
    """Close the HTTP clients this thread makes inside the block when it ends.

    A command leaves its client to the end of its process, which closes it without a word; in
    this process it would be garbage, found by some later collection inside another test (a
    ResourceWarning there, an error under `filterwarnings = error`). A full `gc.collect()` after
    each command costs up to a second on the test process's heap; closing them costs nothing.
    """
    made: list[httpx.Client] = []
    init = httpx.Client.__init__
    me = threading.get_ident()

    def tracking_init(client: httpx.Client, *args: object, **kwargs: object) -> None:
        init(client, *args, **kwargs)
        if threading.get_ident() == me:  # not a client of a server running in a thread here
            made.append(client)

    try:
        with mock.patch.object(httpx.Client, "__init__", tracking_init):
            yield
    finally:
        for client in made:
            client.close()


def run_cli(
    *args: str,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    input: str | None = None,  # noqa: A002 - subprocess.run's name for it
) -> subprocess.CompletedProcess[str]:
    """Run `devflow *args` in process with exactly `env`; return what a subprocess would."""
    saved_env, saved_cwd, saved_argv = dict(os.environ), Path.cwd(), sys.argv
    wanted = {"COLUMNS": "80", **env}
    overlay: dict[str, str | None] = {key: None for key in saved_env if key not in wanted}
    overlay.update(wanted)
    code: int | str = 0
    runner = CliRunner()
    try:
        with runner.isolation(input=input, env=overlay) as (out, err, _):
            sys.argv = ["devflow", *args]
            if cwd is not None:
                os.chdir(cwd)
            with _closing_http_clients():
                try:
                    main()
                except SystemExit as exit_:  # main() always ends this way
                    code = 0 if exit_.code is None else exit_.code
                except Exception:  # noqa: BLE001 - what the interpreter does with an uncaught one
                    traceback.print_exc()
                    code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["devflow", *args], code, stdout, stderr)
