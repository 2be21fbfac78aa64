"""Helm charts pushed as OCI artifacts (`helm push`, oras), listed as charts.

A chart is a manifest whose config has the media type `application/vnd.cncf.helm.config.v1+json`:
that config is the chart's Chart.yaml as JSON (name, version, appVersion, description …), and
its layer the packaged chart. `GET /api/v1/registry/oci/<name>/charts` lists them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.core.blobs import BlobStore
from devflow.core.errors import Invalid
from devflow.core.http import PrincipalDep, SessionDep
from devflow.core.schemas import Page
from devflow.registry import access
from devflow.registry.formats.oci._common import OciError, check_name, find_repository
from devflow.registry.http import runtime
from devflow.registry.models import OciManifest, OciTag

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROVENANCE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
_CONFIG_LIMIT = 1024 * 1024


class ChartRead(BaseModel):
    """A Helm chart stored in an OCI repository."""

    name: str = Field(description="The chart's name (Chart.yaml `name`).")
    version: str = Field(description="The chart's version (Chart.yaml `version`).")
    app_version: str | None = Field(description="Chart.yaml `appVersion`.")
    description: str = Field(description="Chart.yaml `description`.")
    api_version: str | None = Field(description="Chart.yaml `apiVersion` (v1 or v2).")
    type: str | None = Field(description="Chart.yaml `type` (application or library).")
    digest: str = Field(description="Digest of the chart's manifest (`helm pull …@<digest>`).")
    tags: list[str] = Field(description="Tags pointing at it (helm tags charts by version).")
    created_at: datetime
    problem: str | None = Field(
        default=None, description="Why the chart's config could not be read, if it could not."
    )


async def read_config(store: BlobStore, sha256: str) -> tuple[dict[str, Any], str | None]:
    """Return a manifest's config blob as a JSON object (up to 1 MiB), or why it cannot be read."""
    size = await store.size(sha256)
    if size is None:
        return {}, "the config blob is missing from storage"
    if size > _CONFIG_LIMIT:
        return {}, f"the config is larger than {_CONFIG_LIMIT} bytes"
    try:
        doc = orjson.loads(await store.read_all(sha256))
    except orjson.JSONDecodeError:
        return {}, "the config is not valid JSON"
    if not isinstance(doc, dict):
        return {}, "the config is not a JSON object"
    return doc, None


def _text(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return None if value is None else str(value)


async def list_charts(
    session: AsyncSession, *, principal: Principal, store: BlobStore, repository: str
) -> list[ChartRead]:
    """Return the Helm charts of an OCI repository, by chart name then newest first.

    Raises:
        Invalid: the repository name is not an image name.
        NotFound: no such OCI repository the caller can read.
    """
    repo = access.require_read(principal, await find_repository(session, repository), repository)
    manifests = (
        await session.scalars(
            select(OciManifest)
            .where(OciManifest.repository_id == repo.id, OciManifest.artifact_type == HELM_CONFIG)
            .order_by(OciManifest.created_at.desc())
        )
    ).all()
    tags: dict[str, list[str]] = defaultdict(list)
    for tag, digest in await session.execute(
        select(OciTag.name, OciTag.digest)
        .where(OciTag.repository_id == repo.id)
        .order_by(OciTag.name)
    ):
        tags[digest].append(tag)
    charts = [
        await chart_of(store, manifest, tags.get(manifest.digest, []), repository)
        for manifest in manifests
    ]
    charts.sort(key=lambda c: c.name)  # stable: newest first within a name
    return charts


async def chart_of(
    store: BlobStore, manifest: OciManifest, tags: list[str], repository: str
) -> ChartRead:
    """Return the chart a Helm manifest holds: its Chart.yaml, read from the config blob."""
    doc, problem = await read_config(store, manifest.blobs[0]) if manifest.blobs else ({}, None)
    return ChartRead(
        name=_text(doc, "name") or repository.rsplit("/", 1)[-1],
        version=_text(doc, "version") or "",
        app_version=_text(doc, "appVersion"),
        description=_text(doc, "description") or "",
        api_version=_text(doc, "apiVersion"),
        type=_text(doc, "type"),
        digest=manifest.digest,
        tags=tags,
        created_at=manifest.created_at,
        problem=problem,
    )


rest = APIRouter(prefix="/api/v1/registry/oci", tags=["registry"])


@rest.get("/{name:path}/charts", response_model=Page[ChartRead])
async def charts(
    name: str, request: Request, session: SessionDep, principal: PrincipalDep
) -> Page[ChartRead]:
    """List the Helm charts pushed to an OCI repository (`helm push … oci://HOST/<project>`)."""
    try:
        check_name(name)
    except OciError as exc:
        raise Invalid(exc.message) from None
    items = await list_charts(
        session, principal=principal, store=runtime(request).store, repository=name
    )
    return Page(items=items, total=len(items))


__all__ = [
    "HELM_CHART",
    "HELM_CONFIG",
    "HELM_PROVENANCE",
    "ChartRead",
    "chart_of",
    "list_charts",
    "read_config",
    "rest",
]
