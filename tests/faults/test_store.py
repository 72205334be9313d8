"""MongoDB (FerretDB here) hangs, then goes away, while calls go on; the listener, the worker and an API reach
it through a proxy the test stalls and cuts."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_http, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import TcpProxy, burst, call_ids, call_starts, free_port, report
from tests.support.processes import Process
from tests.support.scenarios import SCENARIOS

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

SCENARIO = "ringall_one_answers"
STALL, GONE = 6.0, 6.0


async def first_full_card(pbx: httpx.AsyncClient, number: str, timeout: float = 10) -> dict:
    """The store is back: one answer may still miss the budget on a loaded machine, not every one."""
    async with asyncio.timeout(timeout):
        while (card := (await pbx.get("/api/v1/lookup", params={"number": number})).json())["degraded"]:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return card


async def test_while_the_store_is_out_lookups_answer_degraded_in_budget_and_the_log_catches_up(
        settings: Settings, api_process: Process, pages: dict[str, AgentPage], db: AsyncDatabase,
        start) -> None:  # type: ignore[no-untyped-def]
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=8, spacing=2.5)
    proxy = await TcpProxy.for_url(settings.mongo_url).start()
    through_proxy = {"mongo_url": proxy.url(settings.mongo_url)}
    simulator = AmiSimulator(timeline, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0, shared_timeline=True)
    await simulator.start()
    api_port = free_port()
    api = start("api", api_port=api_port, **through_proxy)
    await wait_http(f"http://127.0.0.1:{api_port}/status")
    worker = start("worker", **through_proxy)
    listener = start("listener", ami_port=simulator.port, **through_proxy)
    key = settings.pbx_api_key.get_secret_value()
    latencies: list[float] = []
    degraded: list[bool] = []

    async def lookups(pbx: httpx.AsyncClient, until: asyncio.Event) -> None:
        while not until.is_set():
            asked = time.perf_counter()
            response = await pbx.get("/api/v1/lookup", params={"number": "+7 495 987-65-43"})
            latencies.append(time.perf_counter() - asked)
            assert response.status_code == 200, response.text
            degraded.append(response.json()["degraded"])
            await asyncio.sleep(0.2)

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=10,
                                     headers={"Authorization": f"Bearer {key}"}) as pbx:
            await simulator.wait_logins(1, timeout=30)
            started = time.monotonic()
            simulator.start_timeline()
            await pages["vera"].wait_for(2, timeout=30)  # the first call answered with the full card
            proxy.stall()
            out = time.monotonic()
            done = asyncio.Event()
            asking = asyncio.create_task(lookups(pbx, done))
            await asyncio.sleep(STALL)
            await proxy.cut()
            await asyncio.sleep(GONE)
            done.set()
            await asking
            await proxy.restore()
            back = time.monotonic()
            await simulator.wait_finished(timeout=60)
            records = await wait_records(db, call_ids(timeline), timeout=60)
            caught_up = time.monotonic()
            still_open = await wait_no_open_popups(pages, timeout=10)
            after = await first_full_card(pbx, "+7 495 987-65-43")
        for process in (api, worker, listener):
            assert process.popen is not None and process.popen.poll() is None, f"{process.name} must not exit"
    finally:
        await simulator.stop()
        await proxy.stop()

    budget = settings.lookup_budget_seconds
    assert latencies and all(degraded), "every lookup during the outage says degraded"
    assert max(latencies) < budget + 0.2, f"slowest lookup {max(latencies):.3f} s (budget {budget} s)"
    assert after["degraded"] is False and after["display_name"] == "Elena Morozova"
    assert after["recent_calls"]["count"] == len(call_ids(timeline))
    assert still_open == {}
    starts = call_starts(timeline, event="Newchannel")
    during = [c for c, at in starts.items() if out < started + at and started + at + 2.5 < back]
    assert during, "no call was looked up and rang during the outage"
    for call in during:  # looked up during the outage: the card says what is known, the number, marked degraded
        ringing = next(e for e in pages["vera"].received if e["call_id"] == call and e["event"] == "ringing")
        assert ringing["card"]["degraded"] is True and ringing["card"]["number"] == "+74959876543", ringing["card"]
        assert events_by_call(pages["vera"])[call] == ["ringing", "answered", "ended"]
    assert {r["outcome"] for r in records.values()} == {"answered"}
    report("store_outage", stalled_s=STALL, gone_s=GONE, calls=len(starts), calls_ringing_during_outage=len(during),
           lookups_during_outage=len(latencies), slowest_lookup_ms=round(max(latencies) * 1000),
           log_caught_up_after_return_s=round(caught_up - back, 1), records_lost=0)


async def test_a_card_found_after_the_ring_reaches_the_screens_still_showing_the_call(
        settings: Settings, pages: dict[str, AgentPage], start) -> None:  # type: ignore[no-untyped-def]
    # The store answers the caller's lookup only after the phones ring: the ringing says "pending", then
    # a "card" event brings the card to every agent the call is still in front of, and to no one else.
    proxy = await TcpProxy.for_url(settings.mongo_url).start()
    simulator = AmiSimulator(load_capture(capture_path(f"{SCENARIO}.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=0.5,
                             shared_timeline=True)
    await simulator.start()
    start("listener", ami_port=simulator.port, mongo_url=proxy.url(settings.mongo_url), mongo_timeout_ms=20000)
    try:
        await simulator.wait_logins(1, timeout=30)
        proxy.hold()
        simulator.start_timeline()
        async with asyncio.timeout(30):
            while not any(page.received for page in pages.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        rang_at = time.monotonic()
        await asyncio.sleep(0.3)
        proxy.release()
        held_after_ring = time.monotonic() - rang_at
        await simulator.wait_finished(timeout=60)
        still_open = await wait_no_open_popups(pages, timeout=10)
    finally:
        await simulator.stop()
        await proxy.stop()

    assert still_open == {}
    expected = SCENARIOS[SCENARIO].event_names
    for agent_id, page in pages.items():
        assert [e["event"] for e in page.received] == expected.get(agent_id, []), agent_id
        ringing = next(e for e in page.received if e["event"] == "ringing")
        assert ringing["card"] == {"pending": True}, "the store was held: the ring could not wait for the card"
        for update in page.card_updates:
            assert update["agent_id"] == agent_id and update["call_id"] == ringing["call_id"]
            assert update["card"]["display_name"] == "Elena Morozova" and not update["card"]["degraded"]
        closed_at = next(i for i, e in enumerate(page.everything) if e["event"] in ("ended", "dismissed"))
        assert all(e["event"] != "card" for e in page.everything[closed_at:]), f"{agent_id}: card after the close"
    assert len(pages["vera"].card_updates) == 1, "Vera ends up answering: her screen shows the call throughout"
    report("card_after_ring", store_held_after_ring_s=round(held_after_ring, 1),
           agents_updated=sorted(a for a, p in pages.items() if p.card_updates))
