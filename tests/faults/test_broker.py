"""Redis (the Celery broker) stops for 10 s while calls go on."""

from __future__ import annotations

import asyncio
import time

import httpx
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard import redis_state
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import PrivateRedis, burst, call_ids, call_starts, free_port, report
from tests.support.processes import Process, http_answers
from tests.support.scenarios import SCENARIOS

SCENARIO = "ringall_one_answers"
OUTAGE = 10.0
RECOVER_WITHIN = 5.0  # the bound, from Redis's return to the listener working with it again


async def listener_reported(client: aioredis.Redis) -> bool:
    try:
        return await client.exists(redis_state.LISTENER_STATE_KEY) == 1
    except (OSError, aioredis.RedisError):
        return False


async def test_calls_during_a_broker_outage_pop_up_and_are_all_logged_after_it(
        settings: Settings, broker: PrivateRedis, api_process: Process, pages: dict[str, AgentPage],
        db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=8, spacing=2.0)
    simulator = AmiSimulator(timeline, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0, shared_timeline=True)
    await simulator.start()
    start("worker")
    listener = start("listener", ami_port=simulator.port)
    client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=1)
    try:
        await simulator.wait_logins(1, timeout=30)
        started = time.monotonic()
        simulator.start_timeline()
        await pages["vera"].wait_for(2, timeout=30)  # the first call answered
        broker.stop()
        stopped = time.monotonic()
        await asyncio.sleep(OUTAGE)
        broker.start()
        returned = time.monotonic()
        async with asyncio.timeout(RECOVER_WITHIN + 10):
            while not await listener_reported(client):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        reported = time.monotonic()
        async with asyncio.timeout(RECOVER_WITHIN + 10):  # the records kept during the outage reach the queue
            while "broker back after" not in listener.log_path.read_text():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        handed_over = time.monotonic()
        await simulator.wait_finished(timeout=60)
        records = await wait_records(db, call_ids(timeline), timeout=60)
        all_logged = time.monotonic()
        still_open = await wait_no_open_popups(pages, timeout=10)
        assert listener.popen is not None and listener.popen.poll() is None, "the listener must not exit"
    finally:
        await client.aclose()
        await simulator.stop()

    expected, outcome, answered_by = (SCENARIOS[SCENARIO].event_names, SCENARIOS[SCENARIO].outcome,
                                     SCENARIOS[SCENARIO].answered_by)
    starts = call_starts(timeline)
    during = sorted(c for c, at in starts.items() if stopped < started + at < returned)
    assert during, "no call rang during the outage: the test proved nothing"
    for call in during:  # popups go straight to Centrifugo: the outage does not touch them
        assert {a: events_by_call(p).get(call, []) for a, p in pages.items()} == \
            {a: expected.get(a, []) for a in pages}, call
    assert still_open == {}
    assert {(r["outcome"], tuple(r["answered_by"])) for r in records.values()} == {(outcome, tuple(answered_by))}
    assert await db["calls"].count_documents({}) == len(starts)
    log = listener.log_path.read_text()
    assert "broker unavailable" in log
    report("broker_outage", outage_s=OUTAGE, calls=len(starts), calls_ringing_during_outage=len(during),
           listener_reports_again_s=round(reported - returned, 1),
           kept_records_handed_over_s=round(handed_over - returned, 1),
           all_logged_after_return_s=round(all_logged - returned, 1), records_lost=0)
    assert handed_over - returned < RECOVER_WITHIN, f"records handed over {handed_over - returned:.1f} s after"
    assert reported - returned < RECOVER_WITHIN, f"listener reported {reported - returned:.1f} s after"


async def test_while_redis_is_down_lookups_read_the_store_instead_of_memory(
        settings: Settings, broker: PrivateRedis, db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    # The API remembers cards only while it hears every change on Redis; deaf, it must not serve a stale one.
    port = free_port()
    api = start("api", api_port=port)
    api.wait_until(http_answers(f"http://127.0.0.1:{port}/status"))
    auth = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=10) as client:
        async def holder() -> str:
            response = await client.get("/api/v1/lookup", params={"number": "84951234567"})
            assert response.status_code == 200 and not response.json()["degraded"], response.text
            return str(response.json()["display_name"])

        async def change_silently(name: str) -> None:  # no announcement: only a store read can see it
            await db["accounts"].update_one({"_id": "R-1"}, {"$set": {"holder": name}})
            await db["card_cache"].delete_many({})

        assert (await client.put("/api/v1/customers/R-1", json={
            "holder": "Ivan Petrov", "phones": [{"kind": "contact", "number": "84951234567"}]})).status_code == 201
        assert await holder() == "Ivan Petrov"
        await change_silently("First Change")
        assert await holder() == "Ivan Petrov", "with Redis up the card comes from memory"

        broker.stop()
        stopped = time.monotonic()
        async with asyncio.timeout(15):
            while await holder() != "First Change":  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        deaf_after = time.monotonic() - stopped
        await change_silently("Second Change")
        assert await holder() == "Second Change", "while deaf every lookup reads the store"

        broker.start()
        returned = time.monotonic()
        names = iter(f"Change {n}" for n in range(1000))
        async with asyncio.timeout(15):
            while True:  # memory is back once a silent change stays unseen
                current = await holder()
                await change_silently(next(names))
                if await holder() == current:
                    break
                await asyncio.sleep(0.1)
        listening_after = time.monotonic() - returned
    log = api.log_path.read_text()
    assert "lost the change announcements" in log
    report("lookup_memory_redis_outage", memory_off_after_redis_stopped_s=round(deaf_after, 1),
           memory_back_after_redis_returned_s=round(listening_after, 1), stale_cards_served=0)
    assert deaf_after < 10, f"memory still served {deaf_after:.1f} s after Redis stopped"
