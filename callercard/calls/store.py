"""MongoDB access for the call log (``calls``, one document per call id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from callercard.mongo import CALLS, NUMBER_CALLS, Database

_TIMES = ("entered_at", "first_ring_at", "answered_at", "ended_at")


def _with_datetimes(record: dict[str, Any]) -> dict[str, Any]:
    stored = dict(record)
    for key in _TIMES:
        if isinstance(stored.get(key), str):
            stored[key] = datetime.fromisoformat(stored[key])
    return stored


# How many of a number's latest call ids its summary keeps: what makes counting a retried record idempotent
# without keeping every call id (the summary used to list them all, and every lookup read the list to count it).
RECENT_CALLS_KEPT = 20
# ``summarized`` marks a call already counted for its number; the API never shows it.
_HIDDEN = {"_id": 0, "summarized": 0}


async def save(db: Database, record: dict[str, Any]) -> None:
    """Idempotent by call id: writing the same record again leaves one document, keeps callback progress and
    counts the call once for its number (a record retried after a crash between the two writes included)."""
    stored = _with_datetimes(record)
    callback = stored.pop("callback")
    before = await db[CALLS].find_one_and_update(
        {"_id": record["call_id"]}, {"$set": stored, "$setOnInsert": {"callback": callback}}, upsert=True,
        return_document=ReturnDocument.BEFORE)  # whole: FerretDB v1 takes no projection in findAndModify
    if before is not None and before.get("summarized"):
        return
    e164 = record["caller"].get("e164")
    if e164:
        await _summarize(db, e164=e164, stored=stored)
    await db[CALLS].update_one({"_id": record["call_id"]}, {"$set": {"summarized": True}})


async def _summarize(db: Database, *, e164: str, stored: dict[str, Any]) -> None:
    """Count the call for its number and keep it among the last few, in one compare-and-set write.

    The summary is ``{_id: <E.164>, count, recent: [call ids, oldest first], last: {...}}``, keyed by E.164 so
    lookups stay on ``_id``. A summary of the old shape (``call_ids``, every call id) is moved to this one the
    first time its number calls again. FerretDB v1 ignores ``$push``'s ``$slice``, so the short list is written
    whole, guarded by ``count`` (which every write changes): a concurrent write makes this one read and try again.
    """
    call_id = stored["call_id"]
    last = {"call_id": call_id, "at": stored["entered_at"], "outcome": stored["outcome"],
            "answered_by": (stored["answered_by"] or [None])[-1]}
    while True:
        doc = await db[NUMBER_CALLS].find_one({"_id": e164})
        if doc is None:
            try:
                await db[NUMBER_CALLS].insert_one({"_id": e164, "count": 1, "recent": [call_id], "last": last})
            except DuplicateKeyError:  # another record of this number came first: count on top of it
                continue
            return
        legacy: list[str] = doc.get("call_ids", [])
        recent: list[str] = doc.get("recent", [])
        if call_id in recent or call_id in legacy:
            return  # counted already: a retried record
        update: dict[str, Any] = {"$set": {"count": doc.get("count", 0) + len(legacy) + 1,
                                           "recent": [*legacy, *recent, call_id][-RECENT_CALLS_KEPT:]}}
        # Only a newer call replaces "last": a late record of an older call does not.
        if doc.get("last") is None or doc["last"]["at"] < stored["entered_at"]:
            update["$set"]["last"] = last
        if "call_ids" in doc:
            update["$unset"] = {"call_ids": ""}
        if (await db[NUMBER_CALLS].update_one({"_id": e164, "count": doc.get("count")}, update)).matched_count:
            return


RECENT_CALLS_PROJECTION = {"recent": 0}  # what ``recent_calls_of`` reads of a ``number_calls`` document


async def recent_calls(db: Database, e164: str) -> dict[str, Any] | None:
    """What a card shows of the number's calls."""
    return recent_calls_of(await db[NUMBER_CALLS].find_one({"_id": e164}, RECENT_CALLS_PROJECTION))


