"""Prometheus metrics, scraped as Prometheus does while a recorded call is replayed through the real stack."""

from __future__ import annotations

import asyncio

import httpx

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import free_port
from tests.support.metrics import scrape, total
from tests.support.processes import Process
from tests.support.scenarios import SCENARIOS

SCENARIO = "ringall_one_answers"
HISTOGRAM = "callercard_popup_publish_seconds"


async def test_metrics_move_during_a_replay(
        settings: Settings, service_env: dict[str, str], api_process: Process, api_url: str,
        worker_process: Process, pbx_api: httpx.AsyncClient, pages: dict[str, AgentPage],
        seeded: dict[str, str]) -> None:
    simulator = AmiSimulator(load_capture(capture_path(f"{SCENARIO}.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=2.0)
    await simulator.start()
    port = free_port()
    listener = Process("listener-metrics", ["listener"], {**service_env, "CALLERCARD_AMI_PORT": str(simulator.port),
                                                          "CALLERCARD_LISTENER_METRICS_PORT": str(port),
                                                          "CALLERCARD_LISTENER_ID": "metrics-a"}).start()
    listener_url = f"http://127.0.0.1:{port}/metrics"
    try:
        listener.wait_until(lambda: "now active for PBX default" in listener.log_path.read_text())
        api_before = await scrape(f"{api_url}/metrics")
        await simulator.wait_logins(1, timeout=30)
        during = await scrape(listener_url)
        for _ in range(5):  # the dialplan asks for the caller's card and name while the call waits
            assert (await pbx_api.get("/api/v1/lookup", params={"number": "+74959876543"})).status_code == 200
            assert (await pbx_api.get("/api/v1/lookup/name", params={"number": "+74959876543"})).status_code == 200
        await simulator.wait_finished(timeout=30)
        await asyncio.sleep(1.0)
        after = await scrape(listener_url)
        api_after = await scrape(f"{api_url}/metrics")
        drained = await backlog_when_drained(listener_url)
    finally:
        listener.stop()
        await simulator.stop()
    shown = sum(len(events) for events in SCENARIOS[SCENARIO].events.values())
    assert sum(len(page.received) for page in pages.values()) == shown
    assert total(after, f"{HISTOGRAM}_count") - total(during, f"{HISTOGRAM}_count") == shown
    assert total(after, f"{HISTOGRAM}_sum") > total(during, f"{HISTOGRAM}_sum")
    assert total(after, f"{HISTOGRAM}_bucket", le="+Inf") == total(after, f"{HISTOGRAM}_count")
    assert total(after, "callercard_ami_events_total", pbx="default") > \
        total(during, "callercard_ami_events_total", pbx="default")
    assert total(during, "callercard_listener_active", pbx="default", listener="metrics-a") == 1
    assert total(during, "callercard_ami_link_up", pbx="default") == 1
    for endpoint in ("card", "name"):
        assert total(api_after, "callercard_lookup_seconds_count", endpoint=endpoint) - \
            total(api_before, "callercard_lookup_seconds_count", endpoint=endpoint) == 5
    assert total(api_after, "callercard_lookup_budget_misses_total") == \
        total(api_before, "callercard_lookup_budget_misses_total"), "the store answered within the budget"
    # Every kind of work the listener can hold is reported, and none of it is left once the call is over.
    assert set(drained) == BACKLOG_KINDS
    assert {what: size for what, size in drained.items() if what != "tasks"} == dict.fromkeys(BACKLOG_KINDS - {"tasks"},
                                                                                               0.0)
    assert drained["tasks"] > 0


BACKLOG_KINDS = {"effects", "calls_with_effects", "cards", "lookups", "outbox", "background", "finishing", "screens",
                 "webhook_events", "wallboard_changes", "tasks"}


async def backlog_when_drained(url: str, timeout: float = 15.0) -> dict[str, float]:
    """``callercard_listener_backlog`` by kind once everything but tasks is 0 (it is set every 3 s), or at timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        sizes = {dict(labels)["what"]: value for (name, labels), value in (await scrape(url)).items()
                 if name == "callercard_listener_backlog"}
        if (sizes and all(size == 0 for what, size in sizes.items() if what != "tasks")) \
                or asyncio.get_running_loop().time() > deadline:
            return sizes
        await asyncio.sleep(0.5)
