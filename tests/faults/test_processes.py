"""callercard's own processes die or restart in the middle of a burst of calls: no record lost, no popup stuck."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.faults.conftest import (
    events_by_call,
    wait_http,
    wait_no_open_popups,
    wait_records,
    wait_worker_ready_async,
)
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import TcpProxy, burst, call_ids, call_spans, free_port, kill_group, report
from tests.support.processes import Process, http_answers
from tests.support.scenarios import SCENARIOS

SCENARIO = "ringall_one_answers"
VISIBILITY_TIMEOUT = 10  # the default is 60 s; a killed worker's tasks come back after this
# Twice the recorded pace (calls last 3.25 s, one begins every second); the listener's restart at the recorded
# pace, so that no call begins and ends while no listener runs (such a call would never be seen).
SPEED = {"api": 2.0, "worker": 2.0, "listener": 1.0}
RESTART_GAP = 2.0  # long enough that a call ends and another begins while no listener runs


def logged(worker: Process) -> int:
    return worker.log_path.read_text(errors="replace").count(": logged as ")


async def assert_every_call_logged_once(db: AsyncDatabase, calls: set[str], timeout: float,
                                        exact: set[str] | None = None) -> float:
    """Every call has its record (one document per call id by construction), is counted once for its number, and
    the calls in ``exact`` (all by default) are logged as they happened."""
    started = time.monotonic()
    records = await wait_records(db, calls, timeout=timeout)
    outcome, answered_by = SCENARIOS[SCENARIO].outcome, SCENARIOS[SCENARIO].answered_by
    assert {(r["outcome"], tuple(r["answered_by"])) for c, r in records.items() if exact is None or c in exact} \
        <= {(outcome, tuple(answered_by))}
    # A worker killed between the record and its number's summary leaves the summary to the task's second run.
    async with asyncio.timeout(timeout):
        while (summary := await db["number_calls"].find_one({"_id": "+74959876543"})) is None \
                or summary["count"] < len(calls):  # noqa: ASYNC110
            await asyncio.sleep(0.25)
    assert (summary["count"], sorted(summary["recent"])) == (len(calls), sorted(calls)), "each call counted once"
    assert await db["calls"].count_documents({}) == len(calls)
    return time.monotonic() - started


async def records_in_flight(broker: aioredis.Redis) -> int:
    """Call records a worker has taken from the queue and not acknowledged (kombu's ``unacked`` hash)."""
    return sum(b"callercard.record_call" in message for message in await broker.hvals("unacked"))


async def test_a_worker_killed_mid_burst_loses_no_record(
        settings: Settings, env: dict[str, str], api_process: Process, pages: dict[str, AgentPage],
        db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=16, spacing=0.5)
    simulator = AmiSimulator(timeline, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0)
    await simulator.start()
    broker = aioredis.Redis.from_url(settings.redis_url)
    # The worker reaches the store through a proxy the test stalls just before the kill: a record task then
    # waits on the store, so the kill surely catches one unacknowledged (a real kill lands at any moment).
    store = await TcpProxy.for_url(settings.mongo_url).start()
    worker = start("worker", broker_visibility_timeout_seconds=VISIBILITY_TIMEOUT,
                   mongo_url=store.url(settings.mongo_url))
    start("listener", ami_port=simulator.port, broker_visibility_timeout_seconds=VISIBILITY_TIMEOUT)
    try:
        async with asyncio.timeout(40):
            while logged(worker) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        store.stall()
        async with asyncio.timeout(20):  # until the worker holds a call record it has not acknowledged
            while not await records_in_flight(broker):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        kill_group(worker)  # SIGKILL: the worker and its pool, mid-task
        killed = time.monotonic()
        in_flight = await records_in_flight(broker)
        logged_before = logged(worker)
        await store.restore()
        await asyncio.sleep(2)
        worker.start()
        await wait_worker_ready_async(worker, starts=2)
        await simulator.wait_finished(timeout=60)
        waited = await assert_every_call_logged_once(db, call_ids(timeline), timeout=VISIBILITY_TIMEOUT + 30)
        still_open = await wait_no_open_popups(pages, timeout=10)
    finally:
        await broker.aclose()
        await simulator.stop()
        await store.stop()
    assert still_open == {}
    assert in_flight, "the worker was killed holding no call record: the test proved nothing"
    report("worker_sigkill", calls=len(call_ids(timeline)), records_in_flight_at_kill=in_flight,
           logged_before_kill=logged_before, all_logged_after_kill_s=round(time.monotonic() - killed, 1),
           waited_after_burst_s=round(waited, 1), visibility_timeout_s=VISIBILITY_TIMEOUT, records_lost=0)


@pytest.mark.parametrize("process", ["api", "worker", "listener"])
async def test_restarting_a_process_mid_burst_loses_no_record_and_leaves_no_popup(
        process: str, settings: Settings, env: dict[str, str], api_process: Process, pages: dict[str, AgentPage],
        db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=8, spacing=2.0)
    simulator = AmiSimulator(timeline, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=SPEED[process],
                             shared_timeline=True)
    await simulator.start()
    api_port = free_port()
    processes = {"api": start("api", api_port=api_port), "worker": start("worker"),
                 "listener": start("listener", ami_port=simulator.port)}
    processes["api"].wait_until(http_answers(f"http://127.0.0.1:{api_port}/status"))
    restarted = processes[process]
    try:
        await simulator.wait_logins(1, timeout=30)
        simulator.start_timeline()
        await pages["vera"].wait_for(5, timeout=30)  # two calls answered, more ringing or queued
        started = simulator.timeline_started
        restarted.stop()  # SIGTERM, as a service manager's restart does
        stopped = time.monotonic()
        if process == "listener":
            await asyncio.sleep(RESTART_GAP)
        restarted.start()
        # Waited for without blocking the event loop: the simulator, which runs on it, must keep answering Pings.
        if process == "worker":
            await wait_worker_ready_async(restarted, starts=2)
        elif process == "api":
            await wait_http(f"http://127.0.0.1:{api_port}/status")
        else:
            await simulator.wait_logins(2, timeout=30)
        back = time.monotonic()
        back_in = back - stopped
        unseen = [c for c, (first, last) in call_spans(timeline, SPEED[process]).items()
                  if stopped < started + first and started + last < back]
        # Only a listener's restart can miss a call; the API or the worker may restart slowly on a loaded machine.
        assert process != "listener" or not unseen, \
            f"calls {unseen} began and ended in the {back_in:.1f} s without a listener"
        await simulator.wait_finished(timeout=60)
        still_open = await wait_no_open_popups(pages, timeout=10)
        expected = SCENARIOS[SCENARIO].event_names
        seen_whole = {c for c in call_ids(timeline)
                      if all(events_by_call(page).get(c, []) == expected.get(a, []) for a, page in pages.items())}
        # A call that ended while no listener watched is logged as it was last seen (AMI keeps no history).
        waited = await assert_every_call_logged_once(db, call_ids(timeline), timeout=40, exact=seen_whole)
        key = settings.pbx_api_key.get_secret_value()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=10,
                                     headers={"Authorization": f"Bearer {key}"}) as pbx:
            card = (await pbx.get("/api/v1/lookup", params={"number": "+74959876543"})).json()
    finally:
        await simulator.stop()
    assert still_open == {}
    assert card["recent_calls"]["count"] == len(call_ids(timeline))
    report(f"restart_{process}", calls=len(call_ids(timeline)), back_in_s=round(back_in, 1),
           restart_gap_s=RESTART_GAP if process == "listener" else 0,
           all_logged_after_burst_s=round(waited, 1), calls_seen_whole=len(seen_whole), records_lost=0)
    if process != "listener":  # the API and the worker are not on the popups' path
        assert seen_whole == call_ids(timeline)
    else:
        log = restarted.log_path.read_text()
        assert "took over" in log and "live call(s) from the previous listener" in log
        ended_meanwhile = [int(m) for m in re.findall(r"live channels, (\d+) stale calls ended", log)]
        assert ended_meanwhile[-1] >= 1, "no call ended during the restart: the test proved nothing"
        assert len(seen_whole) >= len(call_ids(timeline)) // 2, seen_whole
