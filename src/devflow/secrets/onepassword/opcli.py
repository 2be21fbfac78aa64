"""Resolution through the 1Password CLI: `op read --no-newline <reference>`, one process each.

`op` runs with this process's environment (its own sign-in lives under HOME) plus
`OP_SERVICE_ACCOUNT_TOKEN` when one is set. Its standard output is the value and is read only on
success; a failure is classified from its standard error, of which one cleaned line is quoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping

from devflow.secrets.onepassword.errors import (
    NotConfigured,
    OnePasswordAuthError,
    OnePasswordError,
    ReferenceNotFound,
    Unreachable,
)
from devflow.secrets.onepassword.reference import Reference
from devflow.secrets.onepassword.settings import OnePasswordSettings

DEFAULT_CONCURRENCY = 4
_NOT_FOUND = re.compile(
    r"isn't (a|an) (vault|item|field|section)|could not find|no item (found|matched)|"
    r"not found|more than one (item|field|section)",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"not (currently )?signed in|sign ?in|unauthori[sz]ed|authenticat|forbidden|"
    r"invalid (service account )?token|\b40[13]\b",
    re.IGNORECASE,
)
_QUOTED_LINE = 200
_LOG_PREFIX = re.compile(r"^\[ERROR\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")


def find_op(settings: OnePasswordSettings) -> str | None:
    """Return the path of the `op` executable named by `settings.op_path`, or None."""
    return shutil.which(settings.op_path)


class OpCli:
    """Resolves references by running `op read`.

    Args:
        settings: `service_account_token`, `timeout_seconds`.
        executable: the path of `op` (see `find_op`).
        environ: the environment `op` starts from (default: this process's).
        concurrency: how many `op` processes may run at once.
    """

    def __init__(
        self,
        settings: OnePasswordSettings,
        *,
        executable: str,
        environ: Mapping[str, str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.executable = executable
        self._timeout = settings.timeout_seconds
        self._env = dict(os.environ if environ is None else environ)
        if settings.service_account_token is not None:
            self._env["OP_SERVICE_ACCOUNT_TOKEN"] = (
                settings.service_account_token.get_secret_value()
            )
        self._gate = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        """Nothing to close: each resolution is its own process."""

    async def resolve(self, ref: Reference) -> str:
        """Return the value `ref` points at.

        Raises:
            ReferenceNotFound, OnePasswordAuthError, Unreachable, NotConfigured.
        """
        async with self._gate:
            return await self._read(ref)

    async def resolve_many(
        self, refs: Iterable[Reference]
    ) -> dict[Reference, str | OnePasswordError]:
        """Resolve every reference; each maps to its value or to the error that stopped it."""
        unique = list(dict.fromkeys(refs))
        outcomes = await asyncio.gather(
            *(self.resolve(ref) for ref in unique), return_exceptions=True
        )
        results: dict[Reference, str | OnePasswordError] = {}
        for ref, outcome in zip(unique, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, OnePasswordError):
                raise outcome
            results[ref] = outcome
        return results

    async def _read(self, ref: Reference) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                self.executable,
                "read",
                "--no-newline",
                str(ref),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
            )
        except OSError as exc:
            raise NotConfigured(
                f"{ref}: cannot run the 1Password CLI {self.executable} "
                f"({type(exc).__name__}); set DEVFLOW_SECRETS__ONEPASSWORD__OP_PATH",
                reference=str(ref),
            ) from None
        try:
            out, err = await asyncio.wait_for(process.communicate(), self._timeout)
        except TimeoutError:
            raise Unreachable(
                f"{ref}: the 1Password CLI did not answer within {self._timeout:g} s",
                reference=str(ref),
            ) from None
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.returncode != 0:
            raise _failure(ref, process.returncode or 0, err)
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError:
            raise OnePasswordError(
                f"{ref}: the 1Password CLI answered a value that is not UTF-8 text",
                reference=str(ref),
            ) from None


def _failure(ref: Reference, code: int, stderr: bytes) -> OnePasswordError:
    """Classify a failed `op read` from its standard error (never its standard output)."""
    said = _first_line(stderr)
    quoted = f": {said}" if said else ""
    if _NOT_FOUND.search(said):
        return ReferenceNotFound(
            f"{ref} was not found by the 1Password CLI{quoted}", reference=str(ref)
        )
    if _AUTH.search(said):
        return OnePasswordAuthError(
            f"{ref}: the 1Password CLI is not signed in or its token was refused{quoted}; "
            "set DEVFLOW_SECRETS__ONEPASSWORD__SERVICE_ACCOUNT_TOKEN or sign in with `op signin`",
            reference=str(ref),
        )
    return Unreachable(f"{ref}: the 1Password CLI failed (exit {code}){quoted}", reference=str(ref))


def _first_line(stderr: bytes) -> str:
    """The first non-empty line of `stderr`, without op's log prefix, printable and cut short."""
    text = stderr.decode("utf-8", errors="replace")
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _LOG_PREFIX.sub("", line)
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line[:_QUOTED_LINE]
