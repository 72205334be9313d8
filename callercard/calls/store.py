"""MongoDB access for the call log (``calls``, one document per call id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING, InsertOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

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


async def save_many(db: Database, records: list[dict[str, Any]]) -> None:
    """``save`` for a batch of records (the worker's ``record_calls``), with the same documents as saving them one
    at a time, in about five round trips rather than four per record: the worker's call-log writes were most of its
    cost per call (issue 20). A record whose write meets another's (the same call or number twice in the batch, a
    concurrent worker) is saved alone afterwards, by ``save``'s own rules."""
    if len(records) < 2:
        for record in records:
            await save(db, record)
        return
    batch: dict[str, dict[str, Any]] = {}
    alone: list[dict[str, Any]] = []
    for record in records:  # a call twice in one batch (a retry): its second record after the batch, as before
        if record["call_id"] in batch:
            alone.append(record)
        else:
            batch[record["call_id"]] = record
    stored = {call_id: _with_datetimes(record) for call_id, record in batch.items()}
    callbacks = {call_id: doc.pop("callback") for call_id, doc in stored.items()}
    counted = {doc["_id"] async for doc in db[CALLS].find({"_id": {"$in": list(stored)}, "summarized": True},
                                                             {"_id": 1})}
    writes = [UpdateOne({"_id": call_id}, {"$set": doc, "$setOnInsert": {"callback": callbacks[call_id]}},
                        upsert=True) for call_id, doc in stored.items()]
    for call_id in [list(stored)[index] for index in await _failed_writes(db[CALLS], writes)]:
        alone.append(batch.pop(call_id))  # its upsert met a concurrent one's
        stored.pop(call_id)
    numbers: dict[str, dict[str, Any]] = {}
    for call_id, doc in stored.items():
        e164 = doc["caller"].get("e164")
        if call_id in counted or not e164:
            continue
        if e164 in numbers:  # a number twice: its second call counted on top of the first's write
            alone.append(batch.pop(call_id))
        else:
            numbers[e164] = doc
    await _summarize_many(db, numbers)
    summarized = [call_id for call_id in batch if call_id not in counted]
    if summarized:
        await db[CALLS].update_many({"_id": {"$in": summarized}}, {"$set": {"summarized": True}})
    for record in alone:
        await save(db, record)


async def _summarize_many(db: Database, numbers: dict[str, dict[str, Any]]) -> None:
    """``_summarize`` for one call each of several numbers: their summaries read and written in one round trip each;
    a write that lost its compare-and-set (or insert) to a concurrent one is done again by ``_summarize``."""
    if not numbers:
        return
    docs = {doc["_id"]: doc async for doc in db[NUMBER_CALLS].find({"_id": {"$in": list(numbers)}})}
    writes: list[InsertOne[dict[str, Any]] | UpdateOne] = []
    written: list[str] = []
    for e164, stored in numbers.items():
        doc = docs.get(e164)
        if doc is None:
            writes.append(InsertOne(_first_summary(e164, stored)))
        elif (change := _summary_change(doc, stored)) is not None:
            writes.append(UpdateOne({"_id": e164, "count": doc.get("count")}, change))
        else:
            continue  # counted already: a retried record
        written.append(e164)
    if not writes:
        return
    failed = set(await _failed_writes(db[NUMBER_CALLS], writes, changes=True))
    if failed == {-1}:  # some compare-and-set found its summary changed, which one is not told: each again
        failed = set(range(len(writes)))
    for index in sorted(failed):
        await _summarize(db, e164=written[index], stored=numbers[written[index]])


async def _failed_writes(collection: Any, writes: list[Any], *, changes: bool = False) -> list[int]:
    """Run ``writes`` unordered; the indexes of those that hit a duplicate key (an insert or upsert racing another).
    With ``changes``, each update must match one document: ``[-1]`` when some did not (the result does not say
    which)."""
    try:
        result = await collection.bulk_write(writes, ordered=False)
    except KeyError:  # FerretDB v1 answers an upsert that met a duplicate key without "nModified": unknown, all again
        return list(range(len(writes)))
    except BulkWriteError as error:
        details = error.details
        failed = [int(e["index"]) for e in details.get("writeErrors", []) if e.get("code") == 11000]
        if len(failed) < len(details.get("writeErrors", [])):
            raise
        done = details.get("nInserted", 0) + details.get("nMatched", 0) + details.get("nUpserted", 0)
        return [-1] if changes and done + len(failed) < len(writes) else failed
    done = result.inserted_count + result.matched_count + result.upserted_count
    return [-1] if changes and done < len(writes) else []


