"""Running a validation command: in a fresh folder (a clone of the run's repository when it
has one), with a scrubbed environment and a time limit, keeping the end of its output.

The command comes from a workflow definition, which a project writer applies, and runs on the
worker's machine as DevFlow's user: an instance admin turns command checks on
(`DEVFLOW_WORKFLOWS__RUN_COMMANDS=true`) only where every writer may run code there. While
they are off, a reviewer decides instead (see `engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

OUTPUT_KEPT = 8000  # characters of the output's end kept as evidence
_SAFE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Verdict:
    """How a check ended."""

    passed: bool
    exit_status: int | None  # None: it timed out or could not start
    output: str
    seconds: float

    def evidence(self, command: str) -> str:
        """The verdict as a Markdown comment."""
        status = self.exit_status
        how = "did not finish" if status is None else f"exited with {status}"
        mark = "passed" if self.passed else "failed"
        runs = [len(m) for m in re.findall(r"`+", self.output)]
        fence = "`" * max(3, max(runs, default=0) + 1)  # longer than any in the output
        said = f"Check {mark}: `{command}` {how} after {self.seconds:.1f} s."
        return f"{said}\n\n{fence}\n{self.output}\n{fence}"


@dataclass(frozen=True)
class Source:
    """The code a check runs against: a bare repository and a branch of it."""

    bare: Path
    branch: str | None


async def run_check(
    command: str,
    *,
    limit: float,
    source: Source | None,
    env: dict[str, str],
    git: str = "git",
) -> Verdict:
    """Run `command` with `sh -c` in a fresh folder for at most `limit` seconds; exit status 0
    passes."""
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="devflow-check-"))
    try:
        work = folder
        if source is not None:
            work = folder / "work"
            problem = await _clone(git, source, work)
            if problem is not None:
                return Verdict(False, None, problem, time.monotonic() - started)
        scrubbed = {k: os.environ[k] for k in _SAFE_ENV if k in os.environ}
        scrubbed.update(env, HOME=str(folder))
        return await _run(command, work, scrubbed, limit, started)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _clone(git: str, source: Source, into: Path) -> str | None:
    args = [git, "clone", "--quiet", "--no-hardlinks"]
    if source.branch:
        args += ["--branch", source.branch]
    proc = await asyncio.create_subprocess_exec(
        *args,
        "--",
        str(source.bare),
        str(into),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        said = out.decode(errors="replace").strip()
        return f"could not check out {source.branch or 'the default branch'}: {said}"
    return None


async def _run(
    command: str, cwd: Path, env: dict[str, str], limit: float, started: float
) -> Verdict:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout stops all it started
    )
    assert proc.stdout is not None  # noqa: S101 - asked for above
    kept = bytearray()

    async def read() -> None:
        assert proc.stdout is not None  # noqa: S101 - asked for above
        while chunk := await proc.stdout.read(65536):
            kept.extend(chunk)
            del kept[: max(0, len(kept) - 4 * OUTPUT_KEPT)]

    reader = asyncio.ensure_future(read())
    try:
        await asyncio.wait_for(asyncio.shield(reader), limit)
        status: int | None = await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        reader.cancel()
        status = None
        kept.extend(f"\n[stopped after {limit:g} s]".encode())
    except BaseException:  # cancelled (the worker stops): stop the command too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    text = kept.decode(errors="replace")[-OUTPUT_KEPT:]
    return Verdict(status == 0, status, text, time.monotonic() - started)


__all__ = ["OUTPUT_KEPT", "Source", "Verdict", "run_check"]