def recent_calls_of(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The same, from the number's ``number_calls`` document; reads a summary of either shape."""
    if not doc or not doc.get("last"):
        return None
    last = doc["last"]
    return {"count": doc.get("count", 0) + len(doc.get("call_ids", [])), "last_call_at": last["at"],
            "last_outcome": last["outcome"], "last_answered_by": last["answered_by"]}


async def get(db: Database, call_id: str) -> dict[str, Any] | None:
    return await db[CALLS].find_one({"_id": call_id}, _HIDDEN)


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
    cursor = db[CALLS].find(query, _HIDDEN).sort("entered_at", DESCENDING).skip(skip).limit(limit)
    return [doc async for doc in cursor]


def callback_filter(*, agent_id: str | None, lines: list[str]) -> dict[str, Any]:
    """Open callbacks; for an agent, those of calls that rang them, came to one of their lines, or met no queue."""
    query: dict[str, Any] = {"callback.needed": True, "callback.done": False}
    if agent_id is not None:
        query["$or"] = [{"agents.agent_id": agent_id}, {"queues": {"$in": lines}}, {"queues": []}]
    return query


async def open_callbacks(db: Database, *, query: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    """The calls matching ``query`` (a ``callback_filter``), newest first."""
    cursor = db[CALLS].find(query, _HIDDEN).sort("entered_at", DESCENDING).limit(limit)
    return [doc async for doc in cursor]


async def mark_callbacks_done(db: Database, *, query: dict[str, Any], by: str, at: datetime,
                              via: str, attempt: str | None = None) -> int:
    done = {"callback.done": True, "callback.done_by": by, "callback.done_at": at, "callback.via": via}
    if attempt:
        done["callback.attempt"] = attempt
    result = await db[CALLS].update_many(query, {"$set": done})
    return result.modified_count


def open_callbacks_of(e164: str) -> dict[str, Any]:
    """Every open callback of one number, whoever may see it."""
    return {**callback_filter(agent_id=None, lines=[]), "caller.e164": e164}


async def close_for_answered_call(db: Database, *, e164: str, answered_call: str, before: datetime,
                                  at: datetime) -> list[dict[str, Any]]:
    """The caller got through (``answered_call``, which entered at ``before``): their earlier missed calls are
    done (``done_by: "answered_call"``). Returns the calls it closed."""
    query = {**open_callbacks_of(e164), "entered_at": {"$lt": before}}
    closing = [doc async for doc in db[CALLS].find(query, {"_id": 0})]
    if closing:
        await db[CALLS].update_many({**query, "_id": {"$in": [doc["call_id"] for doc in closing]}}, {"$set": {
            "callback.done": True, "callback.done_by": "answered_call", "callback.done_at": at,
            "callback.via": "answered_call", "callback.answered_call": answered_call}})
    return closing


async def answered_after(db: Database, *, e164: str, after: datetime) -> tuple[str, datetime] | None:
    """(id, entered_at) of an answered call from ``e164`` that entered after ``after``, if any."""
    doc = await db[CALLS].find_one({"caller.e164": e164, "outcome": "answered", "entered_at": {"$gt": after}},
                                   {"call_id": 1, "entered_at": 1})
    return (str(doc["call_id"]), doc["entered_at"]) if doc else None


async def latest_done_callback(db: Database, *, query: dict[str, Any], e164: str) -> dict[str, Any] | None:
    """The newest missed call of ``e164`` matching ``query`` (a ``callback_filter``) that is done already."""
    done = {**query, "caller.e164": e164, "callback.done": True}
    cursor = db[CALLS].find(done, {"_id": 0}).sort("entered_at", DESCENDING).limit(1)
    return next(iter([doc async for doc in cursor]), None)


async def matches(db: Database, *, call_id: str, query: dict[str, Any]) -> bool:
    return await db[CALLS].count_documents({**query, "_id": call_id}, limit=1) > 0
