"""REST routes of webhooks, under /api/v1/projects/{project}/hooks (project admins).

A hook of one repository names it in `repository`; listing takes `?repository=` to show only
those. Deliveries and their attempts hang under the hook, as GitHub's do.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status

from devflow.core.http import PrincipalDep, ServicesDep, SessionDep
from devflow.core.schemas import MAX_OFFSET, Page, error_responses
from devflow.repos.webhooks import service
from devflow.repos.webhooks.schemas import (
    DeliveryDetail,
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(
    prefix="/api/v1/projects/{project}/hooks", tags=["webhooks"], responses=error_responses()
)
LimitQ = Query(50, ge=1, le=500, description="At most this many.")
OffsetQ = Query(0, ge=0, le=MAX_OFFSET, description="Skip this many first.")


@router.get("", response_model=Page[WebhookRead])
async def list_webhooks(
    project: str,
    session: SessionDep,
    principal: PrincipalDep,
    repository: str | None = Query(None, max_length=100, description="Only this one's hooks."),
    limit: int = LimitQ,
    offset: int = OffsetQ,
) -> Page[WebhookRead]:
    """List a project's webhooks (project admins); secrets are never shown."""
    items, total = await service.list_webhooks(
        session,
        principal=principal,
        project=project,
        repository=repository,
        limit=limit,
        offset=offset,
    )
    return Page(items=items, total=total)


@router.post("", response_model=WebhookRead, status_code=status.HTTP_201_CREATED)
async def create_webhook(
    project: str,
    data: WebhookCreate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> WebhookRead:
    """Create a webhook of the project or of one repository, and send it a `ping`."""
    hook, made = await service.create_webhook(
        session, principal=principal, project=project, data=data, services=services
    )
    return service.read_webhook(hook, project=project, repository=data.repository, secret=made)


@router.get("/{hook_id}", response_model=WebhookRead)
async def show_webhook(
    project: str, hook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> WebhookRead:
    """Show a webhook (without its secret)."""
    hook, name = await service.require_webhook(
        session, principal=principal, project=project, hook_id=hook_id
    )
    return service.read_webhook(hook, project=project, repository=name)


@router.patch("/{hook_id}", response_model=WebhookRead)
async def update_webhook(
    project: str,
    hook_id: uuid.UUID,
    data: WebhookUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    services: ServicesDep,
) -> WebhookRead:
    """Change a webhook's URL, secret, events or active flag."""
    hook, name = await service.update_webhook(
        session,
        principal=principal,
        project=project,
        hook_id=hook_id,
        data=data,
        services=services,
    )
    return service.read_webhook(hook, project=project, repository=name)


@router.delete("/{hook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    project: str, hook_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> None:
    """Delete a webhook and the log of its deliveries."""
    await service.delete_webhook(session, principal=principal, project=project, hook_id=hook_id)


@router.get("/{hook_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    project: str,
    hook_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = LimitQ,
    offset: int = OffsetQ,
) -> Page[DeliveryRead]:
    """List a webhook's deliveries, newest first, with their status and attempts."""
    items, total = await service.list_deliveries(
        session, principal=principal, project=project, hook_id=hook_id, limit=limit, offset=offset
    )
    return Page(items=items, total=total)


@router.get("/{hook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def show_delivery(
    project: str,
    hook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
) -> DeliveryDetail:
    """Show a delivery: its body and each attempt's request headers and response."""
    return await service.show_delivery(
        session, principal=principal, project=project, hook_id=hook_id, delivery_id=delivery_id
    )


@router.post(
    "/{hook_id}/deliveries/{delivery_id}/attempts",
    response_model=DeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
)
async def redeliver(
    project: str,
    hook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
) -> DeliveryRead:
    """Send a delivery again (a new attempt with the same X-GitHub-Delivery)."""
    return await service.redeliver(
        session, principal=principal, project=project, hook_id=hook_id, delivery_id=delivery_id
    )


__all__ = ["router"]
