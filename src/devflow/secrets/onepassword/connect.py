"""An async client of the 1Password Connect server's REST API, spoken directly with httpx.

A reference is resolved in up to three requests: the vault by name
(`GET /v1/vaults?filter=name eq "…"`, skipped to `GET /v1/vaults/{id}` when the name looks like
an id), the item by title (`GET /v1/vaults/{v}/items?filter=title eq "…"`), then the item with
its fields (`GET /v1/vaults/{v}/items/{i}`). A batch looks each vault up once and fetches each
item once, whatever the number of its fields asked for; requests run concurrently, a few at a
time. Names are matched exactly here, whatever the server's filter does with case; a name that
matches two things is refused (name it by id), never guessed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from devflow.secrets.onepassword.errors import (
    OnePasswordAuthError,
    OnePasswordError,
    ReferenceNotFound,
    Unreachable,
)
from devflow.secrets.onepassword.reference import Reference
from devflow.secrets.onepassword.settings import OnePasswordSettings

DEFAULT_CONCURRENCY = 4
# 1Password's ids: 26 lowercase letters and digits.
_ID = re.compile(r"[a-z0-9]{26}")
_HTTP_NOT_FOUND = 404
_HTTP_OK = 200
_HTTP_TOO_MANY = 429
_HTTP_SERVER_ERROR = 500
_AUTH_REFUSED = frozenset({401, 403})


class _Failure(Exception):
    """A lookup failed; becomes one public error per reference it concerns."""

    def __init__(self, kind: type[OnePasswordError], detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail

    def error_for(self, ref: Reference) -> OnePasswordError:
        return self.kind(f"{ref}: {self.detail}", reference=str(ref))


class ConnectClient:
    """Resolves references through a Connect server; one per process, closed with `aclose()`.

    Args:
        settings: `connect_host` (required), `connect_token`, `timeout_seconds`.
        transport: an httpx transport in place of the network (tests).
        concurrency: how many requests may be in flight at once.
    """

    def __init__(
        self,
        settings: OnePasswordSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if not settings.connect_host:
            raise ValueError("ConnectClient needs settings.connect_host")
        self.host = settings.connect_host.rstrip("/")
        self._timeout = settings.timeout_seconds
        headers = {"Accept": "application/json"}
        if settings.connect_token is not None:
            headers["Authorization"] = f"Bearer {settings.connect_token.get_secret_value()}"
        self._http = httpx.AsyncClient(
            base_url=self.host,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            trust_env=False,  # no proxy from the environment sees the token
            follow_redirects=False,
        )
        self._gate = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def resolve(self, ref: Reference) -> str:
        """Return the value `ref` points at.

        Raises:
            ReferenceNotFound, OnePasswordAuthError, Unreachable, OnePasswordError.
        """
        result = (await self.resolve_many([ref]))[ref]
        if isinstance(result, OnePasswordError):
            raise result
        return result

    async def resolve_many(
        self, refs: Iterable[Reference]
    ) -> dict[Reference, str | OnePasswordError]:
        """Resolve every reference; each maps to its value or to the error that stopped it."""
        groups: dict[tuple[str, str], list[Reference]] = {}
        for ref in refs:
            groups.setdefault((ref.vault, ref.item), []).append(ref)
        results: dict[Reference, str | OnePasswordError] = {}
        names = dict.fromkeys(vault for vault, _ in groups)
        vaults = {vault: asyncio.ensure_future(self._vault_id(vault)) for vault in names}
        try:
            await asyncio.gather(
                *(
                    self._fill(vaults[vault], item, members, results)
                    for (vault, item), members in groups.items()
                )
            )
        finally:
            for task in vaults.values():
                task.cancel()  # only those left behind by a cancelled batch
        return results

    async def _fill(
        self,
        vault_id: asyncio.Future[str],
        title: str,
        members: list[Reference],
        results: dict[Reference, str | OnePasswordError],
    ) -> None:
        try:
            item = await self._item(await asyncio.shield(vault_id), members[0].vault, title)
        except _Failure as failure:
            for ref in members:
                results[ref] = failure.error_for(ref)
            return
        for ref in members:
            try:
                results[ref] = field_value(item, ref)
            except _Failure as failure:
                results[ref] = failure.error_for(ref)

    async def _vault_id(self, name: str) -> str:
        if _ID.fullmatch(name):
            found = await self._get(f"/v1/vaults/{name}")
            if isinstance(found, dict) and isinstance(found.get("id"), str):
                return str(found["id"])
        listed = await self._get("/v1/vaults", params=_filter("name", name))
        matches = [v for v in _records(listed) if v.get("name") == name]
        return _one(matches, f"no vault named {name!r} is shared with the token", "vaults")

    async def _item(self, vault_id: str, vault: str, title: str) -> dict[str, Any]:
        base = f"/v1/vaults/{quote(vault_id, safe='')}/items"
        if _ID.fullmatch(title):
            found = await self._get(f"{base}/{title}")
            if isinstance(found, dict):
                return found
        listed = await self._get(base, params=_filter("title", title))
        matches = [i for i in _records(listed) if i.get("title") == title]
        item_id = _one(matches, f"no item titled {title!r} in vault {vault!r}", "items")
        found = await self._get(f"{base}/{quote(item_id, safe='')}")
        if not isinstance(found, dict):
            raise _Failure(ReferenceNotFound, f"the item {title!r} went away while being read")
        return found

    async def _get(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        """GET `path`; None for a 404. Raises `_Failure` for anything but 200 with JSON."""
        async with self._gate:
            try:
                response = await self._http.get(path, params=params)
            except httpx.TimeoutException:
                raise _Failure(
                    Unreachable,
                    f"the Connect server at {self.host} did not answer within {self._timeout:g} s",
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _Failure(
                    Unreachable,
                    f"cannot reach the Connect server at {self.host} ({type(exc).__name__})",
                ) from None
        status = response.status_code
        if status == _HTTP_NOT_FOUND:
            return None
        if status in _AUTH_REFUSED:
            raise _Failure(
                OnePasswordAuthError,
                f"the Connect server at {self.host} refused the token (HTTP {status}); check "
                "DEVFLOW_SECRETS__ONEPASSWORD__CONNECT_TOKEN and the vaults it may read",
            )
        if status == _HTTP_TOO_MANY or status >= _HTTP_SERVER_ERROR:
            raise _Failure(Unreachable, f"the Connect server at {self.host} answered {status}")
        if status != _HTTP_OK:
            raise _Failure(OnePasswordError, f"the Connect server at {self.host} answered {status}")
        try:
            return response.json()
        except ValueError:
            raise _Failure(
                Unreachable, f"the Connect server at {self.host} answered something not JSON"
            ) from None


def field_value(item: dict[str, Any], ref: Reference) -> str:
    """Return the value of `ref`'s field (and section) in a Connect item.

    A section or field is matched by id first, then by label. Raises `_Failure`.
    """
    fields = [f for f in _records(item.get("fields")) if isinstance(f.get("id"), str)]
    where = f"item {ref.item!r}"
    if ref.section is not None:
        sections = [s for s in _records(item.get("sections")) if isinstance(s.get("id"), str)]
        chosen = _by_id_or_label(sections, ref.section, f"no section {ref.section!r} in {where}")
        fields = [f for f in fields if _section_id(f) == chosen["id"]]
        where = f"section {ref.section!r} of {where}"
    field = _by_id_or_label(fields, ref.field, f"no field {ref.field!r} in {where}")
    value = field.get("value")
    if value is None:
        return ""  # an empty field, as `op read` gives it
    if not isinstance(value, str):
        raise _Failure(Unreachable, f"the field {ref.field!r} of {where} is not text")
    return value


def _by_id_or_label(records: list[dict[str, Any]], name: str, missing: str) -> dict[str, Any]:
    for record in records:
        if record["id"] == name:
            return record
    matches = [r for r in records if r.get("label") == name]
    if len(matches) > 1:
        raise _Failure(
            ReferenceNotFound, f"{len(matches)} things are labelled {name!r}; name it by its id"
        )
    if not matches:
        raise _Failure(ReferenceNotFound, missing)
    return matches[0]


def _section_id(field: dict[str, Any]) -> str | None:
    section = field.get("section")
    if isinstance(section, dict) and isinstance(section.get("id"), str):
        return str(section["id"])
    return None


def _one(matches: list[dict[str, Any]], missing: str, what: str) -> str:
    if len(matches) > 1:
        name = matches[0].get("name") or matches[0].get("title")
        raise _Failure(
            ReferenceNotFound, f"{len(matches)} {what} have the name {name!r}; name it by its id"
        )
    if not matches or not isinstance(matches[0].get("id"), str):
        raise _Failure(ReferenceNotFound, missing)
    return str(matches[0]["id"])


def _records(data: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (None for a 404 is an empty list); a garbled answer raises."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise _Failure(Unreachable, "the Connect server answered something that is not a list")
    return [r for r in data if isinstance(r, dict)]


def _filter(attribute: str, value: str) -> dict[str, str] | None:
    # The filter language has no escape for a quote: such a name is listed unfiltered and
    # matched here.
    if '"' in value or "\\" in value:
        return None
    return {"filter": f'{attribute} eq "{value}"'}
