"""MongoDB access for the call log (``calls``, one document per call id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from callercard.mongo import CALLS

_TIMES = ("entered_at", "first_ring_at", "answered_at", "ended_at")


def _with_datetimes(record: dict[str, Any]) -> dict[str, Any]:
    stored = dict(record)
    for key in _TIMES:
        if isinstance(stored.get(key), str):
            stored[key] = datetime.fromisoformat(stored[key])
    return stored


async def save(db: AsyncDatabase, record: dict[str, Any]) -> None:
    """Idempotent by call id: writing the same record again leaves one document, and keeps callback progress."""
    stored = _with_datetimes(record)
    callback = stored.pop("callback")
    await db[CALLS].update_one({"_id": record["call_id"]},
                               {"$set": stored, "$setOnInsert": {"callback": callback}}, upsert=True)


async def get(db: AsyncDatabase, call_id: str) -> dict[str, Any] | None:
    return await db[CALLS].find_one({"_id": call_id}, {"_id": 0})


async def find(db: AsyncDatabase, *, outcome: str | None = None, e164: str | None = None,
               agent_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = 50, skip: int = 0) -> list[dict[str, Any]]:
    query: dict[str, Any] = {}
    if outcome:
        query["outcome"] = outcome
    if e164:
        query["caller.e164"] = e164
    if agent_id:
        query["agents.agent_id"] = agent_id
    if since or until:
        query["entered_at"] = {**({"$gte": since} if since else {}), **({"$lt": until} if until else {})}
    cursor = db[CALLS].find(query, {"_id": 0}).sort("entered_at", DESCENDING).skip(skip).limit(limit)
    return [doc async for doc in cursor]
