"""A number's call history on its card: a count and the last few calls, each call counted once however often its
record is retried, and summaries of the old shape (every call id) read and moved (real worker, FerretDB, API)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from celery import Celery
from pymongo.asynchronous.database import AsyncDatabase

from callercard.calls.store import RECENT_CALLS_KEPT
from callercard.ports import RECORD_CALL
from tests.factories import account
from tests.integration.test_desk import missed_record
from tests.support.processes import Process

NUMBER, E164 = "84951234567", "+74951234567"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def record(call_id: str, minute: int, *, answered_by: str | None = None) -> dict[str, Any]:
    """A call of the number at ``T0 + minute``; answered by ``answered_by`` or missed."""
    doc = missed_record(call_id, NUMBER, agents=["anna"], queues=["support"])
    doc["entered_at"] = (T0 + timedelta(minutes=minute)).isoformat()
    if answered_by:
        doc.update(outcome="answered", answered_by=[answered_by], callback={"needed": False, "done": False})
    return doc


async def log(celery_app: Celery, *records: dict[str, Any]) -> None:
    """Each record through the real worker's task, one after the other, as the listener hands them over."""
    for one in records:
        result = celery_app.send_task(RECORD_CALL, args=[one])
        await asyncio.to_thread(result.get, timeout=20)


async def history(pbx_api: httpx.AsyncClient) -> dict[str, Any]:
    response = await pbx_api.get("/api/v1/lookup", params={"number": NUMBER})
    assert response.status_code == 200, response.text
    return response.json()["recent_calls"]


async def test_each_call_counts_once_and_the_summary_stays_small(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient, worker_process: Process, celery_app: Celery,
        db: AsyncDatabase) -> None:
    await admin_api.put("/api/v1/customers/H-1", json={k: v for k, v in account("H-1", "Ivan Petrov", NUMBER).items()
                                                       if k != "id"})
    calls = [record(f"h.{n}", n, answered_by="anna" if n % 3 == 0 else None) for n in range(30)]
    await log(celery_app, calls[0], calls[0])  # the same record twice: a retry
    assert (await history(pbx_api))["count"] == 1
    await log(celery_app, *calls[1:])
    await log(celery_app, calls[0], calls[29], calls[15])  # late retries: the oldest, the newest, one between
    newest = calls[29]
    assert await history(pbx_api) == {"count": 30, "last_call_at": newest["entered_at"].replace("+00:00", "Z"),
                                      "last_outcome": newest["outcome"], "last_answered_by": None}
    summary = await db["number_calls"].find_one({"_id": E164})
    assert summary is not None and "call_ids" not in summary
    assert (summary["count"], summary["recent"]) == (30, [c["call_id"] for c in calls][-RECENT_CALLS_KEPT:])
    assert await db["calls"].count_documents({}) == 30


async def test_a_summary_of_the_old_shape_is_read_then_moved_on_the_next_call(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient, worker_process: Process, celery_app: Celery,
        db: AsyncDatabase) -> None:
    await admin_api.put("/api/v1/customers/H-2", json={k: v for k, v in account("H-2", "Olga Ivanova", NUMBER).items()
                                                       if k != "id"})
    old_ids = [f"old.{n}" for n in range(25)]  # what the previous version wrote: every call id
    old_last = {"call_id": old_ids[-1], "at": T0, "outcome": "answered", "answered_by": "boris"}
    await db["number_calls"].insert_one({"_id": E164, "call_ids": old_ids, "last": old_last})
    await db["calls"].insert_many([{"_id": c, "call_id": c, "summarized": True} for c in old_ids])
    assert (await history(pbx_api))["count"] == 25
    new = record("new.1", 5)
    await log(celery_app, new, {**record(old_ids[3], 0), "outcome": "answered"})  # and an old call retried
    summary = await db["number_calls"].find_one({"_id": E164})
    assert summary is not None and "call_ids" not in summary
    assert (summary["count"], summary["recent"]) == (26, [*old_ids, "new.1"][-RECENT_CALLS_KEPT:])

    async def seen() -> dict[str, Any]:
        async with asyncio.timeout(10):
            while (now := await history(pbx_api))["count"] != 26:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        return now

    assert await seen() == {"count": 26, "last_call_at": new["entered_at"].replace("+00:00", "Z"),
                            "last_outcome": "missed_abandoned_in_queue", "last_answered_by": None}
