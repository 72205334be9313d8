"""The AMI link breaks mid-call: dropped by the PBX, or half-open (the PBX goes silent without closing).

The simulator plays one PBX timeline (three ring-all calls, 4 or 8 s apart, in real time) whatever the listener's
connection does, as a real Asterisk would: what happens while the link is down is never replayed.
"""

from __future__ import annotations

import time

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import burst, call_starts, report
from tests.support.processes import Process
from tests.support.scenarios import SCENARIOS

SCENARIO = "ringall_one_answers"
# Design bounds: a Ping every 3 s, 4 s to answer it → a half-open link is noticed within 7 s; 1 s backoff.
DETECT_WITHIN = 10.0  # the bound for noticing a broken link
BACKOFF = 1.0
LOAD_HEADROOM = 2.0  # a shared 2-core machine runs three test suites at once


@pytest.mark.parametrize("fault", ["dropped", "half_open"])
async def test_a_broken_link_is_noticed_resynchronized_and_later_calls_pop_up(
        fault: str, settings: Settings, api_process: Process, pages: dict[str, AgentPage], db: AsyncDatabase,
        start) -> None:  # type: ignore[no-untyped-def]
    # A half-open link takes up to ~8 s to notice and re-login: the calls after it must begin later than that.
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=3,
                     spacing=4.0 if fault == "dropped" else 8.0)
    simulator = AmiSimulator(timeline, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0, shared_timeline=True)
    await simulator.start()
    start("worker")
    listener = start("listener", ami_port=simulator.port)
    try:
        await simulator.wait_logins(1, timeout=30)
        started = time.monotonic()
        simulator.start_timeline()
        await pages["anna"].wait_for(1, timeout=15)  # the first call rings
        first_call = pages["anna"].received[0]["call_id"]
        broken = time.monotonic()
        if fault == "dropped":
            await simulator.drop_connections()
        else:
            simulator.go_silent()
        relogged = await simulator.wait_logins(2, timeout=DETECT_WITHIN + BACKOFF + LOAD_HEADROOM + 5)
        noticed = min(t for t in simulator.disconnect_times if t >= broken)
        await simulator.wait_finished(timeout=40)
        still_open = await wait_no_open_popups(pages, timeout=10)
        assert listener.popen is not None and listener.popen.poll() is None, "the listener must not exit"
    finally:
        await simulator.stop()

    expected, outcome, answered_by = (SCENARIOS[SCENARIO].event_names, SCENARIOS[SCENARIO].outcome,
                                     SCENARIOS[SCENARIO].answered_by)
    starts = call_starts(timeline)
    later = sorted(call for call, at in starts.items() if started + at > relogged)
    missed = sorted(set(starts) - {first_call, *later})  # began while the link was down
    assert still_open == {}, f"popups left open: {still_open}"
    assert later, "no call started after the reconnect: the timeline is too short for this fault"
    for call in later:
        seen = {agent_id: events_by_call(page).get(call, []) for agent_id, page in pages.items()}
        assert seen == {agent_id: expected.get(agent_id, []) for agent_id in pages}, call
    records = await wait_records(db, {first_call, *later}, timeout=30)
    for call in later:
        assert (records[call]["outcome"], records[call]["answered_by"]) == (outcome, answered_by)
    assert records[first_call]["caller"]["number"] == "+74959876543"
    assert "stale calls ended" in listener.log_path.read_text() or fault == "half_open"
    logins = [a for a in simulator.received_actions if a.get("Action", "").lower() == "login"]
    assert {a.get("Events") for a in logins} == {"call,agent,system"}, "only the event classes the flow reads"

    noticed_in, reconnected_in = noticed - broken, relogged - broken
    report(f"ami_link_{fault}", noticed_s=round(noticed_in, 2), reconnected_s=round(reconnected_in, 2),
           calls=len(starts), calls_during_outage=len(missed), later_calls_ok=len(later))
    assert noticed_in < DETECT_WITHIN, f"the broken link was noticed after {noticed_in:.1f} s"
    assert reconnected_in < (0.5 if fault == "dropped" else 7.0) + BACKOFF + LOAD_HEADROOM, \
        f"logged in again {reconnected_in:.1f} s after the fault"
