"""DevFlow's SSH server for git: asyncssh in the server process, on `repos.ssh_port`.

A connection authenticates with a public key only (any user name: `git@host` is usual); the key
names its user (`keys.principal_for_key`). A session may run one command:
`git-upload-pack`, `git-receive-pack` or `git-upload-archive` with `/<project>/<repo>.git` (or
without the leading slash). Anything else (a shell, another command, a subsystem, a pty,
forwarding) is refused with a message on stderr. The repository is found and checked exactly as
Smart HTTP does (`schemas.name_problem`, `access.require_read/require_push`), and the system's
`git` runs on `$DEVFLOW_HOME/repos/<id>.git`, its three streams copied to the channel's with
backpressure. A push runs inside `receiving.receiving` (the protection gate, the push record)
and is recorded before the exit status goes back, so a `git push` that returned is on record.
`GIT_PROTOCOL` from the client's `env` request is passed on (protocol v2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devflow.core.auth import Principal
from devflow.core.db import unit_of_work
from devflow.core.errors import DevflowError
from devflow.core.services import Services
from devflow.repos import access, service
from devflow.repos.receiving import Receiving, receiving
from devflow.repos.schemas import name_problem
from devflow.repos.settings import ReposSettings
from devflow.repos.ssh.keys import principal_for_key
from devflow.repos.storage import Storage

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

UPLOAD = "git-upload-pack"
RECEIVE = "git-receive-pack"
ARCHIVE = "git-upload-archive"
COMMANDS = (UPLOAD, RECEIVE, ARCHIVE)
HOST_KEY = "ssh_host_ed25519_key"
_CHUNK = 64 * 1024
_PROTOCOL = re.compile(r"^[A-Za-z0-9=:.,_-]{1,200}$")
_PROJECT = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_PATH = re.compile(r"^/?([^/]{1,64})/([^/]{1,100})\.git$")
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
_PRINCIPAL = "devflow_principal"
# Seconds a session may go without the client sending a byte (git then sees its input end: an
# unfinished push changes nothing) or taking one (it is treated as gone). Generous: a client
# may count and compress objects for minutes before its pack's first byte.
IDLE = 600.0
GIT_ONLY = (
    "DevFlow serves git only over SSH: clone with "
    "`git clone ssh://git@HOST:PORT/<project>/<repo>.git`; no shell, no other command"
)


class Refused(Exception):
    """A session DevFlow does not run; the message goes to the client's stderr."""


def parse_command(command: str | None) -> tuple[str, str, str]:
    """Return (git command, project, repository name) of a session's command.

    Raises:
        Refused: anything but one of `COMMANDS` with one `/<project>/<repo>.git` path.
    """
    if not command:
        raise Refused(GIT_ONLY)
    try:
        words = shlex.split(command[:2000])
    except ValueError:
        raise Refused(GIT_ONLY) from None
    if len(words) == 3 and words[0] == "git":  # noqa: PLR2004 - "git upload-pack PATH"
        words = [f"git-{words[1]}", words[2]]
    if len(words) != 2 or words[0] not in COMMANDS:  # noqa: PLR2004 - "COMMAND PATH"
        raise Refused(f"{GIT_ONLY} (refused: {command[:100]!r})")
    found = _PATH.match(words[1])
    if found is None:
        raise Refused(
            f"no repository {words[1][:200]!r}: DevFlow's repositories are /<project>/<repo>.git"
        )
    return words[0], found[1], found[2]


def host_key(home: Path) -> Path:
    """Return the server's host key file, generating it (mode 0600) on first start."""
    import asyncssh

    path = home / HOST_KEY
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        data = asyncssh.generate_private_key("ssh-ed25519").export_private_key()
        temporary = home / f".{HOST_KEY}.{os.getpid()}"
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:  # whole or not at all, and never over another process's key (several workers)
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
    return path


async def _repository(
    services: Services, principal: Principal, wanted: str, project: str, name: str
) -> Any:
    shown = service.full_name(project[:64], name[:100])
    found = None
    if _PROJECT.match(project) and name_problem(name) is None:
        async with services.sessions(execution_options=_AUTOCOMMIT) as session:
            found = await service.get_repository(session, project=project, name=name)
    if wanted == RECEIVE:
        return access.require_push(principal, found, shown)
    return access.require_read(principal, found, shown)


async def _copy_in(source: Any, stdin: asyncio.StreamWriter) -> None:
    """Copy the client's bytes to git until the client's EOF (or git stops reading)."""
    try:
        while chunk := await asyncio.wait_for(source.read(_CHUNK), IDLE):
            stdin.write(chunk)
            await stdin.drain()
    except TimeoutError:
        log.info("an SSH client sent nothing for %s s: its git input ends", IDLE)
    except Exception:  # noqa: BLE001, S110 - the client went away or git stopped: it ends there
        pass
    finally:
        with contextlib.suppress(Exception):
            stdin.close()


class _Gone(Exception):
    """The client went away while git was answering."""


async def _copy_out(source: asyncio.StreamReader, target: Any, *, finish: bool) -> None:
    """Copy git's output to the client. When the client has gone, a push (`finish`) reads git's
    output on and lets it end, so that refs it moved are recorded; anything else stops."""
    gone = False
    while chunk := await source.read(_CHUNK):
        if gone:
            continue
        try:
            target.write(chunk)
            await asyncio.wait_for(target.drain(), IDLE)
        except Exception as exc:  # asyncssh's or the socket's: the client is gone
            if not finish:
                raise _Gone from exc
            gone = True


