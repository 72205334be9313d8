"""MongoDB access for the do-not-call list (``dnc``, by E.164) and its append-only history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from callercard.dnc.schemas import DncChange, DncEntry
from callercard.mongo import DNC, DNC_HISTORY, Database


def _entry(doc: dict[str, Any]) -> DncEntry:
    return DncEntry(number=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


def entry_of(doc: dict[str, Any] | None) -> DncEntry | None:
    """The entry a ``dnc`` document holds (None: the number is not on the list)."""
    return _entry(doc) if doc else None


async def get(db: Database, number: str) -> DncEntry | None:
    return entry_of(await db[DNC].find_one({"_id": number}))


async def put(db: Database, entry: DncEntry) -> None:
    await db[DNC].replace_one({"_id": entry.number}, entry.model_dump(exclude={"number"}), upsert=True)


async def remove(db: Database, number: str) -> bool:
    return (await db[DNC].delete_one({"_id": number})).deleted_count == 1


async def record(db: Database, change: DncChange) -> None:
    """History is appended, never rewritten."""
    await db[DNC_HISTORY].insert_one(change.model_dump())


async def history(db: Database, number: str) -> list[DncChange]:
    cursor = db[DNC_HISTORY].find({"number": number}, {"_id": 0}).sort("at", ASCENDING)
    return [DncChange(**doc) async for doc in cursor]


async def find(db: Database, *, reason: str | None, flagged_by: str | None, active_at: datetime | None,
               limit: int, skip: int) -> list[DncEntry]:
    query: dict[str, Any] = {}
    if reason:
        query["reason"] = reason
    if flagged_by:
        query["flagged_by"] = flagged_by
    if active_at is not None:
        query["$or"] = [{"expires_at": None}, {"expires_at": {"$gt": active_at}}]
    # Pages in _id order. The fields matched by equality lead the sort (the order is the same): the compound
    # index (field, _id) then serves filter and sort alike, where a sort on _id alone lets a planner with
    # table statistics walk the whole list by _id, filtering (ferretdb2 did once PostgreSQL had analyzed it).
    order = [(field, ASCENDING) for field in ("reason", "flagged_by") if field in query] + [("_id", ASCENDING)]
    cursor = db[DNC].find(query).sort(order).skip(skip).limit(limit)
    return [_entry(doc) async for doc in cursor]
