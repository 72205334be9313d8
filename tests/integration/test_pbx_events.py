"""The same recorded scenarios, fed through the generic HTTP event API instead of AMI."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.processes import Process
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS
from tests.unit.test_call_flow_on_captures import replay_effects

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

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


# What the generic feed cannot say: a colleague's call (no customer behind it), the PBX giving up on a queue
# (its hangup does not tell a timeout from the caller leaving; such a call is logged by its duration), a caller
# waiting in a queue where no phone rang (the feed learns of queues from ringing only).
FEEDABLE = sorted(name for name, scenario in SCENARIOS.items()
                  if scenario.direction == "inbound" and scenario.outcome != "missed_unanswered"
                  and (scenario.legs or not scenario.queues))


@pytest.mark.parametrize("name", FEEDABLE)
async def test_http_events_give_the_same_sequences_as_ami(
        name: str, settings: Settings, api_process: Process, worker_process: Process, pbx_api: httpx.AsyncClient,
        admin_api: httpx.AsyncClient, pages: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    scenario = SCENARIOS[name]
    feed = http_feed(name)
    for event in feed:
        response = await pbx_api.post("/api/v1/pbx/events", json=event)
        assert response.status_code == 202, response.text
        if event["event"] == "newCall":
            await asyncio.sleep(GREETING_SECONDS)
    for agent_id, events in scenario.events.items():
        await pages[agent_id].wait_for(len(events), timeout=10)
    await asyncio.sleep(0.5)  # an extra event would show up here

    # The feed names hang-ups, not why a ring stopped: reasons are the feed's own ("hangup").
    assert {a: [(e["event"], (e["card"] or {}).get("display_name")) for e in p.received] for a, p in pages.items()} \
        == {a: [(event, scenario.card[1] if scenario.card else None) for event, _ in scenario.events.get(a, [])]
            for a in DEMO_AGENTS}
    async with asyncio.timeout(10):
        while (response := await admin_api.get(f"/api/v1/calls/{feed[0]['callId']}")).status_code == 404:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    record = response.json()
    assert (record["outcome"], record["answered_by"], record["caller"]["number"], record["direction"]) == \
        (scenario.outcome, scenario.answered_by, scenario.caller, scenario.direction)
    assert [leg["agent_id"] for leg in record["agents"]] == [agent for agent, _ in scenario.legs]


async def test_bad_events_are_a_422_naming_the_field(pbx_api: httpx.AsyncClient) -> None:
    for body, field in [({"event": "explode", "callId": "x"}, "event"), ({"event": "newCall"}, "callId"),
                        ({"event": "ringing", "callId": "x", "agent": "Not An Id"}, "agent")]:
        response = await pbx_api.post("/api/v1/pbx/events", json=body)
        assert response.status_code == 422
        assert response.json()["message"].startswith(field), response.json()


async def test_a_time_without_its_zone_is_refused_naming_the_field_and_the_call_goes_on(
        api_process: Process, worker_process: Process, pbx_api: httpx.AsyncClient, admin_api: httpx.AsyncClient,
        pages: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    call = "naive-time-1"
    number = next(iter(seeded))
    moscow = timezone(timedelta(hours=3))  # the PBX's own zone, as it would send it
    t0 = datetime.now(moscow).replace(microsecond=0)

    def at(seconds: int, *, zoned: bool = True) -> str:
        moment = t0 + timedelta(seconds=seconds)
        return (moment if zoned else moment.replace(tzinfo=None)).isoformat()

    accepted = [{"event": "newCall", "callId": call, "from": number, "at": at(0)}]
    naive = {"event": "ringing", "callId": call, "agent": "anna", "queue": "support", "from": number,
             "at": at(1, zoned=False)}
    for event in accepted:
        assert (await pbx_api.post("/api/v1/pbx/events", json=event)).status_code == 202
    refused = await pbx_api.post("/api/v1/pbx/events", json=naive)
    assert refused.status_code == 422, refused.text
    assert refused.json()["details"]["errors"] == [{"field": "at", "message": "Input should have timezone info"}]
    # The PBX resends it with its zone: the call was not dropped and goes on as if nothing happened.
    resent = [{**naive, "at": at(1)}, {"event": "answer", "callId": call, "agent": "anna", "at": at(3)},
              {"event": "hangup", "callId": call, "at": at(9)}]
    for event in resent:
        if event["event"] == "answer":
            await pages["anna"].wait_for(1, timeout=10)  # the popup is up before the agent picks up
        assert (await pbx_api.post("/api/v1/pbx/events", json=event)).status_code == 202
    await pages["anna"].wait_for(3, timeout=10)
    assert [e["event"] for e in pages["anna"].received] == ["ringing", "answered", "ended"]
    assert pages["anna"].received[0]["card"]["display_name"] == seeded[number]
    async with asyncio.timeout(10):
        while (response := await admin_api.get(f"/api/v1/calls/{call}")).status_code == 404:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    record = response.json()
    times = [datetime.fromisoformat(record[key]) for key in ("entered_at", "answered_at", "ended_at")]
    assert times == [datetime.fromisoformat(e["at"]) for e in (accepted[0], *resent[1:])]
    assert (record["outcome"], record["answered_by"], record["wait_seconds"], record["talk_seconds"]) == \
        ("answered", ["anna"], 3.0, 6.0)
    assert [(a["agent_id"], a["result"]) for a in record["agents"]] == [("anna", "answered")]


async def test_the_call_log_refuses_a_time_without_its_zone(admin_api: httpx.AsyncClient) -> None:
    for field in ("since", "until"):
        response = await admin_api.get("/api/v1/calls", params={field: "2026-11-22T10:00:00"})
        assert response.status_code == 422, response.text
        assert response.json()["message"] == f"{field}: Input should have timezone info"
        assert (await admin_api.get("/api/v1/calls", params={field: "2026-11-22T10:00:00Z"})).status_code == 200
