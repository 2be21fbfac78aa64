"""Garbage collection of a store holding more objects than one database batch: objects without a
blob row are removed, blobs that published files use are kept."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta

import pytest

from devflow.core.blobs import FileBlobStore
from devflow.core.db import create_engine, session_factory, unit_of_work
from devflow.registry.gc import collect_garbage
from devflow.settings import load_settings
from tests.registry_fixtures import build_wheel, running_server, twine_upload


@pytest.fixture
def server(pg_server, template_url, tmp_path):
    del template_url
    with running_server(pg_server, tmp_path / "home") as running:
        running.create_repo("py", "pypi")
        yield running


async def sweep(db_url: str, store: FileBlobStore, *, dry_run: bool):
    engine = create_engine(db_url, load_settings(database_url=db_url).database)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            return await collect_garbage(
                session, store=store, grace=timedelta(minutes=10), dry_run=dry_run
            )
    finally:
        await engine.dispose()


def leave_orphans(store: FileBlobStore, count: int) -> list[str]:
    """Write objects the way a crash between blob commit and database commit leaves them."""
    old = time.time() - 3600
    digests = []
    for i in range(count):
        data = f"orphan {i}".encode()
        digest = hashlib.sha256(data).hexdigest()
        path = store.path_of(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (old, old))
        digests.append(digest)
    return digests


async def test_orphans_beyond_one_batch_are_removed_and_published_blobs_kept(server, tmp_path):
    wheel = build_wheel(tmp_path, "kept", "1.0")
    done = twine_upload(f"{server.url}/pypi/py/legacy/", server.token, tmp_path, wheel)
    assert done.returncode == 0, done.stdout + done.stderr
    store = FileBlobStore(server.home / "blobs")
    kept = store.path_of(hashlib.sha256(wheel.read_bytes()).hexdigest())
    old = time.time() - 3600
    os.utime(kept, (old, old))  # as old as the orphans: only the row keeps it
    orphans = leave_orphans(store, 2_345)
    dry = await sweep(server.db_url, store, dry_run=True)
    assert dry.orphan_objects_removed == len(orphans)
    assert store.path_of(orphans[0]).exists()
    report = await sweep(server.db_url, store, dry_run=False)
    assert report.orphan_objects_removed == len(orphans)
    assert not any(store.path_of(d).exists() for d in orphans)
    assert kept.exists()
