"""The worker's batches of call records (``record_calls``) are stored as if each record were saved alone: the same
call documents and the same per-number summaries, whatever the batch holds (a call twice, a number twice, a
withheld number, calls counted before, a summary of the old shape) and when batches overlap (real FerretDB)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from pymongo.asynchronous.database import AsyncDatabase

from callercard.calls import store as calls_store
from callercard.ports import RECORD_CALLS
from tests.integration.test_desk import missed_record
from tests.support.processes import Process

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def record(call_id: str, number: str, minute: int, *, answered_by: str | None = None) -> dict[str, Any]:
    doc = missed_record(call_id, number, agents=["anna"], queues=["support"])
    doc["entered_at"] = (T0 + timedelta(minutes=minute)).isoformat()
    if answered_by:
        doc.update(outcome="answered", answered_by=[answered_by], callback={"needed": False, "done": False})
    return doc


def batches() -> list[list[dict[str, Any]]]:
    """Batches as the listener's outbox may hand them over, retries and late records included."""
    a, b, c = "84951110001", "84951110002", "84951110003"
    first = [record("b.1", a, 1), record("b.2", b, 2, answered_by="anna"), record("b.3", a, 3, answered_by="boris"),
             record("b.4", "anonymous", 4), record("b.1", a, 1), record("b.5", c, 5)]
    again = [record("b.3", a, 3, answered_by="boris"), record("b.6", b, 0), record("b.7", c, 7, answered_by="anna")]
    return [first, again, [record("b.8", "84951110009", 8)], []]


async def stored(db: AsyncDatabase) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    calls = [doc async for doc in db["calls"].find({}).sort("_id", 1)]
    numbers = [doc async for doc in db["number_calls"].find({}).sort("_id", 1)]
    return calls, numbers


async def legacy_summary(db: AsyncDatabase) -> None:
    """Number c as an earlier version summarized it: every call id, no ``recent``."""
    await db["number_calls"].insert_one({"_id": "+74951110003", "call_ids": ["old.1", "old.2"],
                                         "last": {"call_id": "old.2", "at": T0, "outcome": "answered",
                                                  "answered_by": "anna"}})


async def test_a_batch_stores_what_saving_each_record_alone_stores(db: AsyncDatabase) -> None:
    alone = db.client[f"{db.name}_alone"]
    await alone.client.drop_database(alone.name)
    try:
        for target in (db, alone):
            await legacy_summary(target)
        for batch in batches():
            await calls_store.save_many(db, batch)
            for one in batch:
                await calls_store.save(alone, one)
        batched, one_by_one = await stored(db), await stored(alone)
        assert batched == one_by_one
        calls, numbers = batched
        assert [doc["_id"] for doc in calls] == [f"b.{n}" for n in range(1, 9)]
        assert all(doc["summarized"] for doc in calls)
        counts = {doc["_id"]: (doc["count"], doc["recent"], doc["last"]["call_id"]) for doc in numbers}
        assert counts == {"+74951110001": (2, ["b.1", "b.3"], "b.3"), "+74951110002": (2, ["b.2", "b.6"], "b.2"),
                          "+74951110003": (4, ["old.1", "old.2", "b.5", "b.7"], "b.7"),
                          "+74951110009": (1, ["b.8"], "b.8")}
    finally:
        await alone.client.drop_database(alone.name)


async def test_overlapping_batches_at_once_count_each_call_once(db: AsyncDatabase) -> None:
    numbers = [f"8495222000{n}" for n in range(4)]
    calls = [record(f"o.{n}", numbers[n % 4], n, answered_by="anna" if n % 3 == 0 else None) for n in range(24)]
    # Three workers take overlapping batches (a message redelivered while the first worker still ran it).
    await asyncio.gather(calls_store.save_many(db, calls[:16]), calls_store.save_many(db, calls[8:]),
                         calls_store.save_many(db, calls[4:20]))
    docs, summaries = await stored(db)
    assert len(docs) == 24 and all(doc["summarized"] for doc in docs)
    for summary in summaries:
        mine = [c["call_id"] for c in calls if c["caller"]["e164"] == summary["_id"]]
        assert summary["count"] == len(mine) == 6
        assert sorted(summary["recent"]) == sorted(mine)
        assert summary["last"]["call_id"] == mine[-1]


async def test_the_workers_record_calls_task_logs_a_batch(worker_process: Process, celery_app: Celery,
                                                          db: AsyncDatabase) -> None:
    batch = batches()[0]
    result = celery_app.send_task(RECORD_CALLS, args=[batch])
    assert await asyncio.to_thread(result.get, timeout=20) == [r["call_id"] for r in batch]
    calls, numbers = await stored(db)
    assert [(doc["_id"], doc["outcome"]) for doc in calls] == [
        ("b.1", "missed_abandoned_in_queue"), ("b.2", "answered"), ("b.3", "answered"),
        ("b.4", "missed_abandoned_in_queue"), ("b.5", "missed_abandoned_in_queue")]
    assert {doc["_id"]: doc["count"] for doc in numbers} == {"+74951110001": 2, "+74951110002": 1,
                                                              "+74951110003": 1}
    # b.1 was missed and b.3, from the same number, answered later in the same batch: b.1 is off the worklist.
    b1 = next(doc for doc in calls if doc["_id"] == "b.1")
    assert (b1["callback"]["done"], b1["callback"]["done_by"], b1["callback"]["answered_call"]) == \
        (True, "answered_call", "b.3")


async def test_closing_returns_the_calls_as_they_are_now(db: AsyncDatabase) -> None:
    """What ``close_for_answered_call`` returns is what the ``callback.done`` webhook tells: the answered call that
    closed them (a missed call's record that came after the answer used to name itself)."""
    await calls_store.save_many(db, [record("c.1", "84951110001", 1), record("c.2", "84951110001", 2)])
    closed = await calls_store.close_for_answered_call(db, e164="+74951110001", answered_call="c.9",
                                                       before=T0 + timedelta(minutes=5), at=T0)
    now = [doc async for doc in db["calls"].find({}, {"_id": 0, "summarized": 0}).sort("call_id", 1)]
    assert sorted(closed, key=lambda doc: doc["call_id"]) == now
    assert [doc["callback"] for doc in now] == [{"needed": True, "done": True, "done_by": "answered_call",
                                                 "done_at": T0, "via": "answered_call", "answered_call": "c.9"}] * 2
