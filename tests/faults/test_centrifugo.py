"""Centrifugo's server API hangs, then refuses, while calls ring (agents' pages stay connected to it directly)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import TcpProxy, burst, call_ids, call_starts, report
from tests.support.processes import Process
from tests.support.scenarios import SCENARIOS

SCENARIO = "ringall_one_answers"  # all three ring; Vera answers 1 s later; the call ends 2.5 s after that


@pytest.mark.parametrize("fault", ["hangs", "refuses"])
async def test_a_ringing_answered_elsewhere_while_centrifugo_was_down_is_never_shown(
        fault: str, settings: Settings, api_process: Process, pages: dict[str, AgentPage], db: AsyncDatabase,
        start) -> None:  # type: ignore[no-untyped-def]
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=2, spacing=6.0)
    first, second = sorted(call_starts(timeline), key=call_starts(timeline).get)  # type: ignore[arg-type]
    proxy = await TcpProxy.for_url(str(settings.centrifugo_api_url)).start()
    simulator = AmiSimulator(timeline, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0, shared_timeline=True)
    await simulator.start()
    start("worker")
    listener = start("listener", ami_port=simulator.port,
                     centrifugo_api_url=proxy.url(str(settings.centrifugo_api_url)))
    try:
        await simulator.wait_logins(1, timeout=30)
        started = time.monotonic()
        simulator.start_timeline()
        down = time.monotonic()
        if fault == "hangs":
            proxy.stall()  # the first call's three rings and Vera's answer happen while Centrifugo hangs
        else:
            await proxy.cut()
        ring_at = started + call_starts(timeline)[first]
        await asyncio.sleep(max(ring_at + 1.6 - time.monotonic(), 0))  # until just after Vera answered
        await proxy.restore()
        up = time.monotonic()
        await simulator.wait_finished(timeout=40)
        records = await wait_records(db, call_ids(timeline), timeout=30)
        still_open = await wait_no_open_popups(pages, timeout=10)
        assert listener.popen is not None and listener.popen.poll() is None, "the listener must not exit"
    finally:
        await simulator.stop()
        await proxy.stop()

    seen = {agent_id: events_by_call(page) for agent_id, page in pages.items()}
    for agent_id in ("anna", "boris"):  # answered elsewhere while Centrifugo was down: no late popup
        assert "ringing" not in seen[agent_id].get(first, []), (agent_id, seen[agent_id])
    assert seen["vera"].get(first, [])[-2:] == ["answered", "ended"], seen["vera"]
    expected = SCENARIOS[SCENARIO].event_names
    assert {a: s.get(second, []) for a, s in seen.items()} == {a: expected.get(a, []) for a in pages}, \
        "the next call pops up normally"
    assert still_open == {}
    assert len(records) == 2
    log = listener.log_path.read_text()
    dropped = log.count("dropped:") + log.count("no longer wanted")
    failed = log.count("failed (attempt")
    if fault == "hangs":  # publishes queue up behind 1 s timeouts: the late ringings must have been dropped
        assert dropped >= 1
    assert failed >= 1
    report(f"centrifugo_{fault}", outage_s=round(up - down, 1), late_ringings_dropped=dropped,
           failed_publish_attempts=failed, first_call_seen={a: s.get(first, []) for a, s in seen.items()},
           records_lost=0)
