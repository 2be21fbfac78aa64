"""Property-based fuzzing of the whole HTTP API from its OpenAPI schema (security issue 12).

Schemathesis generates requests for every operation in `/openapi.json` -- valid ones and, in
its negative mode, ones that break the schema (NUL bytes, huge integers, wrong types, missing
fields, bodies that are not JSON) -- and sends them over real sockets to a real uvicorn server
on a template-clone database, as an instance admin. Two properties, each its own test per
operation, so that an undocumented 404 cannot hide a crash behind it:

- no request makes the server fail (no 5xx);
- every answer is documented: its status code, content type, headers and body match the schema.

The CI run is bounded (a few examples per operation and a fixed seed, so every run sends the
same requests); `make fuzz` runs this module with `DEVFLOW_TEST_FUZZ_EXAMPLES` raised and a
random seed. A failure names the request as a curl command, the seed that replays it
(`DEVFLOW_TEST_FUZZ_SEED`), and the server's log lines for it, found by its `x-request-id`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, HookContext
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from devflow.core.auth import Scope
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.core.logging import request_id_var
from devflow.identity import User
from devflow.identity import service as identity
from devflow.settings import load_settings
from devflow.web import create_app
from tests.registry_fixtures import RegistryServer, build_wheel, running_server

# Examples per operation and test after the deterministic coverage cases; CI's budget.
EXAMPLES = int(os.environ.get("DEVFLOW_TEST_FUZZ_EXAMPLES", "40"))
_SEED = os.environ.get("DEVFLOW_TEST_FUZZ_SEED", "20260612")
SEED = secrets.randbits(48) if _SEED == "random" else int(_SEED)
# An event stream never ends: schemathesis reads it this long and checks what came.
STREAM_SECONDS = 0.2
REQUEST_SECONDS = 30

CRASH_CHECKS = [not_a_server_error]
CONFORMANCE_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _openapi() -> dict[str, Any]:
    # `/openapi.json` serves `app.openapi()`, and building the app opens nothing (the database
    # is reached in its lifespan), so the operations are known at collection and each is its
    # own test. `test_the_fuzzed_schema_is_the_one_served` keeps the two the same.
    return create_app(load_settings(database_url="postgresql://fuzz@127.0.0.1:1/unused")).openapi()


schema = schemathesis.openapi.from_dict(
    _openapi(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES,
                # No example database to carry between runs: a failure replays from its seed.
                "database": "none",
            },
            "request-timeout": REQUEST_SECONDS,
        }
    ),
)

# Path parameters that name something the `seeded` fixture created, a set of parameters that
# belong together each. Generated values almost never name something that exists, so without
# these nearly every case of an operation on one resource would stop at its 404.
SEEDED: list[dict[str, Any]] = []


def _with_nul(path_parameters: dict[str, Any]) -> dict[str, Any]:
    # Generated path parameters arrive percent-encoded already; a suffix splits no escape.
    return {k: f"{v}%00" if isinstance(v, str) else v for k, v in path_parameters.items()}


@schema.hook
def flatmap_path_parameters(context: HookContext, path_parameters: dict[str, Any]) -> Any:
    """Mix seeded identifiers and NUL characters into the generated path parameters.

    Schemathesis puts NUL characters in query strings and bodies but not in path parameters,
    so a variant that ends each string value with one is added. DELETE operations get no
    seeded identifiers: they must not remove what later operations' cases are meant to find.
    """
    if not path_parameters:
        return st.just(path_parameters)
    options = [st.just(path_parameters), st.just(_with_nul(path_parameters))]
    operation = context.operation
    if operation is None or operation.method.upper() != "DELETE":
        names = path_parameters.keys()
        whole = [r for r in SEEDED if r.keys() == names]
        part = [r for r in SEEDED if r.keys() < names]
        options += [
            st.sampled_from(found).map(lambda resource: {**path_parameters, **resource})
            for found in (whole, part)
            if found
        ]
    return st.one_of(*options)


class _ServerLog(logging.Handler):
    """Keep the server's warnings and errors (tracebacks included), by request id."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.by_request: dict[str | None, list[str]] = {}
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.by_request.setdefault(request_id_var.get(), []).append(self.format(record))


