"""The same recorded scenarios, fed through the generic HTTP event API instead of AMI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.processes import Process
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS
from tests.unit.test_call_flow_on_captures import replay_effects

GREETING_SECONDS = 0.6  # the recorded 2.5 s greeting at the AMI tests' replay speed
_VERB = {"ringing": "ringing", "answered": "answer", "dismissed": "hangup", "ended": "hangup"}


def http_feed(name: str) -> list[dict[str, Any]]:
    """What a webhook PBX would have sent for the recorded call, derived from the real capture."""
    feed: list[dict[str, Any]] = []
    number: str | None = None
    for effects in replay_effects(name):
        for number, call_id in effects.lookups:
            feed.append({"event": "newCall", "callId": call_id, "from": number, "to": "support"})
        for notice in effects.notices:
            if notice.reason in ("caller_hung_up", "answered_elsewhere"):
                continue  # the PBX reports the call's hang-up or the answer; those close these popups
            feed.append({"event": _VERB[notice.event.value], "callId": notice.call_id, "agent": notice.agent_id,
                         "queue": notice.queue, "from": number})
        feed += [{"event": "hangup", "callId": call.call_id} for call in effects.finished]
    return feed


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_http_events_give_the_same_sequences_as_ami(
        name: str, settings: Settings, api_process: Process, worker_process: Process, pbx_api: httpx.AsyncClient,
        admin_api: httpx.AsyncClient, pages: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    caller, expected, outcome, answered_by = SCENARIOS[name]
    feed = http_feed(name)
    for event in feed:
        response = await pbx_api.post("/api/v1/pbx/events", json=event)
        assert response.status_code == 202, response.text
        if event["event"] == "newCall":
            await asyncio.sleep(GREETING_SECONDS)
    for agent_id, events in expected.items():
        await pages[agent_id].wait_for(len(events), timeout=10)
    await asyncio.sleep(0.5)  # an extra event would show up here

    assert {a: [e["event"] for e in p.received] for a, p in pages.items()} == \
        {a: expected.get(a, []) for a in DEMO_AGENTS}
    async with asyncio.timeout(10):
        while (response := await admin_api.get(f"/api/v1/calls/{feed[0]['callId']}")).status_code == 404:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    record = response.json()
    assert (record["outcome"], record["answered_by"], record["caller"]["number"]) == (outcome, answered_by, caller)
    if expected:
        first_ring = next(e for p in pages.values() for e in p.received if e["event"] == "ringing")
        expected_name = "Number withheld" if caller == "anonymous" else seeded[first_ring["card"]["e164"]]
        assert first_ring["card"]["display_name"] == expected_name, json.dumps(first_ring["card"])


async def test_bad_events_are_a_422_naming_the_field(pbx_api: httpx.AsyncClient) -> None:
    for body, field in [({"event": "explode", "callId": "x"}, "event"), ({"event": "newCall"}, "callId"),
                        ({"event": "ringing", "callId": "x", "agent": "Not An Id"}, "agent")]:
        response = await pbx_api.post("/api/v1/pbx/events", json=body)
        assert response.status_code == 422
        assert response.json()["message"].startswith(field), response.json()
