"""The HTTP event feed's calls live in Redis: two API processes share every call, and an idle one expires."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from callercard.settings import Settings
from tests.integration.test_pbx_events import http_feed
from tests.support.agents import AgentPage
from tests.support.faults import free_port
from tests.support.processes import Process, http_answers
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS

SCENARIO = "ringall_one_answers"


@pytest.fixture
def second_api(service_env: dict[str, str]) -> Iterator[str]:
    """Another API process on the same Redis and MongoDB, expiring idle feed calls after a few seconds."""
    port = free_port()
    process = Process("api-2", ["api"], {**service_env, "CALLERCARD_API_PORT": str(port),
                                         "CALLERCARD_PBX_EVENTS_RING_IDLE_SECONDS": "5",
                                         "CALLERCARD_PBX_EVENTS_CALL_IDLE_SECONDS": "10"}).start()
    process.wait_until(http_answers(f"http://127.0.0.1:{port}/status"))
    yield f"http://127.0.0.1:{port}"
    process.stop()


async def test_a_calls_events_may_reach_any_api_process(
        settings: Settings, second_api: str, api_url: str, worker_process: Process, admin_api: httpx.AsyncClient,
        pages: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    feed = http_feed(SCENARIO)
    headers = {"Authorization": f"Bearer {settings.pbx_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        for n, event in enumerate(feed):  # every other event to the other process, as a load balancer may
            response = await client.post(f"{(api_url, second_api)[n % 2]}/api/v1/pbx/events", json=event)
            assert response.status_code == 202, response.text
            if event["event"] == "newCall":
                await asyncio.sleep(0.6)
    scenario = SCENARIOS[SCENARIO]
    for agent_id, events in scenario.events.items():
        await pages[agent_id].wait_for(len(events), timeout=10)
    await asyncio.sleep(0.5)
    assert {a: [e["event"] for e in p.received] for a, p in pages.items()} == \
        {a: [event for event, _ in scenario.events.get(a, [])] for a in DEMO_AGENTS}
    async with asyncio.timeout(10):
        while (response := await admin_api.get(f"/api/v1/calls/{feed[0]['callId']}")).status_code == 404:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    record = response.json()
    assert (record["outcome"], record["answered_by"], record["pbx"]) == (scenario.outcome, scenario.answered_by,
                                                                          "default")
    assert len((await admin_api.get("/api/v1/calls")).json()) == 1


async def test_a_call_whose_feed_stops_is_expired_by_whichever_process_gets_there(
        settings: Settings, second_api: str, api_url: str, worker_process: Process, admin_api: httpx.AsyncClient,
        pages: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {settings.pbx_api_key.get_secret_value()}"}
    call = {"callId": "feed-stops-1", "pbx": "pbx9", "from": "84959876543"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as client:  # the first process only
        assert (await client.post("/api/v1/pbx/events", json={**call, "event": "newCall"})).status_code == 202
        await asyncio.sleep(0.6)
        assert (await client.post("/api/v1/pbx/events", json={**call, "event": "ringing", "agent": "anna",
                                                                "queue": "support"})).status_code == 202
    await pages["anna"].wait_for(2, timeout=20)  # the second process's expiry: ringing, then dismissed
    assert [(e["event"], e["reason"], e["call_id"]) for e in pages["anna"].received] == [
        ("ringing", None, "pbx9:feed-stops-1"), ("dismissed", "expired", "pbx9:feed-stops-1")]
    async with asyncio.timeout(30):
        while (response := await admin_api.get("/api/v1/calls/pbx9:feed-stops-1")).status_code == 404:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
    record = response.json()
    assert (record["pbx"], record["outcome"], [(a["agent_id"], a["result"]) for a in record["agents"]]) == \
        ("pbx9", "missed_abandoned_in_queue", [("anna", "expired")])
