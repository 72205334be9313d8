"""Two PBXs whose calls carry the same Uniqueids and Linkedids, each served by its own listener."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import call_ids, free_port
from tests.support.processes import Process, http_answers
from tests.support.scenarios import DEMO_AGENTS, SCENARIOS

SCENARIO = "ringall_one_answers"
SPEED = 0.5  # slow enough to decline a ringing phone in the middle of it
PBX2 = "pbx2"
# The same phones on the second PBX, for three more agents: their devices name the PBX.
PBX2_AGENTS = {f"{agent}2": {**spec, "name": f"{spec['name']} (2)",
                             "devices": [f"{PBX2}:{device}" for device in spec["devices"]]}
               for agent, spec in DEMO_AGENTS.items()}


async def test_two_pbxs_with_colliding_ids_never_mix_calls_agents_records_or_actions(
        settings: Settings, env: dict[str, str], api_process: Process, admin_api: httpx.AsyncClient,
        pages: dict[str, AgentPage], db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    capture = load_capture(capture_path(f"{SCENARIO}.jsonl"))
    secret = settings.ami_secret.get_secret_value()
    first = AmiSimulator(capture, username=settings.ami_username, secret=secret, speed=SPEED, shared_timeline=True)
    second = AmiSimulator(capture, username=settings.ami_username, secret=secret, speed=SPEED, shared_timeline=True)
    await first.start()
    await second.start()
    for agent_id, body in PBX2_AGENTS.items():
        assert (await admin_api.put(f"/api/v1/agents/{agent_id}", json=body)).status_code in (200, 201)
    others = {agent_id: await AgentPage.open_with_token_from_api(admin_api, agent_id) for agent_id in PBX2_AGENTS}
    api_port = free_port()
    # The API reaches both PBXs: its own AMI_* is the default one, CALLERCARD_PBXS lists the second.
    pbxs = json.dumps({PBX2: {"host": "127.0.0.1", "port": second.port, "username": settings.ami_username,
                              "secret": secret}})
    api = start("api", api_port=api_port, ami_port=first.port, pbxs=pbxs)
    start("worker")
    start("listener", "default", ami_port=first.port, listener_id="pbx1-a")
    start("listener", PBX2, ami_port=second.port, listener_id="pbx2-a", pbx_id=PBX2)
    try:
        await first.wait_logins(1, timeout=30)
        await second.wait_logins(1, timeout=30)
        api.wait_until(http_answers(f"http://127.0.0.1:{api_port}/status"))
        first.start_timeline()
        second.start_timeline()
        await others["anna2"].wait_for(1, timeout=30)  # ringing on the second PBX
        declined = await decline(api_port, settings, agent_id="anna2", call_id=others["anna2"].received[0]["call_id"])
        await first.wait_finished(timeout=60)
        await second.wait_finished(timeout=60)
        [call] = call_ids(capture)
        records = await wait_records(db, {call, f"{PBX2}:{call}"}, timeout=30)
        everyone = {**pages, **others}
        still_open = await wait_no_open_popups(everyone, timeout=10)
        status = await get_status(api_port)
    finally:
        for page in others.values():
            await page.close()
        await first.stop()
        await second.stop()
    expected = SCENARIOS[SCENARIO].event_names
    assert {agent: events_by_call(page) for agent, page in everyone.items()} == {
        **{agent: {call: expected[agent]} for agent in pages},
        **{f"{agent}2": {f"{PBX2}:{call}": expected[agent]} for agent in pages}}, \
        "each PBX's agents see that PBX's call only, under its own call id"
    assert all(event["agent_id"] == agent for agent, page in everyone.items() for event in page.received)
    assert still_open == {}
    assert await db["calls"].count_documents({}) == 2
    assert {call_id: (r["pbx"], r["answered_by"], [leg["agent_id"] for leg in r["agents"]])
            for call_id, r in records.items()} == {
        call: ("default", ["vera"], ["anna", "boris", "vera"]),
        f"{PBX2}:{call}": (PBX2, ["vera2"], ["anna2", "boris2", "vera2"])}
    assert declined.status_code == 202, declined.text
    hangups = {name: [a for a in sim.received_actions if a.get("Action") == "Hangup"]
               for name, sim in (("default", first), (PBX2, second))}
    assert len(hangups[PBX2]) == 1 and hangups["default"] == [], f"the decline went to the second PBX only: {hangups}"
    assert hangups[PBX2][0]["Channel"].startswith("Local/201@agents"), "anna2's ringing leg on that PBX"
    assert {pbx: link["active_listener"] for pbx, link in status["pbxs"].items()} == \
        {"default": "pbx1-a", PBX2: "pbx2-a"}
    assert status["ok"] is True


async def decline(api_port: int, settings: Settings, *, agent_id: str, call_id: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=headers, timeout=10) as client:
        return await client.post(f"/api/v1/agents/{agent_id}/calls/{call_id}/decline")


async def get_status(api_port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
        async with asyncio.timeout(20):
            while not (body := (await client.get("/status")).json())["dependencies"]["ami"]["ok"]:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    return {"ok": body["dependencies"]["ami"]["ok"], "pbxs": body["pbxs"]}
