"""The callback worklist in the widget, in real Chromium: one row per number, live; two agents pressing
"Call back" at once; a claim shown to the others; a later answered call taking the row away.

Real listener, worker, API, Redis, FerretDB and Centrifugo; the PBX replays ``no_answer_then_abandon`` (the caller
gives up while Boris's phone rings) with fresh ids per missed call, then ``answered_caller_hangs_up``.
"""

from __future__ import annotations

import asyncio

import httpx
from playwright.async_api import expect

from callercard.settings import Settings
from tests.integration.test_desk import bearer
from tests.support.browser import Desk
from tests.support.pbx import actions, listening, recorded_calls, recorded_pbx
from tests.support.processes import Process

SHOWN = "8 (916) 123-45-67"  # the caller of no_answer_then_abandon and answered_caller_hangs_up, as agents read it


async def first_to_say(text: str, *desks: Desk, timeout: float = 10) -> tuple[Desk, Desk]:
    """(the desk whose notice says ``text``, the other one)."""
    async with asyncio.timeout(timeout):
        while True:
            for desk in desks:
                if text in await desk.notice.inner_text():
                    return desk, next(other for other in desks if other is not desk)
            await asyncio.sleep(0.1)


async def test_three_missed_calls_are_one_live_row_and_of_two_agents_pressing_call_back_one_wins(
        settings: Settings, service_env: dict[str, str], worker_process: Process, desks,
        seeded: dict[str, str]) -> None:
    anna, boris = await desks("anna"), await desks("boris")
    async with recorded_calls(settings, [("no_answer_then_abandon", clone) for clone in range(3)], speed=4), \
            listening(service_env, "browser-worklist"):
        for desk in (anna, boris):
            await expect(desk.missed.locator("li .row-count")).to_have_text("3 missed", timeout=40_000)
    for desk in (anna, boris):
        await expect(desk.missed.locator("h2")).to_have_text("Missed calls (1)")
        await expect(desk.missed.locator("li .who")).to_have_text(seeded["+79161234567"])
        await expect(desk.missed.locator("li .row-number")).to_have_text(SHOWN)
        await desk.screenshot("1-one-row-three-missed")
    assert await boris.accessibility_problems() == []
    # The PBX takes a second to accept the Originate: the winner holds the claim meanwhile.
    async with recorded_pbx(settings, "click_to_dial", answer_delays={"Originate": 1.0}) as pbx:
        await asyncio.gather(*(desk.missed.get_by_role("button", name=f"Call back {SHOWN}").click()
                               for desk in (anna, boris)))
        winner, loser = await first_to_say("Calling you first", anna, boris)
        await expect(winner.notice).to_have_text(f"Calling you first, then {SHOWN}.")
        name = {"anna": "Anna Smirnova", "boris": "Boris Ivanov"}[winner.agent_id]
        await expect(loser.notice).to_contain_text(
            f"Call back: {name} (agent:{winner.agent_id}) is calling {SHOWN} back")
        await loser.screenshot("2-told-who-calls-back")
        assert len(actions(pbx, "Originate")) == 1
    for desk in (anna, boris):
        await expect(desk.missed.locator("h2")).to_have_text("Missed calls (0)")


async def test_a_claim_shows_on_the_other_agents_row_and_a_later_answered_call_takes_the_row_away(
        settings: Settings, service_env: dict[str, str], api_url: str, worker_process: Process, desks,
        admin_api: httpx.AsyncClient) -> None:
    boris = await desks("boris")
    async with recorded_calls(settings, [("no_answer_then_abandon", clone) for clone in range(2)], speed=4), \
            listening(service_env, "browser-worklist-claim"):
        await expect(boris.missed.locator("li .row-count")).to_have_text("2 missed", timeout=40_000)
    async with httpx.AsyncClient(base_url=api_url, headers=await bearer(admin_api, "anna")) as anna:
        assert (await anna.post(f"/api/v1/callbacks/{SHOWN}/claim", json={})).status_code == 200
    await expect(boris.missed.locator("li .claimed")).to_have_text("Anna Smirnova is calling back")
    await expect(boris.missed.get_by_role("button", name=f"Call back {SHOWN}")).to_be_disabled()
    await boris.screenshot("1-anna-has-claimed-it")
    async with recorded_calls(settings, [("answered_caller_hangs_up", 0)], speed=4), \
            listening(service_env, "browser-worklist-answered"):
        await expect(boris.bottom).to_be_visible(timeout=20_000)  # Boris talks to the caller
        await expect(boris.missed.locator("h2")).to_have_text("Missed calls (0)", timeout=20_000)
    await boris.screenshot("2-the-caller-got-through")
