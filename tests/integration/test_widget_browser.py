"""The widget in real headless Chromium (Debian's package, driven by Playwright), on the demo helpdesk page.

Real listener, worker, API, Redis, FerretDB and Centrifugo; the PBX is a recorded Asterisk session replayed
slower than recorded, so a browser has time to show each state. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re

import httpx
from playwright.async_api import expect
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.calls import store as calls_store
from callercard.settings import Settings
from tests.integration.test_desk import missed_record, recorded_actions, without_action_id
from tests.support.captures import capture_path
from tests.support.faults import TcpProxy
from tests.support.pbx import actions, listening, recorded_answer, recorded_pbx
from tests.support.processes import Process


async def test_ring_all_pops_up_for_three_agents_and_the_answering_agent_keeps_the_bar(
        settings: Settings, service_env: dict[str, str], worker_process: Process, desks,
        seeded: dict[str, str]) -> None:
    anna, boris, vera = [await desks(agent) for agent in ("anna", "boris", "vera")]
    caller = seeded["+74959876543"]
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.25), listening(service_env, "browser-ringall"):
        for desk in (anna, boris, vera):
            await expect(desk.popups).to_have_count(1, timeout=20_000)
            await expect(desk.popups.locator(".caller-name")).to_have_text(caller)
        for desk in (anna, boris, vera):
            await desk.screenshot("1-ringing")
        assert await anna.accessibility_problems() == []
        await expect(vera.bottom).to_be_visible(timeout=10_000)
        await expect(vera.bottom.locator(".caller-name")).to_have_text(caller)
        for desk in (anna, boris):
            await expect(desk.popups).to_have_count(0, timeout=3_000)
            await expect(desk.bottom).to_be_hidden()
        for desk in (anna, boris, vera):
            await desk.screenshot("2-vera-answered")
        await expect(vera.bottom).to_be_hidden(timeout=20_000)
        await vera.screenshot("3-ended")
        for desk in (anna, boris, vera):
            await expect(desk.popups).to_have_count(0)


async def test_a_popup_that_rang_before_the_card_was_found_is_filled_in_when_it_is(
        settings: Settings, service_env: dict[str, str], desks, seeded: dict[str, str]) -> None:
    anna = await desks("anna")
    proxy = await TcpProxy.for_url(settings.mongo_url).start()  # the listener's store, held during the ring
    slow_store = {**service_env, "CALLERCARD_MONGO_URL": proxy.url(settings.mongo_url),
                  "CALLERCARD_MONGO_TIMEOUT_MS": "30000"}
    simulator = AmiSimulator(load_capture(capture_path("ringall_one_answers.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=0.25, port=settings.ami_port,
                             shared_timeline=True)
    await simulator.start()
    try:
        async with listening(slow_store, "browser-late-card"):
            await simulator.wait_logins(1, timeout=30)
            proxy.hold()
            simulator.start_timeline()
            await expect(anna.popups.locator(".caller-name")).to_have_text("Looking up the caller…", timeout=30_000)
            await anna.screenshot("1-ringing-card-pending")
            proxy.release()
            await expect(anna.popups.locator(".caller-name")).to_have_text(seeded["+74959876543"], timeout=3_000)
            await anna.screenshot("2-card-found-while-ringing")
            await expect(anna.popups).to_have_count(0, timeout=20_000)  # Vera answered
    finally:
        await simulator.stop()
        await proxy.stop()


async def test_the_red_button_hangs_up_this_agents_ringing_leg_once_and_closes_the_popup(
        settings: Settings, service_env: dict[str, str], worker_process: Process, desks) -> None:
    boris = await desks("boris")
    async with recorded_pbx(settings, "decline_then_next_agent", speed=0.25) as pbx, \
            listening(service_env, "browser-decline"):
        await expect(boris.popups).to_have_count(1, timeout=20_000)
        await boris.screenshot("1-ringing")
        await boris.popups.get_by_role("button", name="Decline: stop ringing me").focus()
        await boris.page.keyboard.press("Enter")  # the red button works from the keyboard
        await expect(boris.popups).to_have_count(0, timeout=5_000)
        await expect(boris.notice).to_contain_text("Declined")
        await boris.screenshot("2-declined")
        await asyncio.sleep(1)  # a second click or a retry would show up here
    assert [without_action_id(a) for a in actions(pbx, "Hangup")] == recorded_actions(
        "decline_then_next_agent", "Hangup"), "exactly one Hangup, on Boris's ringing channel"


async def test_line_switching_sends_queue_actions_and_the_indicator_follows_the_members(
        settings: Settings, service_env: dict[str, str], desks) -> None:
    anna = await desks("anna")
    line_2 = anna.line_counts.filter(has_text="Line 2")
    await expect(line_2).to_have_text("Line 2: ?")
    not_dynamic = recorded_answer("member_pause_remove_add", "QueueRemove")
    async with recorded_pbx(settings, "member_login_logout", speed=0.25,
                            responses={"QueueRemove": not_dynamic}) as pbx:
        await anna.page.locator("#callercard-widget").get_by_role("button", name="Line 2", exact=True).click()
        await expect(anna.notice).to_contain_text("joined line 2 (second)")
        await expect(anna.notice).to_contain_text("Member not dynamic")
        assert [without_action_id(a) for a in actions(pbx, "QueueAdd")] == recorded_actions(
            "member_login_logout", "QueueAdd")[:1]
        async with listening(service_env, "browser-lines"):
            await expect(line_2).to_have_text("Line 2: 1/1", timeout=15_000)
            await expect(line_2).to_have_text("Line 2: 2/2", timeout=10_000)
            await expect(line_2).to_have_text("Line 2: 1/2", timeout=10_000)
            await anna.screenshot("1-boris-paused")
            boris = await desks("boris")  # a page opened now is right from its first load
            await expect(boris.line_counts.filter(has_text="Line 2")).to_have_text("Line 2: 1/2", timeout=2_000)
            await expect(line_2).to_have_text("Line 2: 0/1", timeout=10_000)
            await expect(line_2).to_have_text("Line 2: 0/0", timeout=10_000)
            await anna.screenshot("2-everyone-left")


async def test_call_back_rings_the_agents_phone_then_the_customer(
        settings: Settings, desks, db: AsyncDatabase) -> None:
    await calls_store.save(db, missed_record("cb.browser", "84957654321", agents=["boris"], queues=["support"]))
    await calls_store.save(db, missed_record("cb.second", "84991234567", agents=["boris"], queues=["support"]))
    await calls_store.save(db, missed_record("cb.withheld", "anonymous", agents=["boris"], queues=["support"]))
    boris = await desks("boris")
    missed = boris.page.locator("#callercard-widget .missed")
    await expect(missed.locator("h2")).to_have_text("Missed calls (2)")  # a withheld caller cannot be called back
    await boris.screenshot("1-missed")
    async with recorded_pbx(settings, "click_to_dial") as pbx:
        await missed.get_by_role("button", name="Call back 8 (495) 765-43-21").click()
        await expect(boris.notice).to_contain_text("Calling you first, then 8 (495) 765-43-21")
        await expect(missed.locator("h2")).to_have_text("Missed calls (1)")
    [originate] = actions(pbx, "Originate")
    assert (originate["Channel"], originate["Exten"], originate["Async"]) == ("Local/202@agents", "84957654321",
                                                                            "true")
    await missed.get_by_role("button", name="Mark all done").click()
    await expect(missed.locator("h2")).to_have_text("Missed calls (0)")


async def test_a_reload_during_an_answered_call_restores_the_bar_and_the_agent_can_flag_do_not_call(
        settings: Settings, service_env: dict[str, str], worker_process: Process, desks,
        admin_api: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    vera = await desks("vera")
    caller = seeded["+74959876543"]
    async with recorded_pbx(settings, "ringall_one_answers", speed=0.25), listening(service_env, "browser-reload"):
        await expect(vera.bottom).to_be_visible(timeout=25_000)
        await vera.page.reload()
        await vera.ready()
        await expect(vera.bottom.locator(".caller-name")).to_have_text(caller, timeout=3_000)
        await vera.screenshot("1-after-reload")
        assert await vera.accessibility_problems() == [], "the answered card, its form and the bar"
        card = vera.page.locator("#callercard-widget .card")
        await card.get_by_label("Why not call this number").select_option("asked_not_to_call")
        await card.get_by_role("button", name="Do not call").click()
        await expect(card.locator(".dnc")).to_contain_text(re.compile("Do not call: Asked not to be called"))
        await vera.screenshot("2-flagged")
        await expect(vera.bottom).to_be_hidden(timeout=20_000)
    entry = (await admin_api.get("/api/v1/dnc/+74959876543")).json()
    assert (entry["reason"], entry["flagged_by"]) == ("asked_not_to_call", "agent:vera")
