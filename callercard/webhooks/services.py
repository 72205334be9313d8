"""Registering webhook endpoints (admins), and retrying a delivery by hand."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from callercard.errors import Conflict, InvalidInput, NotFound
from callercard.mongo import Database
from callercard.ports import DELIVER_WEBHOOKS, WorkerQueue
from callercard.webhooks import store
from callercard.webhooks.schemas import Delivery, DeliveryStatus, Endpoint, EndpointCreated, EndpointIn


def _check_url(body: EndpointIn, *, allow_http: bool) -> str:
    url = str(body.url)
    if body.url.scheme != "https" and not allow_http:
        raise InvalidInput("url", "must be https:// (plain http is allowed only with CALLERCARD_WEBHOOK_ALLOW_HTTP, "
                                  "for tests and development)")
    return url


def endpoint_view(doc: dict[str, Any]) -> Endpoint:
    return Endpoint(id=doc["_id"], url=doc["url"], events=doc["events"], description=doc.get("description", ""),
                    enabled=doc["enabled"], created_at=doc["created_at"], created_by=doc["created_by"],
                    secret_hint=str(doc["secret"])[-4:])


async def register(db: Database, *, body: EndpointIn, by: str, allow_http: bool) -> EndpointCreated:
    url = _check_url(body, allow_http=allow_http)
    secret = body.secret or f"whsec_{secrets.token_urlsafe(32)}"
    doc = {"_id": f"wh_{uuid.uuid4().hex[:16]}", "url": url, "events": sorted({e.value for e in body.events}),
           "description": body.description, "enabled": body.enabled, "secret": secret,
           "created_at": datetime.now(UTC), "created_by": by}
    await store.put_endpoint(db, doc)
    return EndpointCreated(**endpoint_view(doc).model_dump(), secret=secret)


async def replace(db: Database, *, endpoint_id: str, body: EndpointIn, allow_http: bool) -> Endpoint:
    """Change an endpoint; its secret stays unless a new one is given."""
    doc = await store.get_endpoint(db, endpoint_id)
    if doc is None:
        raise NotFound(f"webhook endpoint {endpoint_id!r} does not exist", endpoint_id=endpoint_id)
    doc |= {"url": _check_url(body, allow_http=allow_http), "events": sorted({e.value for e in body.events}),
            "description": body.description, "enabled": body.enabled, "secret": body.secret or doc["secret"]}
    await store.put_endpoint(db, doc)
    return endpoint_view(doc)


def delivery_view(doc: dict[str, Any]) -> Delivery:
    return Delivery.model_validate({**{k: doc.get(k) for k in Delivery.model_fields}, "delivery_id": doc["_id"]})


async def retry_delivery(db: Database, queue: WorkerQueue, *, delivery_id: str) -> Delivery:
    """A failed (or waiting) delivery goes again now: back in its place in the endpoint's order."""
    doc = await store.get_delivery(db, delivery_id)
    if doc is None:
        raise NotFound(f"delivery {delivery_id!r} does not exist", delivery_id=delivery_id)
    if doc["status"] in (DeliveryStatus.DELIVERED.value, DeliveryStatus.CANCELLED.value):
        raise Conflict(f"delivery {delivery_id!r} is {doc['status']}: there is nothing to retry",
                       delivery_id=delivery_id)
    fields = {"status": DeliveryStatus.PENDING.value, "next_attempt_at": datetime.now(UTC)}
    await store.update_delivery(db, delivery_id, fields)
    await queue.send(DELIVER_WEBHOOKS, [doc["endpoint_id"]], {"force": True})
    return delivery_view(doc | fields)
