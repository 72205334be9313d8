"""The admin API for webhooks: endpoints per event kind, and each endpoint's delivery log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from callercard.api.auth import AdminOnly
from callercard.api.deps import ServicesDep
from callercard.errors import NotFound
from callercard.webhooks import services, store
from callercard.webhooks.schemas import Delivery, DeliveryStatus, Endpoint, EndpointCreated, EndpointIn

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
EndpointId = Annotated[str, Path(max_length=64, description="the endpoint's id (wh_…)")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EndpointCreated,
             summary="Register an endpoint for some event kinds (the answer shows its signing secret, once)")
async def register(svc: ServicesDep, caller: AdminOnly, body: EndpointIn) -> EndpointCreated:
    created = await services.register(svc.db, body=body, by=caller.name, allow_http=svc.settings.webhook_allow_http)
    svc.webhooks.forget_endpoints()
    return created


@router.get("", response_model=list[Endpoint], summary="Every endpoint")
async def list_endpoints(svc: ServicesDep, _caller: AdminOnly) -> list[Endpoint]:
    return [services.endpoint_view(doc) for doc in await store.endpoints(svc.db)]


@router.get("/{endpoint_id}", response_model=Endpoint, summary="One endpoint")
async def get_endpoint(svc: ServicesDep, _caller: AdminOnly, endpoint_id: EndpointId) -> Endpoint:
    doc = await store.get_endpoint(svc.db, endpoint_id)
    if doc is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} does not exist", endpoint_id=endpoint_id)
    return services.endpoint_view(doc)


@router.put("/{endpoint_id}", response_model=Endpoint, summary="Change an endpoint (its secret stays unless given)")
async def replace(svc: ServicesDep, _caller: AdminOnly, endpoint_id: EndpointId, body: EndpointIn) -> Endpoint:
    changed = await services.replace(svc.db, endpoint_id=endpoint_id, body=body,
                                     allow_http=svc.settings.webhook_allow_http)
    svc.webhooks.forget_endpoints()
    return changed


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove an endpoint (its undelivered deliveries are cancelled; the log stays)")
async def delete(svc: ServicesDep, _caller: AdminOnly, endpoint_id: EndpointId) -> Response:
    if not await store.delete_endpoint(svc.db, endpoint_id, at=datetime.now(UTC)):
        raise NotFound(f"webhook endpoint {endpoint_id!r} does not exist", endpoint_id=endpoint_id)
    svc.webhooks.forget_endpoints()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpoint_id}/deliveries", response_model=list[Delivery],
            summary="The endpoint's delivery log, newest first: status, attempts, last error")
async def deliveries(svc: ServicesDep, _caller: AdminOnly, endpoint_id: EndpointId,
                     delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[Delivery]:
    if await store.get_endpoint(svc.db, endpoint_id) is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} does not exist", endpoint_id=endpoint_id)
    found = await store.deliveries(svc.db, endpoint_id=endpoint_id,
                                   status=delivery_status.value if delivery_status else None, limit=limit, skip=skip)
    return [services.delivery_view(doc) for doc in found]


@router.post("/deliveries/{delivery_id}/retry", response_model=Delivery,
             summary="Send a failed (or waiting) delivery again now, in its place in the endpoint's order")
async def retry(svc: ServicesDep, _caller: AdminOnly,
                delivery_id: Annotated[str, Path(max_length=64)]) -> Delivery:
    return await services.retry_delivery(svc.db, svc.queue, delivery_id=delivery_id)
