"""The callback worklist through the real stack: one row per number, live per agent, closed by a later answered
call, claimed atomically before calling (issue 17 point 4), and the policy for what counts.

Real listener, worker, API, Redis, FerretDB and Centrifugo; agents' pages are centrifuge-python clients on their
``callbacks:#<agent_id>`` channels; the PBX replays recorded calls (``no_answer_then_abandon``: the caller gives
up while Boris's phone rings, three times over with fresh ids; then ``answered_caller_hangs_up``: the same
caller gets through to Boris).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from celery import Celery
from pymongo.asynchronous.database import AsyncDatabase

from callercard import phone
from callercard.calls import store as calls_store
from callercard.ports import RECORD_CALLS
from callercard.settings import Settings
from tests.integration.test_desk import bearer, missed_record
from tests.support.agents import AgentPage
from tests.support.pbx import actions, listening, recorded_calls, recorded_pbx
from tests.support.processes import Process, http_answers
from tests.support.scenarios import SCENARIOS

CALLER = SCENARIOS["no_answer_then_abandon"].caller  # +79161234567, as the PBX gives it
E164 = phone.normalize(CALLER).e164


@pytest.fixture
async def worklists(admin_api: httpx.AsyncClient, seeded: dict[str, str]) -> AsyncIterator[dict[str, AgentPage]]:
    """Each demo agent's page subscribed to their own worklist channel."""
    pages = {}
    for agent_id in ("anna", "boris", "vera"):
        token = (await admin_api.post(f"/api/v1/agents/{agent_id}/token")).json()
        assert token["callbacks_channel"] == f"callbacks:#{agent_id}"
        pages[agent_id] = AgentPage(agent_id=agent_id, token=token["token"], websocket_url=token["websocket_url"],
                                    channel=token["callbacks_channel"])
        await pages[agent_id].open()
    yield pages
    for page in pages.values():
        await page.close()


async def until(condition, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.2)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_number_missed_three_times_is_one_live_row_and_its_later_answered_call_closes_it(
        settings: Settings, service_env: dict[str, str], api_url: str, worker_process: Process,
        admin_api: httpx.AsyncClient, worklists: dict[str, AgentPage], seeded: dict[str, str]) -> None:
    missed_three_times = [("no_answer_then_abandon", clone) for clone in range(3)]
    async with recorded_calls(settings, missed_three_times, speed=4) as pbx, listening(service_env, "worklist"):
        await pbx.wait_finished(timeout=40)
        await until(lambda: _logged(admin_api, 3))
        # Each agent's page is its own subscription: Centrifugo delivers to them one after another.
        for agent in ("boris", "anna"):
            await worklists[agent].wait_for(3, timeout=15)
    records = sorted((await admin_api.get("/api/v1/calls", params={"number": CALLER})).json(),
                     key=lambda r: r["entered_at"], reverse=True)
    assert [r["outcome"] for r in records] == ["missed_abandoned_in_queue"] * 3
    async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "boris")) as boris:
        [row] = (await boris.get("/api/v1/callbacks")).json()
    assert row == {
        "number": E164, "display_number": "8 (916) 123-45-67", "name": seeded[E164],
        "accounts": [{"id": "C-1002", "holder": seeded[E164], "status": "active"}], "missed": 3,
        "first_missed_at": row["first_missed_at"], "last_missed_at": row["last_missed_at"],
        "longest_wait_seconds": max(r["wait_seconds"] for r in records), "queues": ["support"],
        "call_ids": [r["call_id"] for r in records], "do_not_call": None, "claim": None}
    assert (when(row["first_missed_at"]), when(row["last_missed_at"])) == (
        when(records[-1]["entered_at"]), when(records[0]["entered_at"]))
    # Live: the row grew on the pages of the agents who may see it (Boris was rung; 'support' is Anna's line too).
    for agent in ("boris", "anna"):
        assert [(e["number"], e["row"]["missed"]) for e in worklists[agent].received] == [(E164, 1), (E164, 2),
                                                                                         (E164, 3)]
    assert worklists["boris"].received[-1]["row"] == row
    assert worklists["vera"].received == [], "Vera's lines are sales and second: the row is not hers to see"

    async with recorded_calls(settings, [("answered_caller_hangs_up", 0)], speed=4) as pbx, \
            listening(service_env, "worklist-answered"):
        await pbx.wait_finished(timeout=20)
        for agent in ("boris", "anna"):
            await worklists[agent].wait_for(4, timeout=15)
    assert worklists["boris"].received[-1] == {"v": 1, "event": "row", "number": E164, "row": None}
    assert worklists["anna"].received[-1] == {"v": 1, "event": "row", "number": E164, "row": None}
    assert (await admin_api.get("/api/v1/callbacks")).json() == []
    answered = next(r for r in (await admin_api.get("/api/v1/calls", params={"number": CALLER})).json()
                    if r["outcome"] == "answered")
    for record in records:
        callback = (await admin_api.get(f"/api/v1/calls/{record['call_id']}")).json()["callback"]
        assert {k: callback[k] for k in ("needed", "done", "done_by", "via", "answered_call")} == {
            "needed": True, "done": True, "done_by": "answered_call", "via": "answered_call",
            "answered_call": answered["call_id"]}