class GitSession:
    """Runs one session's git command for its connection's user."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.storage = Storage.of(services.settings)

    async def __call__(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        try:
            code = await self._serve(process)
        except _Gone:
            log.info("an SSH client went away during %s", process.command)
            return
        except Refused as exc:
            code = self._say(process, str(exc))
        except DevflowError as exc:
            code = self._say(process, exc.message)
        except Exception:
            log.exception("an SSH git session failed")
            code = self._say(process, "DevFlow failed to serve this; the server log says why")
        with contextlib.suppress(Exception):
            process.exit(code)

    @staticmethod
    def _say(process: asyncssh.SSHServerProcess[bytes], message: str) -> int:
        with contextlib.suppress(Exception):
            process.stderr.write(f"{message}\n".encode())
        return 1

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> int:
        principal: Principal | None = process.get_extra_info(_PRINCIPAL)
        if principal is None:  # authentication always sets it; fail closed all the same
            raise Refused("not authenticated")
        if process.subsystem:
            raise Refused(GIT_ONLY)
        wanted, project, name = parse_command(process.command)
        repo = await _repository(self.services, principal, wanted, project, name)
        env = self.storage.env()
        protocol = process.env.get("GIT_PROTOCOL", "")
        if isinstance(protocol, str) and _PROTOCOL.match(protocol):
            env["GIT_PROTOCOL"] = protocol
        if wanted == RECEIVE:
            async with receiving(self.services, repo_id=repo.id, pusher=principal) as pushing:
                return await self._run(process, wanted, repo.id, env, pushing)
        return await self._run(process, wanted, repo.id, env, None)

    async def _run(
        self,
        process: asyncssh.SSHServerProcess[bytes],
        wanted: str,
        repo_id: Any,
        env: dict[str, str],
        pushing: Receiving | None,
    ) -> int:
        proc = await asyncio.create_subprocess_exec(
            self.storage.git,
            wanted.removeprefix("git-"),
            str(self.storage.path(repo_id)),
            cwd=self.storage.root,
            env={**env, **(pushing.env if pushing else {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin  # noqa: S101 - all three are pipes
        assert proc.stdout  # noqa: S101
        assert proc.stderr  # noqa: S101
        feeding = asyncio.create_task(_copy_in(process.stdin, proc.stdin))
        try:
            finish = pushing is not None
            await asyncio.gather(
                _copy_out(proc.stdout, process.stdout, finish=finish),
                _copy_out(proc.stderr, process.stderr, finish=finish),
            )
            code = await proc.wait()
        finally:
            feeding.cancel()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if pushing is not None and code == 0:
            await pushing.record()
        return code


def _server_class(services: Services) -> type:
    import asyncssh

    class _Server(asyncssh.SSHServer):
        """One connection: public keys only, each looked up among users' keys."""

        def __init__(self) -> None:
            self.conn: asyncssh.SSHServerConnection | None = None

        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self.conn = conn

        def begin_auth(self, username: str) -> bool:  # noqa: ARG002 - any name: git@
            return True

        def password_auth_supported(self) -> bool:
            return False

        def kbdint_auth_supported(self) -> bool:
            return False

        def host_based_auth_supported(self) -> bool:
            return False

        def public_key_auth_supported(self) -> bool:
            return True

        async def validate_public_key(
            self,
            username: str,  # noqa: ARG002 - the key names the user
            key: asyncssh.SSHKey,
        ) -> bool:
            # asyncssh asks this for each key offered, and again for the signed request it
            # then verifies; authentication succeeds right after the latter, so the Principal
            # kept last is that of the key that authenticated.
            fingerprint = key.get_fingerprint("sha256")
            async with unit_of_work(services.sessions) as session:
                principal = await principal_for_key(session, fingerprint=fingerprint)
            if principal is None or self.conn is None:
                return False
            self.conn.set_extra_info(**{_PRINCIPAL: principal})
            return True

    return _Server


@contextlib.asynccontextmanager
async def ssh_server(services: Services) -> AsyncIterator[None]:
    """Serve git over SSH while the server process runs (nothing when `repos.ssh_port` is 0).
    A port that cannot be bound is logged and leaves HTTP serving."""
    port = services.settings.section(ReposSettings).ssh_port
    if port == 0:
        yield
        return
    import asyncssh

    host = services.settings.server.host
    server = None
    try:
        key = await asyncio.to_thread(host_key, services.settings.home)
        server = await asyncssh.create_server(
            _server_class(services),
            host or None,
            port,
            server_host_keys=[str(key)],
            process_factory=GitSession(services),
            encoding=None,
            allow_pty=False,
            x11_forwarding=False,
            agent_forwarding=False,
            line_editor=False,
            login_timeout=60,
            keepalive_interval=60,
        )
    except (OSError, asyncssh.Error) as exc:
        log.warning("git over SSH is off: cannot listen on %s:%s (%s)", host, port, exc)
    else:
        log.info("git over SSH on %s:%s", host, port)
    try:
        yield
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()


__all__ = ["COMMANDS", "GitSession", "Refused", "host_key", "parse_command", "ssh_server"]
