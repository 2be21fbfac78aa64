"""`git clone` and `git fetch` from a URL a user gave, through the outbound rules.

git opens its own sockets, so `core.outbound`'s client cannot check them. Instead the host is
resolved once here, every address checked with `core.outbound.address_allowed`, and git is told
to connect to a checked address only (`http.curloptResolve` pins the name to it, so a second
lookup that answers a private address, DNS rebinding, is never made). Redirects are not followed
(`http.followRedirects=false`: one could lead anywhere), only the http and https transports run
(`GIT_ALLOW_PROTOCOL=http:https`, `protocol.allow=never` otherwise, `protocol.file.allow=never`),
no proxy, no credential helper and no prompt. Progress lines git writes are handed to
`on_progress` as they come.

Credentials (a mirror's `secret://NAME`, resolved by the caller) reach git as an
`http.extraHeader` (`Authorization: Basic …`) set through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`/
`GIT_CONFIG_VALUE_0` in git's environment: never in the URL (stored and shown), the process's
arguments (`ps` shows them to every local user) or a file. git prints no request header unless
told to trace (`GIT_TRACE*`, which `Storage.env` never passes on), and what it writes is masked
with the value anyway before it reaches a log line or an error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from devflow.core.outbound import AddressRefused, Resolver, address_allowed, system_resolver
from devflow.repos.mirrors.schemas import SourceUrl
from devflow.repos.mirrors.settings import MirrorSettings
from devflow.repos.storage import GitFailed, Storage
from devflow.secrets import Masker

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int | None], Awaitable[None]]
_AUTH_FAILED = ("could not read Username", "Authentication failed", "401")
_PROGRESS = re.compile(r"^(?:remote: )?([A-Za-z ]+):\s+\d+% \((\d+)/(\d+)\)")


class SourceFailed(GitFailed):
    """git could not clone or fetch from the source (its message says why)."""

    status = 502
    code = "source_failed"


async def checked_address(
    source: SourceUrl, settings: MirrorSettings, resolver: Resolver = system_resolver
) -> str:
    """Resolve the source's host and return an address git may connect to.

    Raises:
        AddressRefused: every address is private, loopback, link-local or reserved (and the
            settings do not allow it), or the name does not resolve.
    """
    try:
        addresses = await resolver(source.host, source.port)
    except (OSError, UnicodeError):
        raise AddressRefused(
            f"cannot resolve {source.host}", reason="unresolved", url=source.host
        ) from None
    networks = tuple(settings.private_networks)
    for address in addresses:
        if address_allowed(
            address, allow_private=settings.allow_private_networks, networks=networks
        ):
            return address
    raise AddressRefused(
        f"{source.host} resolves to {', '.join(addresses) or 'nothing'}: a private, loopback "
        "or link-local address; an operator may allow it "
        "(DEVFLOW_REPOS__MIRRORS__ALLOW_PRIVATE_NETWORKS or …__PRIVATE_NETWORKS)",
        reason="private_address",
        url=source.host,
    )


def guard_options(source: SourceUrl, address: str) -> list[str]:
    """Return the `-c` options that keep git to the checked address and to http(s)."""
    shown = f"[{address}]" if isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address) \
        else address  # fmt: skip
    options = {
        "protocol.allow": "never",
        "protocol.http.allow": "always",
        "protocol.https.allow": "always",
        "protocol.file.allow": "never",
        "http.followRedirects": "false",
        "http.curloptResolve": f"{source.host}:{source.port}:{shown}",
        "http.proxy": "",
        "credential.helper": "",
        "core.askPass": "",
    }
    return [item for key, value in options.items() for item in ("-c", f"{key}={value}")]


async def run_guarded(
    storage: Storage,
    source: SourceUrl,
    settings: MirrorSettings,
    args: list[str],
    *,
    cwd: Path,
    on_progress: Progress | None = None,
    credentials: tuple[str, str] | None = None,
) -> None:
    """Run `git <guard options> args…` that reaches `source`, within the time limit, sending
    `credentials` (user, password) as HTTP basic authentication when given.

    Raises:
        AddressRefused: the source's address is refused.
        SourceFailed: git failed (the last line it wrote says why) or ran past the limit.
    """
    address = await checked_address(source, settings)
    env = {**storage.env(), "GIT_ALLOW_PROTOCOL": "http:https", "GIT_TERMINAL_PROMPT": "0"}
    masker = Masker()
    if credentials is not None:
        user, password = credentials
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
        )
        masker.add(password)
        masker.add(basic)
    proc = await asyncio.create_subprocess_exec(
        storage.git, *guard_options(source, address), *args,
        cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None  # noqa: S101 - piped above
    last = ""
    try:
        async with asyncio.timeout(settings.timeout_seconds):
            pending = b""
            while chunk := await proc.stderr.read(4096):
                pending += chunk
                *lines, pending = re.split(rb"[\r\n]", pending)
                for raw in lines:
                    line = masker.mask(raw.decode(errors="replace")).strip()
                    if not line:
                        continue
                    last = line
                    found = _PROGRESS.match(line)
                    if found and on_progress is not None:
                        await on_progress(found[1].strip().lower(), int(found[2]), int(found[3]))
            if pending.strip():
                last = masker.mask(pending.decode(errors="replace")).strip()
            code = await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise SourceFailed(
            f"fetching from {source.url} took longer than {settings.timeout_seconds:g}s"
        ) from None
    if code != 0:
        log.warning("git %s from %s failed: %s", args[0], source.url, last)
        hint = ""
        if any(sign in last for sign in _AUTH_FAILED):
            hint = (
                " (the source refused the credentials given: check the secret's value)"
                if credentials is not None
                else " (the source asks for credentials: give `credentials: secret://NAME`, a "
                "secret of the project holding user:password or a token)"
            )
        raise SourceFailed(f"git {args[0]} from {source.url} failed: {last[:300]}{hint}")


__all__ = ["SourceFailed", "checked_address", "guard_options", "run_guarded"]
