"""Every recorded call through the real stack: simulator → listener → Centrifugo → agents' pages; worker → log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.processes import Process
from tests.support.recorded_calls import recorded_call, recorded_events
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS, Scenario

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

SPEED = 4.0  # the recorded spacing, four times faster


async def run_capture(name: str, settings: Settings, service_env: dict[str, str]) -> AmiSimulator:
    simulator = AmiSimulator(load_capture(capture_path(f"{name}.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=SPEED)
    await simulator.start()
    listener = Process(f"listener-{name}", ["listener"],
                       {**service_env, "CALLERCARD_AMI_PORT": str(simulator.port)}).start()
    try:
        await simulator.wait_finished(timeout=30)
        await asyncio.sleep(1.0)  # let the last events drain; an extra event would show up here
    finally:
        listener.stop()
        await simulator.stop()
    return simulator


async def wait_for_call(admin_api: httpx.AsyncClient, call_id: str, timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while (response := await admin_api.get(f"/api/v1/calls/{call_id}")).status_code == 404:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return response.json()


def card_events(page: AgentPage) -> list[tuple[str, str | None, str | None, str | None]]:
    """What the agent's page was shown: each event with its reason and its card's kind and display name."""
    return [(e["event"], e["reason"], (e["card"] or {}).get("kind"), (e["card"] or {}).get("display_name"))
            for e in page.received]


def expected_card_events(scenario: Scenario, agent_id: str) -> list[tuple[str, str | None, str | None, str | None]]:
    kind, display = scenario.card or (None, None)
    return [(event, reason, kind, display) for event, reason in scenario.events.get(agent_id, [])]


def assert_logged_as(record: dict, scenario: Scenario) -> None:
    assert {key: record[key] for key in ("outcome", "answered_by", "transfers", "direction", "queues")} == {
        "outcome": scenario.outcome, "answered_by": scenario.answered_by, "transfers": scenario.transfers,
        "direction": scenario.direction, "queues": scenario.queues}
    assert [(leg["agent_id"], leg["result"]) for leg in record["agents"]] == scenario.legs
    assert record["caller"]["number"] == scenario.caller


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_each_agent_sees_exactly_their_events_and_the_call_is_logged_once(
        name: str, settings: Settings, service_env: dict[str, str], api_process: Process, worker_process: Process,
        admin_api: httpx.AsyncClient, pages: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    scenario = SCENARIOS[name]
    await run_capture(name, settings, service_env)

    assert {agent_id: card_events(page) for agent_id, page in pages.items()} == \
        {agent_id: expected_card_events(scenario, agent_id) for agent_id in DEMO_AGENTS}
    events = [event for page in pages.values() for event in page.received]
    assert all(event["agent_id"] == agent_id for agent_id, page in pages.items() for event in page.received), \
        "nobody receives an event addressed to another agent"
    assert all(event["direction"] == scenario.direction for event in events)
    if not events:
        return
    call_ids = {event["call_id"] for event in events}
    assert len(call_ids) == 1
    first_ring = next(event for page in pages.values() for event in page.received if event["event"] == "ringing")
    assert first_ring["card"]["number"] == scenario.caller, "the card was resolved before the first ring"

    record = await wait_for_call(admin_api, call_ids.pop())
    assert_logged_as(record, scenario)
    recorded = recorded_call(list(recorded_events(name)))
    if has_pbx_times(name):  # the PBX's Timestamp headers: the record keeps the recorded times, whatever the speed
        assert record["wait_seconds"] == pytest.approx(recorded.wait_seconds, abs=recorded.slack)
        assert record["talk_seconds"] == pytest.approx(recorded.talk_seconds, abs=recorded.slack)
    assert len((await admin_api.get("/api/v1/calls")).json()) == 1, "exactly one call-log record"
    if scenario.direction == "inbound" and scenario.caller != "anonymous":
        history = (await admin_api.get("/api/v1/lookup", params={"number": scenario.caller})).json()["recent_calls"]
        assert history == {"count": 1, "last_call_at": record["entered_at"], "last_outcome": scenario.outcome,
                           "last_answered_by": (scenario.answered_by or [None])[-1]}


def has_pbx_times(name: str) -> bool:
    return any("Timestamp" in event for _, event in recorded_events(name))


async def test_abandoned_in_greeting_is_logged_as_missed_and_needs_a_callback(
        settings: Settings, service_env: dict[str, str], api_process: Process, worker_process: Process,
        admin_api: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    await run_capture("abandon_during_greeting", settings, service_env)
    async with asyncio.timeout(15):
        while not (calls := (await admin_api.get("/api/v1/calls")).json()):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    [record] = calls
    assert record["outcome"] == "missed_abandoned_in_greeting"
    assert record["callback"] == {"needed": True, "done": False}
    missed = (await admin_api.get("/api/v1/calls", params={"outcome": "missed_abandoned_in_greeting",
                                                            "number": "8 (499) 123-45-67"})).json()
    assert [c["call_id"] for c in missed] == [record["call_id"]]


async def test_recording_a_call_twice_keeps_one_record_and_counts_it_once(db, settings: Settings) -> None:
    from callercard.calls import store

    def record(call_id: str, entered_at: str, outcome: str) -> dict:
        return {"call_id": call_id, "caller": {"number": "84951234567", "e164": "+74951234567", "kind": "e164"},
                "direction": "inbound", "queues": ["support"], "agents": [], "answered_by": [], "transfers": 0,
                "entered_at": entered_at, "first_ring_at": None, "answered_at": None, "ended_at": entered_at,
                "wait_seconds": 3.0, "talk_seconds": 0.0, "outcome": outcome,
                "callback": {"needed": True, "done": False}}

    newer = record("2.2", "2026-11-22T10:00:00+00:00", "missed_abandoned_in_queue")
    older = record("1.1", "2026-11-22T09:00:00+00:00", "missed_abandoned_in_greeting")
    for item in (newer, newer, older, newer):  # a retried task, and a late record of an older call
        await store.save(db, item)
    assert await db["calls"].count_documents({}) == 2
    assert await store.recent_calls(db, "+74951234567") == {
        "count": 2, "last_call_at": datetime(2026, 11, 22, 10, tzinfo=UTC),
        "last_outcome": "missed_abandoned_in_queue",
        "last_answered_by": None}
