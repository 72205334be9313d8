"""The listener's AMI link against the simulator: a killed connection mid-call, and a wrong secret."""

from __future__ import annotations

import asyncio
import time

import httpx

from asterisk.simulator import AmiSimulator, clone_with_fresh_ids, load_capture
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.processes import Process
from tests.support.scenarios import SCENARIOS

CLOSING = {"dismissed", "ended"}


async def test_a_killed_connection_mid_call_leaves_no_popup_open_and_later_calls_still_pop_up(
        settings: Settings, service_env: dict[str, str], api_process: Process, worker_process: Process,
        admin_api: httpx.AsyncClient, pages: dict[str, AgentPage]) -> None:
    capture = load_capture(capture_path("ringall_one_answers.jsonl"))
    simulator = AmiSimulator(capture, username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0)
    await simulator.start()
    listener = Process("listener-reconnect", ["listener"],
                       {**service_env, "CALLERCARD_AMI_PORT": str(simulator.port)}).start()
    try:
        await pages["anna"].wait_for(1, timeout=15)  # the first call rings
        first_call = pages["anna"].received[0]["call_id"]
        simulator.capture = clone_with_fresh_ids(capture, 1)  # the PBX's next call, after the reconnect
        dropped_at = time.monotonic()
        await simulator.drop_connections()
        _, expected, *_ = SCENARIOS["ringall_one_answers"]
        for agent_id, events in expected.items():
            await pages[agent_id].wait_for(len(events) + 2, timeout=20)
        recovered_in = time.monotonic() - dropped_at
    finally:
        listener.stop()
        await simulator.stop()

    for agent_id, page in pages.items():
        first = [e["event"] for e in page.received if e["call_id"] == first_call]
        later = [e["event"] for e in page.received if e["call_id"] != first_call]
        assert first[:1] == ["ringing"] and first[-1] in CLOSING, f"{agent_id}'s popup stayed open: {first}"
        assert later == expected[agent_id], f"{agent_id} after the reconnect: {later}"
    assert recovered_in < 15
    assert "stale calls ended" in listener.log_path.read_text()
    logins = [a for a in simulator.received_actions if a.get("Action", "").lower() == "login"]
    assert {a.get("Events") for a in logins} == {"call,agent,system"}, "only the event classes the flow reads"


async def test_a_wrong_secret_is_reported_in_status_and_retried_with_backoff(
        settings: Settings, service_env: dict[str, str], api_process: Process,
        admin_api: httpx.AsyncClient) -> None:
    simulator = AmiSimulator(load_capture(capture_path("answered_agent_hangs_up.jsonl")),
                             username=settings.ami_username, secret="the-pbx-has-another-secret", speed=1.0)
    await simulator.start()
    listener = Process("listener-login-failed", ["listener"],
                       {**service_env, "CALLERCARD_AMI_PORT": str(simulator.port)}).start()
    try:
        await asyncio.sleep(8)
        status = (await admin_api.get("/status")).json()
        logins = [a for a in simulator.received_actions if a.get("Action", "").lower() == "login"]
        assert listener.popen is not None and listener.popen.poll() is None, "the listener must not crash"
    finally:
        listener.stop()
        await simulator.stop()
    assert status["dependencies"]["ami"] == {"ok": False, "detail": "authentication failed: Authentication failed"}
    # Each refusal takes Asterisk 1 s; backoff waits 1, 2, 4 s between tries: 3 tries in 8 s, not a crash loop.
    assert len(logins) == 3, [a.get("ActionID") for a in logins]
