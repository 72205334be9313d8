"""MongoDB access for the call log (``calls``, one document per call id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from callercard.mongo import CALLS, NUMBER_CALLS, Database

_TIMES = ("entered_at", "first_ring_at", "answered_at", "ended_at")


def _with_datetimes(record: dict[str, Any]) -> dict[str, Any]:
    stored = dict(record)
    for key in _TIMES:
        if isinstance(stored.get(key), str):
            stored[key] = datetime.fromisoformat(stored[key])
    return stored


async def save(db: Database, record: dict[str, Any]) -> None:
    """Idempotent by call id: writing the same record again leaves one document, and keeps callback progress."""
    stored = _with_datetimes(record)
    callback = stored.pop("callback")
    await db[CALLS].update_one({"_id": record["call_id"]},
                               {"$set": stored, "$setOnInsert": {"callback": callback}}, upsert=True)
    e164 = record["caller"].get("e164")
    if e164:
        await _summarize(db, e164=e164, stored=stored)


async def _summarize(db: Database, *, e164: str, stored: dict[str, Any]) -> None:
    """The per-number summary cards show, keyed by E.164 so lookups stay on ``_id``. Idempotent."""
    call_id = stored["call_id"]
    try:
        await db[NUMBER_CALLS].update_one({"_id": e164}, {"$addToSet": {"call_ids": call_id}}, upsert=True)
    except DuplicateKeyError:  # two records of one number upserted at once: the document exists now
        await db[NUMBER_CALLS].update_one({"_id": e164}, {"$addToSet": {"call_ids": call_id}})
    last = {"call_id": call_id, "at": stored["entered_at"], "outcome": stored["outcome"],
            "answered_by": (stored["answered_by"] or [None])[-1]}
    # Only a newer call replaces "last": a retried or late record of an older call does not.
    await db[NUMBER_CALLS].update_one(
        {"_id": e164, "$or": [{"last": None}, {"last.at": {"$lt": stored["entered_at"]}}]}, {"$set": {"last": last}})


async def recent_calls(db: Database, e164: str) -> dict[str, Any] | None:
    doc = await db[NUMBER_CALLS].find_one({"_id": e164})
    if not doc or not doc.get("last"):
        return None
    last = doc["last"]
    return {"count": len(doc.get("call_ids", [])), "last_call_at": last["at"],
            "last_outcome": last["outcome"], "last_answered_by": last["answered_by"]}


async def get(db: Database, call_id: str) -> dict[str, Any] | None:
    return await db[CALLS].find_one({"_id": call_id}, {"_id": 0})


async def find(db: Database, *, outcome: str | None = None, e164: str | None = None,
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


def callback_filter(*, agent_id: str | None, lines: list[str]) -> dict[str, Any]:
    """Open callbacks; for an agent, those of calls that rang them, came to one of their lines, or met no queue."""
    query: dict[str, Any] = {"callback.needed": True, "callback.done": False}
    if agent_id is not None:
        query["$or"] = [{"agents.agent_id": agent_id}, {"queues": {"$in": lines}}, {"queues": []}]
    return query


async def open_callbacks(db: Database, *, query: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    """The calls matching ``query`` (a ``callback_filter``), newest first."""
    cursor = db[CALLS].find(query, {"_id": 0}).sort("entered_at", DESCENDING).limit(limit)
    return [doc async for doc in cursor]


async def mark_callbacks_done(db: Database, *, query: dict[str, Any], by: str, at: datetime,
                              via: str, attempt: str | None = None) -> int:
    done = {"callback.done": True, "callback.done_by": by, "callback.done_at": at, "callback.via": via}
    if attempt:
        done["callback.attempt"] = attempt
    result = await db[CALLS].update_many(query, {"$set": done})
    return result.modified_count


async def matches(db: Database, *, call_id: str, query: dict[str, Any]) -> bool:
    return await db[CALLS].count_documents({**query, "_id": call_id}, limit=1) > 0