async def test_one_batch_of_records_sends_each_agent_the_rows_of_every_number_it_holds(
        worker_process: Process, celery_app: Celery, admin_api: httpx.AsyncClient, worklists: dict[str, AgentPage],
        seeded: dict[str, str]) -> None:
    """The worker publishes a batch's rows in one request: each agent still gets each number's row as they see it,
    and a number whose missed call the batch's answered call closes is removed from their list."""
    support, sales, closed = "84951110001", "84951110002", "84951110003"
    earlier = missed_record("batch.0", closed, agents=["anna"], queues=["support"])
    result = celery_app.send_task(RECORD_CALLS, args=[[earlier]])
    await asyncio.to_thread(result.get, timeout=20)
    for agent in ("anna", "boris"):
        await worklists[agent].wait_for(1, timeout=15)
    answered = {**missed_record("batch.3", closed, agents=["anna"], queues=["support"]), "outcome": "answered",
                "answered_by": ["anna"], "callback": {"needed": False, "done": False}}
    batch = [missed_record("batch.1", support, agents=["boris"], queues=["support"]),
             missed_record("batch.2", sales, agents=[], queues=["sales"]), answered]
    result = celery_app.send_task(RECORD_CALLS, args=[batch])
    assert await asyncio.to_thread(result.get, timeout=20) == ["batch.1", "batch.2", "batch.3"]
    await worklists["anna"].wait_for(3, timeout=15)
    await worklists["boris"].wait_for(3, timeout=15)
    await worklists["vera"].wait_for(1, timeout=15)

    def seen(agent: str) -> list[tuple[str, list[str] | None]]:
        return [(e["number"], e["row"] and e["row"]["call_ids"]) for e in worklists[agent].received]

    e164 = {n: phone.normalize(n).e164 for n in (support, sales, closed)}
    for agent in ("anna", "boris"):
        assert seen(agent) == [(e164[closed], ["batch.0"]), (e164[support], ["batch.1"]), (e164[closed], None)]
    assert seen("vera") == [(e164[sales], ["batch.2"])]
    assert {row["number"] for row in (await admin_api.get("/api/v1/callbacks")).json()} == {e164[support],
                                                                                            e164[sales]}


async def _logged(admin_api: httpx.AsyncClient, count: int) -> bool:
    return len((await admin_api.get("/api/v1/calls", params={"number": CALLER})).json()) >= count


async def test_two_agents_calling_one_number_back_at_once_one_wins_the_other_is_told_who(
        settings: Settings, api_url: str, api_process: Process, admin_api: httpx.AsyncClient, db: AsyncDatabase,
        worklists: dict[str, AgentPage]) -> None:
    for call_id in ("race.1", "race.2"):
        await calls_store.save(db, missed_record(call_id, "84957654321", agents=["anna", "boris"],
                                                 queues=["support"]))
    async with recorded_pbx(settings, "click_to_dial") as pbx, \
            httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna, \
            httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "boris")) as boris:
        answers = await asyncio.gather(anna.post("/api/v1/callbacks/84957654321/call", json={}),
                                       boris.post("/api/v1/callbacks/84957654321/call", json={}))
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        won, lost = sorted(answers, key=lambda a: a.status_code)
        winner = won.json()["agent_id"]
        name = {"anna": "Anna Smirnova", "boris": "Boris Ivanov"}[winner]
        assert lost.json()["message"].startswith(f"{name} (agent:{winner}) is calling 8 (495) 765-43-21 back")
        assert lost.json()["details"]["claim"]["agent_id"] == winner
        [originate] = actions(pbx, "Originate")  # exactly one call placed
        assert originate["Channel"] == {"anna": "Local/201@agents", "boris": "Local/202@agents"}[winner]
    for call_id in ("race.1", "race.2"):
        callback = (await admin_api.get(f"/api/v1/calls/{call_id}")).json()["callback"]
        assert (callback["done"], callback["done_by"], callback["attempt"]) == (True, f"agent:{winner}",
                                                                              won.json()["reference"])
    assert (await admin_api.get("/api/v1/callbacks")).json() == []


