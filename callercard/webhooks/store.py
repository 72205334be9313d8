"""MongoDB access for webhooks: ``webhook_endpoints`` by id, ``webhook_deliveries`` by delivery id (one per event
and endpoint, so a repeated event is never a second delivery), and the events' sequence counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError

from callercard.mongo import COUNTERS, WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS, Database
from callercard.webhooks.schemas import DeliveryStatus

OPEN = [DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value]
_SEQUENCE = "webhook_events"
DUPLICATE_KEY = 11000


async def put_endpoint(db: Database, endpoint: dict[str, Any]) -> None:
    await db[WEBHOOK_ENDPOINTS].replace_one({"_id": endpoint["_id"]}, endpoint, upsert=True)


async def get_endpoint(db: Database, endpoint_id: str) -> dict[str, Any] | None:
    return await db[WEBHOOK_ENDPOINTS].find_one({"_id": endpoint_id})


async def endpoints(db: Database) -> list[dict[str, Any]]:
    return [doc async for doc in db[WEBHOOK_ENDPOINTS].find({}).sort("created_at", ASCENDING)]


async def delete_endpoint(db: Database, endpoint_id: str, *, at: datetime) -> bool:
    if (await db[WEBHOOK_ENDPOINTS].delete_one({"_id": endpoint_id})).deleted_count != 1:
        return False
    await db[WEBHOOK_DELIVERIES].update_many({"endpoint_id": endpoint_id, "status": {"$in": OPEN}}, {"$set": {
        "status": DeliveryStatus.CANCELLED.value, "next_attempt_at": None, "cancelled_at": at}})
    return True


async def reserve_sequences(db: Database, count: int) -> int:
    """The last of ``count`` new event numbers (the first is it minus ``count - 1``): one atomic increment, so events
    are numbered in the order they were emitted, by every process."""
    doc = await db[COUNTERS].find_one_and_update({"_id": _SEQUENCE}, {"$inc": {"value": count}}, upsert=True,
                                                 return_document=ReturnDocument.AFTER)
    assert doc is not None  # upserted
    return int(doc["value"])


async def add_deliveries(db: Database, deliveries: list[dict[str, Any]]) -> set[str]:
    """Insert them; the ids of those that were new (a delivery id already there is the same event to the same
    endpoint, queued or sent before: idempotent)."""
    if not deliveries:
        return set()
    try:
        await db[WEBHOOK_DELIVERIES].insert_many(deliveries, ordered=False)
    except BulkWriteError as error:
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others:
            raise
        repeated = {deliveries[e["index"]]["_id"] for e in error.details.get("writeErrors", [])}
        return {d["_id"] for d in deliveries} - repeated
    return {d["_id"] for d in deliveries}


async def head(db: Database, endpoint_id: str) -> dict[str, Any] | None:
    """The endpoint's oldest undelivered delivery: the next one to send (later ones wait for it)."""
    cursor = db[WEBHOOK_DELIVERIES].find({"endpoint_id": endpoint_id, "status": {"$in": OPEN}}) \
        .sort("sequence", ASCENDING).limit(1)
    return next(iter([doc async for doc in cursor]), None)


async def update_delivery(db: Database, delivery_id: str, fields: dict[str, Any]) -> None:
    await db[WEBHOOK_DELIVERIES].update_one({"_id": delivery_id}, {"$set": fields})


async def get_delivery(db: Database, delivery_id: str) -> dict[str, Any] | None:
    return await db[WEBHOOK_DELIVERIES].find_one({"_id": delivery_id})


async def deliveries(db: Database, *, endpoint_id: str, status: str | None, limit: int,
                     skip: int) -> list[dict[str, Any]]:
    """The endpoint's delivery log, newest first."""
    query: dict[str, Any] = {"endpoint_id": endpoint_id}
    if status:
        query["status"] = status
    cursor = db[WEBHOOK_DELIVERIES].find(query).sort("sequence", DESCENDING).skip(skip).limit(limit)
    return [doc async for doc in cursor]


async def endpoints_due(db: Database, *, before: datetime) -> list[str]:
    """Endpoints with a delivery due since before ``before``: nobody is sending them (a lost hand-off)."""
    cursor = db[WEBHOOK_DELIVERIES].find({"status": {"$in": OPEN}, "next_attempt_at": {"$lte": before}},
                                         {"endpoint_id": 1})
    return sorted({doc["endpoint_id"] async for doc in cursor})
