"""Smart HTTP at `/<project>/<repo>.git`: the system's `git http-backend`, streamed both ways.

DevFlow decides who may do what and where the repository is; git does the protocol. Each request
authenticates (a DevFlow token as a Basic password with any user name, or a bearer token), finds
the repository by project and name in one short autocommit read, checks access (`access`), and
runs `git http-backend` as a CGI program on `$DEVFLOW_HOME/repos/<id>.git`: the request body
goes to its stdin chunk by chunk as it arrives (chunked or gzip, the backend inflates), its
stdout comes back chunk by chunk, each side waiting for the other (no pack is ever held whole in
memory). `Git-Protocol` is passed on, so protocol v2 works.

The answer's first line waits for the backend's first byte of body (it has read the request by
then): a body the `web.middleware.RequestGuard` refuses part-way (too large, stalled) is still
answered with its 413 or 408, not with a 200 cut short. Such a push ends the backend's stdin
early; `git receive-pack` then finds the pack incomplete and changes nothing (it keeps incoming
objects in quarantine until the pack is whole).

A push runs inside `receiving.receiving` (shared with SSH): the protection gate, and DevFlow's
post-receive hook writing the refs it moved to a file named in `DEVFLOW_PUSH_LOG`; after the
backend exits they are recorded (`Receiving.record`), before the answer's last byte, so a
`git push` that returned is on record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from devflow.core.auth import AUTHENTICATOR, Principal, token_from_authorization
from devflow.core.errors import DevflowError, Invalid, Unauthenticated
from devflow.core.http import services_of
from devflow.core.services import Services
from devflow.repos import access, service
from devflow.repos.receiving import Receiving, receiving
from devflow.repos.schemas import name_problem
from devflow.repos.storage import Storage

log = logging.getLogger(__name__)

UPLOAD = "git-upload-pack"
RECEIVE = "git-receive-pack"
REALM = 'Basic realm="DevFlow"'
_CHUNK = 64 * 1024
_PROTOCOL = re.compile(r"^[A-Za-z0-9=:.,_-]{1,200}$")
_PROJECT = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
# Seconds a backend may take to finish after its stdin closed early, before it is killed.
_GRACE = 30.0


@dataclass(frozen=True)
class _Target:
    """The repository a request acts on, as read before the backend runs."""

    id: uuid.UUID
    project_id: uuid.UUID


class SmartHttp:
    """The ASGI endpoint of one Smart HTTP path (`/info/refs`, `/git-upload-pack`,
    `/git-receive-pack`) of `/{project}/{repo}.git`."""

    def __init__(self, tail: str) -> None:
        self.tail = tail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services = services_of(request)
        try:
            wanted = self._service(request)
            principal = await _caller(request, services)
            target = await _target(request, services, principal, wanted)
        except DevflowError as exc:
            await _refuse(send, exc)
            return
        await _Backend(services, request, principal, target, wanted, self.tail).run(receive, send)

    def _service(self, request: Request) -> str:
        if self.tail == "/info/refs":
            wanted = request.query_params.get("service", "")
            if wanted not in {UPLOAD, RECEIVE}:
                raise Invalid(
                    "DevFlow speaks git's smart HTTP protocol only: use git 1.6.6 or later"
                )
            return wanted
        return self.tail.removeprefix("/")


async def _caller(request: Request, services: Services) -> Principal | None:
    token = token_from_authorization(request.headers.get("authorization"))
    if not token:
        return None
    authenticator = services.get(AUTHENTICATOR)
    principal = authenticator.cached(token)
    if principal is None:
        async with services.sessions(execution_options=_AUTOCOMMIT) as session:
            principal = await authenticator.authenticate(session, token)
    request.state.principal = principal
    return principal


async def _target(
    request: Request, services: Services, principal: Principal | None, wanted: str
) -> _Target:
    project, name = request.path_params["project"], request.path_params["repo"]
    shown = service.full_name(project[:64], name[:100])
    found = None
    if _PROJECT.match(project) and name_problem(name) is None:
        async with services.sessions(execution_options=_AUTOCOMMIT) as session:
            found = await service.get_repository(session, project=project, name=name)
    if wanted == RECEIVE:
        repo = access.require_push(principal, found, shown)
    else:
        repo = access.require_read(principal, found, shown)
    return _Target(id=repo.id, project_id=repo.project_id)


class _Backend:
    """One run of `git http-backend` for one request."""

    def __init__(
        self,
        services: Services,
        request: Request,
        principal: Principal | None,
        target: _Target,
        wanted: str,
        tail: str,
    ) -> None:
        self.services = services
        self.request = request
        self.principal = principal
        self.target = target
        self.wanted = wanted
        self.tail = tail
        self.storage = Storage.of(services.settings)
        self.refused: HTTPException | None = None

    def _env(self) -> dict[str, str]:
        headers = self.request.headers
        env = self.storage.env()
        env.update(
            {
                "GIT_PROJECT_ROOT": str(self.storage.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": f"/{self.target.id}.git{self.tail}",
                "REQUEST_METHOD": self.request.method,
                "QUERY_STRING": f"service={self.wanted}" if self.tail == "/info/refs" else "",
                "CONTENT_TYPE": headers.get("content-type", ""),
                "REMOTE_ADDR": self.request.client.host if self.request.client else "",
            }
        )
        if self.principal is not None:
            env["REMOTE_USER"] = self.principal.username
        # No CONTENT_LENGTH, ever: the backend then reads its stdin to the end, which comes
        # when the body does or is refused. Told a length, git 2.39's http-backend spins
        # forever on a body that ends before it (pipe_fixed_length reads 0 bytes in a loop).
        encoding = headers.get("content-encoding", "")
        if encoding in {"gzip", "x-gzip"}:
            env["HTTP_CONTENT_ENCODING"] = encoding
        protocol = headers.get("git-protocol", "")
        if _PROTOCOL.match(protocol):
            env["GIT_PROTOCOL"] = env["HTTP_GIT_PROTOCOL"] = protocol
        return env

    async def run(self, receive: Receive, send: Send) -> None:
        """Run the backend, stream the body in and its answer out, record a push. A push's
        pre-receive hook checks the branch rules through a gate (`protection.gate`)."""
        if self.wanted == RECEIVE and self.tail != "/info/refs" and self.principal is not None:
            push = receiving(self.services, repo_id=self.target.id, pusher=self.principal)
            async with push as pushing:
                await self._run(receive, send, pushing)
        else:
            await self._run(receive, send, None)

    async def _run(self, receive: Receive, send: Send, pushing: Receiving | None) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.storage.git,
            "http-backend",
            cwd=self.storage.root,
            env={**self._env(), **(pushing.env if pushing else {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin  # noqa: S101 - all three are pipes
        assert proc.stdout  # noqa: S101
        assert proc.stderr  # noqa: S101
        feeding = asyncio.create_task(self._feed(receive, proc.stdin))
        errors = asyncio.create_task(_drain(proc.stderr))
        try:
            await self._answer(proc, feeding, send, pushing)
        finally:
            feeding.cancel()
            await _end(proc)
            errors.cancel()
            if errors.done() and not errors.cancelled() and errors.result():
                log.info("git http-backend: %s", errors.result().decode(errors="replace")[:2000])

    async def _feed(self, receive: Receive, stdin: asyncio.StreamWriter) -> None:
        """Copy the request body to the backend as it arrives; stop at the guard's refusal."""
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away: the backend sees the body end
                chunk = message.get("body", b"")
                if chunk:
                    stdin.write(chunk)
                    await stdin.drain()
                if not message.get("more_body", False):
                    return
        except HTTPException as exc:
            self.refused = exc
        except (BrokenPipeError, ConnectionResetError):
            return  # the backend stopped reading: its answer says why
        finally:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                stdin.close()

    async def _answer(
        self,
        proc: asyncio.subprocess.Process,
        feeding: asyncio.Task[None],
        send: Send,
        pushing: Receiving | None,
    ) -> None:
        assert proc.stdout  # noqa: S101
        status, headers = await _cgi_headers(proc.stdout)
        first = await proc.stdout.read(_CHUNK)
        if not first:
            await asyncio.wait({feeding})  # the body is read (or refused) before the answer
        if self.refused is not None:
            await _plain(send, self.refused.status_code, str(self.refused.detail), close=True)
            return
        if status is None:
            await _plain(send, 502, "git http-backend gave no answer; the server log says why")
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        chunk = first
        while chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            chunk = await proc.stdout.read(_CHUNK)
        await asyncio.wait({feeding})
        await proc.wait()
        if pushing is not None and proc.returncode == 0:
            await pushing.record()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drain(stderr: asyncio.StreamReader) -> bytes:
    """Read all the backend says on stderr (so it never blocks on a full pipe); keep the start."""
    kept = b""
    while chunk := await stderr.read(_CHUNK):
        kept = (kept + chunk)[:4096]
    return kept


async def _cgi_headers(
    stdout: asyncio.StreamReader,
) -> tuple[int | None, list[tuple[bytes, bytes]]]:
    """Read a CGI answer's headers: its status (None when it gave none at all) and the rest."""
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = await stdout.readline()
        if not line:
            return None, []
        line = line.rstrip(b"\r\n")
        if not line:
            return status or 200, headers
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"status":
            status = int(value.strip().split(b" ", 1)[0] or b"500")
        else:
            headers.append((name.strip().lower(), value.strip()))


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Let a backend whose stdin has closed finish; kill one that does not."""
    if proc.returncode is not None:
        return
    try:
        await asyncio.wait_for(proc.wait(), _GRACE)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def _refuse(send: Send, exc: DevflowError) -> None:
    headers = [(b"www-authenticate", REALM.encode())] if isinstance(exc, Unauthenticated) else []
    await _plain(send, exc.status, exc.message, extra=headers)


async def _plain(
    send: Send,
    status: int,
    message: str,
    *,
    extra: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    """Answer in plain text, which `git` shows its user as `remote: <message>`."""
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *(extra or [])]
    if close:
        headers.append((b"connection", b"close"))
    body = (message + "\n").encode()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["RECEIVE", "UPLOAD", "SmartHttp"]