async def test_a_claim_keeps_others_off_until_it_is_released_or_lapses_and_a_refusal_releases_it(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process,
        admin_api: httpx.AsyncClient, db: AsyncDatabase, worklists: dict[str, AgentPage]) -> None:
    await calls_store.save(db, missed_record("claim.1", "84957654321", agents=["boris"], queues=["support"]))
    async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna, \
            httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "boris")) as boris:
        taken = await anna.post("/api/v1/callbacks/8 (495) 765-43-21/claim", json={})
        assert taken.status_code == 200, taken.text
        claim = taken.json()
        assert (claim["agent_id"], claim["agent_name"], claim["by"]) == ("anna", "Anna Smirnova", "agent:anna")
        assert (when(claim["until"]) - when(claim["at"])).total_seconds() == settings.callback_claim_seconds
        refused = await boris.post("/api/v1/callbacks/84957654321/call", json={})
        assert refused.status_code == 409 and "Anna Smirnova (agent:anna) is calling" in refused.json()["message"]
        [row] = (await boris.get("/api/v1/callbacks")).json()
        assert row["claim"] == claim, "Boris's list says who has it"
        assert worklists["boris"].received[-1]["row"]["claim"] == claim, "and so does his page, live"
        assert (await boris.delete("/api/v1/callbacks/84957654321/claim")).status_code == 404, "not his to release"
        assert (await anna.delete("/api/v1/callbacks/84957654321/claim")).status_code == 204
        assert (await boris.get("/api/v1/callbacks")).json()[0]["claim"] is None

        # The PBX is not there: the call fails, and the claim it took is released for the next agent.
        failed = await boris.post("/api/v1/callbacks/84957654321/call", json={})
        assert failed.status_code == 503, failed.text
        assert (await anna.get("/api/v1/callbacks")).json()[0]["claim"] is None
        assert (await anna.post("/api/v1/callbacks/84957654321/claim", json={})).status_code == 200

    # A claim lapses on its own: an API whose claims last 2 s.
    env = {**service_env, "CALLERCARD_CALLBACK_CLAIM_SECONDS": "2", "CALLERCARD_API_PORT": str(settings.api_port + 5)}
    short_url = f"http://127.0.0.1:{settings.api_port + 5}"
    lapsing = Process("api-claims-lapse", ["api"], env).start()
    try:
        await asyncio.to_thread(lapsing.wait_until, http_answers(f"{short_url}/ping"))
        async with httpx.AsyncClient(base_url=short_url, headers=await bearer(admin_api, "boris")) as boris:
            assert (await boris.post("/api/v1/callbacks/84957654321/claim", json={})).status_code == 409
            await db["callback_claims"].delete_many({})
            assert (await boris.post("/api/v1/callbacks/84957654321/claim", json={})).status_code == 200
        async with httpx.AsyncClient(base_url=short_url, headers=await bearer(admin_api, "anna")) as anna:
            assert (await anna.post("/api/v1/callbacks/84957654321/claim", json={})).status_code == 409
            await asyncio.sleep(2.2)
            again = await anna.post("/api/v1/callbacks/84957654321/claim", json={})
            assert again.status_code == 200 and again.json()["agent_id"] == "anna", "Boris's claim lapsed"
    finally:
        lapsing.stop()


async def test_the_policy_leaves_short_waits_off_the_list_and_says_why(
        settings: Settings, service_env: dict[str, str], worker_process: Process, admin_api: httpx.AsyncClient,
        seeded: dict[str, str]) -> None:
    # Recorded timing: the greeting caller gave up after 1.5 s, the queued one after 7.5 s.
    policy = {**service_env, "CALLERCARD_CALLBACK_MIN_WAIT_SECONDS": "4"}
    async with recorded_calls(settings, [("abandon_during_greeting", 0), ("no_answer_then_abandon", 0)]) \
            as pbx, listening(policy, "worklist-policy"):
        await pbx.wait_finished(timeout=30)
        await until(lambda: _both_logged(admin_api))
    greeting = (await admin_api.get("/api/v1/calls", params={"number": "84991234567"})).json()[0]
    queued = (await admin_api.get("/api/v1/calls", params={"number": CALLER})).json()[0]
    assert greeting["wait_seconds"] < 4 <= queued["wait_seconds"]
    assert greeting["callback"] == {"needed": False, "done": False,
                                    "why_not": f"waited {greeting['wait_seconds']:g} s; a callback needs 4 s "
                                               "(callback policy)"}
    assert queued["callback"] == {"needed": True, "done": False}
    assert [row["number"] for row in (await admin_api.get("/api/v1/callbacks")).json()] == [E164]


async def _both_logged(admin_api: httpx.AsyncClient) -> bool:
    return len((await admin_api.get("/api/v1/calls")).json()) >= 2
