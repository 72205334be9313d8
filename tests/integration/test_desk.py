"""The agent's desk through the real stack: decline, screen restore, lines, callbacks and click-to-dial.

The recorded PBX listens on the API's own AMI port, so what the API sends is checked on the
server side, against what the recording client sent to the real Asterisk.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from amisim import load_capture
from callercard import phone
from callercard.calls import store as calls_store
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.pbx import actions, listening, recorded_answer, recorded_pbx
from tests.support.processes import Process

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)


def recorded_actions(capture: str, action: str) -> list[dict[str, str]]:
    """What the recording client sent to the real Asterisk, minus the per-session ActionID."""
    entries = load_capture(capture_path(f"{capture}.jsonl")).entries
    return [{k: v for k, v in e.headers.items() if k != "ActionID"} for e in entries
            if e.dir == "out" and e.headers.get("Action") == action]


def without_action_id(action: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in action.items() if k != "ActionID"}


async def bearer(admin_api: httpx.AsyncClient, agent_id: str) -> dict[str, str]:
    """The widget's credential: the agent's own short-lived API token."""
    token = (await admin_api.post(f"/api/v1/agents/{agent_id}/token")).json()["api_token"]
    return {"Authorization": f"Bearer {token}"}


async def first(page: AgentPage, event: str, timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while not any(e["event"] == event for e in page.received):
            await page.wait_for(len(page.received) + 1, timeout=timeout)
    return next(e for e in page.received if e["event"] == event)


def missed_record(call_id: str, number: str, *, agents: list[str], queues: list[str]) -> dict:
    parsed = phone.normalize(number)
    return {"call_id": call_id, "caller": {"number": number, "e164": parsed.e164, "kind": parsed.kind.value},
            "direction": "inbound", "queues": queues,
            "agents": [{"agent_id": agent, "result": "no_answer"} for agent in agents],
            "answered_by": [], "transfers": 0, "entered_at": datetime.now(UTC).isoformat(), "first_ring_at": None,
            "answered_at": None, "ended_at": None, "wait_seconds": 5.0, "talk_seconds": 0.0,
            "outcome": "missed_abandoned_in_queue", "callback": {"needed": parsed.e164 is not None, "done": False}}


async def test_decline_hangs_up_only_this_agents_ringing_leg(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process,
        worker_process: Process, admin_api: httpx.AsyncClient, pages: dict[str, AgentPage]) -> None:
    async with recorded_pbx(settings, "decline_then_next_agent", speed=0.4) as pbx, \
            listening(service_env, "decline"):
        ringing = await first(pages["boris"], "ringing")
        call_id = ringing["call_id"]
        async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna:
            refused = await anna.post(f"/api/v1/agents/boris/calls/{call_id}/decline")
            assert refused.status_code == 403, "Anna cannot decline Boris's call"
            assert (await anna.post(f"/api/v1/agents/anna/calls/{call_id}/decline")).status_code == 409
        async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "boris")) as boris:
            response = await boris.post(f"/api/v1/agents/boris/calls/{call_id}/decline")
            assert response.status_code == 202, response.text
        assert [without_action_id(a) for a in actions(pbx, "Hangup")] == recorded_actions(
            "decline_then_next_agent", "Hangup"), "one Hangup, of Boris's ringing channel, with cause 21"
        dismissed = await first(pages["boris"], "dismissed")
        assert dismissed["call_id"] == call_id
    assert [e["event"] for e in pages["boris"].received] == ["ringing", "dismissed"]


async def test_a_reloaded_page_gets_the_answered_call_back_from_the_api(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process,
        worker_process: Process, admin_api: httpx.AsyncClient, pages: dict[str, AgentPage],
        seeded: dict[str, str]) -> None:
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.5), listening(service_env, "screen"):
        answered = await first(pages["vera"], "answered")
        async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "vera")) as vera:
            assert (await vera.get("/api/v1/agents/vera/screen")).json() == [answered]
            assert answered["card"]["display_name"] == seeded[answered["card"]["e164"]]
            await first(pages["vera"], "ended")
            assert (await vera.get("/api/v1/agents/vera/screen")).json() == []
        anna_screen = await admin_api.get("/api/v1/agents/anna/screen")
        assert anna_screen.json() == [], "Anna's popup was dismissed when Vera answered"


async def test_switching_lines_sends_queue_actions_and_the_line_status_follows_the_members(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process,
        admin_api: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    not_dynamic = recorded_answer("member_pause_remove_add", "QueueRemove")  # Anna is static in 'support'
    async with recorded_pbx(settings, "member_login_logout", speed=0.5,
                            responses={"QueueRemove": not_dynamic}) as pbx:
        async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna:
            switched = (await anna.put("/api/v1/agents/anna/line", json={"line": 2})).json()
        assert switched["done"][0] == "joined line 2 (second)"
        assert "Member not dynamic" in switched["done"][1], "the PBX's refusal reaches the agent in words"
        assert [without_action_id(a) for a in actions(pbx, "QueueAdd")] == recorded_actions(
            "member_login_logout", "QueueAdd")[:1], "Anna's QueueAdd is the one the real PBX accepted"
        assert [without_action_id(a) for a in actions(pbx, "QueueRemove")] == [
            {"Action": "QueueRemove", "Queue": "support", "Interface": "Local/201@agents/n"}]
        assert [(a["Queue"], a["Paused"]) for a in actions(pbx, "QueuePause")] == [("support", "true")]

        token = (await admin_api.post("/api/v1/agents/boris/token")).json()
        watcher = AgentPage(agent_id="boris", token=token["token"], websocket_url=token["websocket_url"],
                            channel="queues:status")
        await watcher.open()
        try:
            async with listening(service_env, "lines"):
                async with asyncio.timeout(20):
                    while not any(s["queue"] == "second" and s["on_line"] == 0 for s in watcher.received):
                        await watcher.wait_for(len(watcher.received) + 1, timeout=20)
        finally:
            await watcher.close()
    second = [(s["free"], s["on_line"]) for s in watcher.received if s["queue"] == "second"]
    assert second == [(1, 1), (2, 2), (1, 2), (0, 1), (0, 0)]
    lines = (await admin_api.get("/api/v1/agents/anna/lines")).json()
    assert [(line["line"], line["queue"], line["free"], line["on_line"]) for line in lines if line["known"]] == [
        (2, "second", 0, 0)]


async def test_call_back_rings_the_agent_first_then_dials_the_missed_caller(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process,
        worker_process: Process, admin_api: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    async with recorded_pbx(settings, "no_answer_then_abandon", speed=4) as pbx:
        async with listening(service_env, "missed"):
            await pbx.wait_finished(timeout=20)
            async with asyncio.timeout(15):
                while not (await admin_api.get("/api/v1/callbacks")).json():  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "boris")) as boris:
            [missed] = (await boris.get("/api/v1/callbacks")).json()
            placed = await boris.post(f"/api/v1/callbacks/{missed['display_number']}/call", json={})
            assert placed.status_code == 200, placed.text
            again = await boris.post(f"/api/v1/callbacks/{missed['number']}/call", json={})
            assert again.status_code == 409, "a missed call is called back once: it left the list"
            assert "is off the callback list: agent:boris called back at" in again.json()["message"]
            assert (await boris.get("/api/v1/callbacks")).json() == []
    [originate] = actions(pbx, "Originate")
    recorded = recorded_actions("click_to_dial", "Originate")[0]
    assert originate["Async"] == recorded["Async"] == "true"
    assert originate["Channel"] == "Local/202@agents", "Boris's own phone rings first"
    assert (originate["Context"], originate["Exten"]) == (recorded["Context"], phone.dial_string(
        missed["number"], region=settings.default_region))
    assert originate["ActionID"] == placed.json()["reference"]
    [call_id] = missed["call_ids"]
    assert f"CALLERCARD_CALLBACK_OF={call_id}" in originate["Variable"]
    record = (await admin_api.get(f"/api/v1/calls/{call_id}")).json()
    assert (record["callback"]["done"], record["callback"]["done_by"], record["callback"]["via"],
            record["callback"]["attempt"]) == (True, "agent:boris", "callback", placed.json()["reference"])


def test_the_dial_string_is_what_the_recording_client_dialed() -> None:
    recorded = recorded_actions("click_to_dial", "Originate")[0]
    assert phone.dial_string(phone.normalize(recorded["Exten"]).e164 or "", region="RU") == recorded["Exten"]


async def test_calling_a_do_not_call_number_needs_an_admin_override_which_is_audited(
        settings: Settings, api_url: str, api_process: Process, admin_api: httpx.AsyncClient, db: AsyncDatabase,
        seeded: dict[str, str]) -> None:
    await calls_store.save(db, missed_record("cb.1", "89031112233", agents=["anna"], queues=["support"]))
    await calls_store.save(db, missed_record("cb.2", "anonymous", agents=["anna"], queues=["support"]))
    assert (await admin_api.put("/api/v1/dnc/8 (903) 111-22-33",
                                json={"reason": "asked_not_to_call"})).status_code == 201
    async with recorded_pbx(settings, "click_to_dial") as pbx:
        async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna:
            refused = await anna.post("/api/v1/callbacks/89031112233/call", json={})
            assert refused.status_code == 409 and "do-not-call" in refused.json()["message"]
            dial = await anna.post("/api/v1/agents/anna/dial", json={"number": "+79031112233"})
            assert dial.status_code == 409, "click-to-dial is refused the same way"
            forced = await anna.post("/api/v1/callbacks/89031112233/call",
                                     json={"override_dnc": True, "override_note": "customer asked us to call"})
            assert forced.status_code == 403, "only an admin may override"
            withheld = await anna.post("/api/v1/callbacks/anonymous/call", json={})
            assert withheld.status_code == 422 and "withheld" in withheld.json()["message"]
            assert [row["number"] for row in (await anna.get("/api/v1/callbacks")).json()] == ["+79031112233"], \
                "the withheld caller has no row; the refused callbacks left theirs open and unclaimed"
            assert actions(pbx, "Originate") == []
        overridden = await admin_api.post("/api/v1/callbacks/+79031112233/call", json={
            "agent_id": "anna", "override_dnc": True, "override_note": "customer asked us to call back"})
        assert overridden.status_code == 200, overridden.text
        assert len(actions(pbx, "Originate")) == 1
        allowed = await admin_api.post("/api/v1/agents/anna/dial", json={"number": "8 (495) 123-45-67"})
        assert allowed.status_code == 200 and actions(pbx, "Originate")[-1]["Exten"] == "84951234567"
    history = (await admin_api.get("/api/v1/dnc/+79031112233/history")).json()
    assert [(h["action"], h["by"]) for h in history] == [("flag", "admin"), ("override", "admin")]
    assert "customer asked us to call back" in history[-1]["note"]


async def test_mark_all_done_clears_only_what_the_agent_can_see(
        api_url: str, api_process: Process, admin_api: httpx.AsyncClient, db: AsyncDatabase,
        seeded: dict[str, str]) -> None:
    await calls_store.save(db, missed_record("m.1", "84957654321", agents=["anna"], queues=["support"]))
    await calls_store.save(db, missed_record("m.2", "84951234567", agents=["vera"], queues=["sales"]))
    async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna:
        assert [r["call_ids"] for r in (await anna.get("/api/v1/callbacks")).json()] == [["m.1"]]
        assert (await anna.post("/api/v1/callbacks:done", json={"all": True})).json() == {"done": 1}
        assert (await anna.post("/api/v1/callbacks:done", json={})).status_code == 422
    assert [r["call_ids"] for r in (await admin_api.get("/api/v1/callbacks")).json()] == [["m.2"]]


async def test_the_widgets_token_is_an_agent_credential_for_that_agent_only(
        settings: Settings, api_url: str, api_process: Process, admin_api: httpx.AsyncClient,
        seeded: dict[str, str]) -> None:
    from callercard.centrifugo import connection_token

    async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna:
        assert (await anna.get("/api/v1/agents/anna/screen")).status_code == 200
        assert (await anna.get("/api/v1/agents/boris/screen")).status_code == 403
        assert (await anna.get("/api/v1/customers/C-1001")).status_code == 403
    expired = connection_token(settings=settings, agent_id="anna", now=datetime.now(UTC).timestamp() - 3600).api_token
    response = await admin_api.get("/api/v1/agents/anna/screen", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["message"]