@pytest.fixture(scope="module")
def server_log() -> Iterator[_ServerLog]:
    handler = _ServerLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def _fuzzer_token(db_url: str) -> str:
    """Issue the admin a second admin token under a name nobody can guess.

    The bootstrap token is named `local-admin`, and `DELETE /api/v1/tokens/{ref}` revokes a
    token by name: the fuzzer's own token must outlive whatever names it generates.
    """
    engine = create_engine(db_url, load_settings(database_url=db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            admin = (await session.scalars(select(User).where(User.username == "admin"))).one()
            _, secret = await identity.issue_token(
                session, user=admin, name=f"fuzz-{secrets.token_hex(16)}", scopes=[Scope.ADMIN]
            )
    finally:
        await engine.dispose()
    return secret


@pytest.fixture(scope="module")
def server(pg_server, template_url, tmp_path_factory, server_log) -> Iterator[RegistryServer]:
    del template_url, server_log
    with running_server(pg_server, tmp_path_factory.mktemp("fuzz-home")) as running:
        running.token = asyncio.run(_fuzzer_token(running.db_url))
        yield running


def _created(answer: httpx.Response) -> httpx.Response:
    assert answer.status_code in {200, 201}, answer.text
    return answer


@pytest.fixture(scope="module")
def seeded(server, tmp_path_factory) -> list[dict[str, Any]]:
    """Create one of each resource the API's paths name, and offer their identifiers."""
    for name, fmt in (("fuzz-pypi", "pypi"), ("fuzz-npm", "npm")):
        server.create_repo(name, fmt)
    wheel = build_wheel(tmp_path_factory.mktemp("wheel"), "fuzzpkg", "1.0")
    data = wheel.read_bytes()
    with server.api() as api:
        _created(
            api.post(
                "/pypi/fuzz-pypi/legacy/",
                data={
                    ":action": "file_upload",
                    "protocol_version": "1",
                    "name": "fuzzpkg",
                    "version": "1.0",
                    "filetype": "bdist_wheel",
                    "sha256_digest": hashlib.sha256(data).hexdigest(),
                },
                files={"content": (wheel.name, data, "application/octet-stream")},
            )
        )
        source = _created(
            api.post("/api/v1/knowledge/sources", json={"location": "upload", "name": "fuzz"})
        ).json()
        uploaded = _created(
            api.post(
                f"/api/v1/knowledge/sources/{source['id']}/files",
                files={"files": ("fuzz.md", b"# Fuzzing\n\nText to find.\n", "text/markdown")},
            )
        ).json()
        document = uploaded["files"][0]["document_id"]
        assert document is not None, uploaded
        _created(api.put("/api/v1/llm/budgets/default", json={"monthly_usd": 10}))
        # Queued only: no worker runs here, so nothing is collected.
        job = _created(api.post("/api/v1/registry/gc", json={"dry_run": False})).json()["job_id"]
        assert job is not None
    SEEDED[:] = [
        {"name": "default"},
        {"project": "default"},
        {"name": "fuzz-npm"},
        {"name": "fuzz-pypi"},
        {"name": "fuzz-pypi", "package": "fuzzpkg"},
        {"name": "fuzz-pypi", "package": "fuzzpkg", "version": "1.0"},
        {"repo": "fuzz-pypi"},
        {"repo": "fuzz-npm"},
        {"repo": "fuzz-npm", "path": "fuzzpkg"},
        {"source_id": source["id"]},
        {"document_id": document},
        {"job_id": job},
    ]
    return SEEDED


def _request_id(response: schemathesis.Response) -> str | None:
    values = response.headers.get("x-request-id") or []
    return values[0] if values else None


def _call_and_check(case: Case, server: RegistryServer, log: _ServerLog, checks: list) -> None:
    response = case.call(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=STREAM_SECONDS if case.path == "/api/v1/events" else REQUEST_SECONDS,
    )
    try:
        case.validate_response(response, checks=checks)
    except FailureGroup as failure:
        # Schemathesis' pytest plugin drops exception notes, so the message carries the rest.
        server_log = "\n".join(log.by_request.get(_request_id(response), [])) or "(nothing)"
        message = (
            f"{failure.message}\n\nReplay with DEVFLOW_TEST_FUZZ_SEED={SEED} "
            f"DEVFLOW_TEST_FUZZ_EXAMPLES={EXAMPLES}."
            f"\n\nThe server logged for this request:\n{server_log}\n"
        )
        raise FailureGroup(list(failure.exceptions), message) from None


@schema.parametrize()
def test_no_request_makes_the_server_fail(case: Case, server, seeded, server_log) -> None:
    del seeded
    _call_and_check(case, server, server_log, CRASH_CHECKS)


@schema.parametrize()
def test_every_answer_is_documented(case: Case, server, seeded, server_log) -> None:
    del seeded
    _call_and_check(case, server, server_log, CONFORMANCE_CHECKS)


def test_the_fuzzed_schema_is_the_one_served(server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == schema.raw_schema