def _last_of(stored: dict[str, Any]) -> dict[str, Any]:
    return {"call_id": stored["call_id"], "at": stored["entered_at"], "outcome": stored["outcome"],
            "answered_by": (stored["answered_by"] or [None])[-1]}


def _first_summary(e164: str, stored: dict[str, Any]) -> dict[str, Any]:
    return {"_id": e164, "count": 1, "recent": [stored["call_id"]], "last": _last_of(stored)}


def _summary_change(doc: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any] | None:
    """The update that counts ``stored``'s call on the summary ``doc``; None if it is counted already."""
    call_id = stored["call_id"]
    legacy: list[str] = doc.get("call_ids", [])
    recent: list[str] = doc.get("recent", [])
    if call_id in recent or call_id in legacy:
        return None  # a retried record
    update: dict[str, Any] = {"$set": {"count": doc.get("count", 0) + len(legacy) + 1,
                                       "recent": [*legacy, *recent, call_id][-RECENT_CALLS_KEPT:]}}
    # Only a newer call replaces "last": a late record of an older call does not.
    if doc.get("last") is None or doc["last"]["at"] < stored["entered_at"]:
        update["$set"]["last"] = _last_of(stored)
    if "call_ids" in doc:
        update["$unset"] = {"call_ids": ""}
    return update


async def _summarize(db: Database, *, e164: str, stored: dict[str, Any]) -> None:
    """Count the call for its number and keep it among the last few, in one compare-and-set write.

    The summary is ``{_id: <E.164>, count, recent: [call ids, oldest first], last: {...}}``, keyed by E.164 so
    lookups stay on ``_id``. A summary of the old shape (``call_ids``, every call id) is moved to this one the
    first time its number calls again. FerretDB v1 ignores ``$push``'s ``$slice``, so the short list is written
    whole, guarded by ``count`` (which every write changes): a concurrent write makes this one read and try again.
    """
    while True:
        doc = await db[NUMBER_CALLS].find_one({"_id": e164})
        if doc is None:
            try:
                await db[NUMBER_CALLS].insert_one(_first_summary(e164, stored))
            except DuplicateKeyError:  # another record of this number came first: count on top of it
                continue
            return
        change = _summary_change(doc, stored)
        if change is None:
            return
        if (await db[NUMBER_CALLS].update_one({"_id": e164, "count": doc.get("count")}, change)).matched_count:
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


def open_callbacks_of(*numbers: str) -> dict[str, Any]:
    """Every open callback of these numbers (E.164), whoever may see it."""
    return {**callback_filter(agent_id=None, lines=[]),
            "caller.e164": numbers[0] if len(numbers) == 1 else {"$in": list(numbers)}}


async def close_for_answered_call(db: Database, *, e164: str, answered_call: str, before: datetime,
                                  at: datetime) -> list[dict[str, Any]]:
    """The caller got through (``answered_call``, which entered at ``before``): their earlier missed calls are
    done (``done_by: "answered_call"``). Returns the calls it closed."""
    query = {**open_callbacks_of(e164), "entered_at": {"$lt": before}}
    closing = [doc async for doc in db[CALLS].find(query, _HIDDEN)]
    done = {"done": True, "done_by": "answered_call", "done_at": at, "via": "answered_call",
            "answered_call": answered_call}
    if closing:
        await db[CALLS].update_many({**query, "_id": {"$in": [doc["call_id"] for doc in closing]}},
                                    {"$set": {f"callback.{field}": value for field, value in done.items()}})
    return [{**doc, "callback": {**doc.get("callback", {}), **done}} for doc in closing]  # as they are now


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
