"""The supervisors' wallboard in real Chromium, driven by a replayed sequence of recorded calls: live from the
listener's queue events, right from a page's first load, with the counts Asterisk's own events give.

Real listener, API, Redis and Centrifugo; the PBX replays five recorded calls one after the other (a ring-all call
in ``sales`` Vera answers; in ``support`` two callers who give up and two who are answered). The expected numbers
are read from the recordings (``tests/support/wallboard.py``). The listener counts with a 3 s service level, so
one of the two answered ``support`` calls (held 1 s and 7 s) is within it.
"""

from __future__ import annotations

import json

import httpx
from playwright.async_api import Browser, Page, expect
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator
from callercard.keys import store as keys_store
from callercard.settings import Settings
from tests.support.browser import SCREENSHOTS, accessibility_problems, screenshot
from tests.support.faults import free_port
from tests.support.pbx import listening, recorded, recorded_calls
from tests.support.processes import Process, http_answers
from tests.support.wallboard import expected_agents, expected_today

CALLS = ["ringall_one_answers", "no_answer_then_abandon", "answered_caller_hangs_up", "abandon_while_ringing",
         "answered_agent_hangs_up"]
SERVICE_LEVEL = 3


def clock(seconds: float | None) -> str:
    return "–" if seconds is None else f"{round(seconds) // 60}:{round(seconds) % 60:02d}"


async def open_wallboard(browser: Browser, api_url: str, key: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 640})
    page = await context.new_page()
    await page.goto(f"{api_url}/wallboard#key={key}")
    await expect(page.locator("#live[data-live=true]")).to_have_count(1, timeout=15_000)
    return page


async def shows(page: Page, queue: str, today: dict, agents: dict, *, timeout: float = 5_000,
                pbx: str | None = None) -> None:
    card = page.locator(f'section.queue[data-queue="{queue}"]' + (f'[data-pbx="{pbx}"]' if pbx else ""))
    within = today["answered_within_service_level"]
    share = f" ({round(100 * within / today['answered'])}%)" if today["answered"] else ""
    await expect(card.locator("td.answered")).to_have_text(str(today["answered"]), timeout=timeout)
    await expect(card.locator("td.within")).to_have_text(f"{within}{share}")
    await expect(card.locator("td.abandoned")).to_have_text(str(today["abandoned"]))
    await expect(card.locator("td.average")).to_have_text(clock(today["average_wait_seconds"]))
    await expect(card.locator(".waiting .value")).to_have_text("0")
    for cls, count in (("free", agents["free"]), ("on-call", agents["on_call"]), ("paused", agents["paused"])):
        await expect(card.locator(f".agents .{cls} b")).to_have_text(str(count))


async def test_the_wallboard_shows_the_right_numbers_for_a_replayed_sequence_of_recorded_calls(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process, browser: Browser,
        db: AsyncDatabase, admin_api: httpx.AsyncClient, seeded: dict[str, str]) -> None:
    _, key = await keys_store.create(db, role="supervisor", name="Olga Supervisor")
    live = await open_wallboard(browser, api_url, key)
    await expect(live.locator("#wallboard")).to_contain_text("No queue has been seen yet.")
    support = live.locator('section.queue[data-queue="support"]')
    counting = {**service_env, "CALLERCARD_SERVICE_LEVEL_SECONDS": str(SERVICE_LEVEL)}
    async with recorded_calls(settings, [(name, 0) for name in CALLS]) as pbx, listening(counting, "wallboard"):
        await expect(support.locator(".waiting .value")).to_have_text("1", timeout=30_000)  # a caller in the queue
        await expect(support.locator(".longest .value")).not_to_have_text("0:00", timeout=5_000)  # and it ticks
        await screenshot(live, "wallboard-1-a-caller-waiting")
        await expect(support.locator(".agents .on-call b")).to_have_text("1", timeout=40_000)  # Anna's call
        await pbx.wait_finished(timeout=60)
        today, agents = expected_today(CALLS, service_level=SERVICE_LEVEL), expected_agents(CALLS)
        for queue in today:
            await shows(live, queue, today[queue], agents[queue])
        await screenshot(live, "wallboard-2-after-the-calls")
        assert await accessibility_problems(live, "body") == []
    first_load = await open_wallboard(browser, api_url, key)  # a screen opened now: right from its first load
    for queue in today:
        await shows(first_load, queue, today[queue], agents[queue], timeout=2_000)
    await screenshot(first_load, "wallboard-3-first-load")

    boards = (await admin_api.get("/api/v1/wallboard")).json()
    assert {b["queue"]: {k: b["today"][k] for k in today["support"]} for b in boards["queues"]} == today
    assert {b["queue"]: b["agents"] for b in boards["queues"]} == {
        queue: {**counts, "unavailable": counts["unavailable"]} for queue, counts in agents.items()}
    assert {(b["waiting"], b["longest_wait_seconds"], b["service_level_seconds"]) for b in boards["queues"]} == {
        (0, 0.0, SERVICE_LEVEL)}
    assert (SCREENSHOTS / "wallboard-2-after-the-calls.png").is_file()


async def test_the_wallboard_wants_a_supervisors_or_an_admins_key(
        settings: Settings, api_url: str, api_process: Process, browser: Browser, db: AsyncDatabase,
        admin_api: httpx.AsyncClient) -> None:
    # A real agent's key: a key of an agent missing from the directory is refused before its role is looked at.
    assert (await admin_api.put("/api/v1/agents/anna", json={"name": "Anna Smirnova",
                                                             "devices": ["PJSIP/201"]})).status_code == 201
    _, agent_key = await keys_store.create(db, role="agent", name="anna", agent_id="anna")
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{api_url}/wallboard")
    await expect(page.locator("#login")).to_be_visible()
    await page.get_by_label("A supervisor's (or admin's) API key").fill(agent_key)
    await page.get_by_role("button", name="Show the wallboard").click()
    await expect(page.locator("#login-error")).to_contain_text("this endpoint is for supervisor, admin")
    await page.get_by_label("A supervisor's (or admin's) API key").fill(settings.admin_api_key.get_secret_value())
    await page.get_by_role("button", name="Show the wallboard").click()
    await expect(page.locator("#live[data-live=true]")).to_have_count(1, timeout=15_000)
    await context.close()


BRANCH = "branch"
MAIN_CALLS, BRANCH_CALLS = ["no_answer_then_abandon"], ["answered_caller_hangs_up"]


async def test_two_pbxs_with_a_queue_of_the_same_name_show_as_two_tiles_each_with_its_own_counts(
        settings: Settings, service_env: dict[str, str], api_url: str, api_process: Process, browser: Browser,
        db: AsyncDatabase) -> None:
    """Both PBXs have a ``support`` queue: one tile each, named with its PBX (the page once kept one tile per queue
    name, so whichever PBX's board came last replaced the other's). The page is the session API's (Centrifugo
    allows its origin only); an API that knows both PBXs lists both boards from a first load."""
    _, key = await keys_store.create(db, role="supervisor", name="Olga Supervisor")
    counting = {**service_env, "CALLERCARD_SERVICE_LEVEL_SECONDS": str(SERVICE_LEVEL)}
    secret = settings.ami_secret.get_secret_value()
    branch_pbx = AmiSimulator(recorded(BRANCH_CALLS[0]), username=settings.ami_username, secret=secret)
    await branch_pbx.start()
    both_port = free_port()
    pbxs = json.dumps({BRANCH: {"host": "127.0.0.1", "port": branch_pbx.port, "username": settings.ami_username,
                                "secret": secret}})
    both = Process("api-two-pbxs", ["api"], {**service_env, "CALLERCARD_API_PORT": str(both_port),
                                             "CALLERCARD_PBXS": pbxs}).start()
    branch_env = {**counting, "CALLERCARD_PBX_ID": BRANCH, "CALLERCARD_AMI_PORT": str(branch_pbx.port),
                  "CALLERCARD_LISTENER_ID": "branch-a"}
    expected = {pbx: (expected_today(calls, service_level=SERVICE_LEVEL), expected_agents(calls))
                for pbx, calls in (("default", MAIN_CALLS), (BRANCH, BRANCH_CALLS))}
    assert expected["default"][0]["support"] != expected[BRANCH][0]["support"]  # else a mix-up would pass
    try:
        live = await open_wallboard(browser, api_url, key)
        async with recorded_calls(settings, [(name, 0) for name in MAIN_CALLS]) as main_pbx, \
                listening(counting, "wallboard-main"), listening(branch_env, "wallboard-branch"):
            await main_pbx.wait_finished(timeout=60)
            await branch_pbx.wait_finished(timeout=60)
            for pbx, (today, agents) in expected.items():
                await shows(live, "support", today["support"], agents["support"], timeout=30_000, pbx=pbx)
            await expect(live.locator('section.queue[data-queue="support"]')).to_have_count(2)
            await expect(live.locator('section.queue[data-queue="support"] h2')).to_have_text(
                ["support · branch", "support · default"])
            await screenshot(live, "wallboard-4-two-pbxs")
        both.wait_until(http_answers(f"http://127.0.0.1:{both_port}/status"))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{both_port}", timeout=10,
                                     headers={"Authorization": f"Bearer {key}"}) as supervisor:
            listed = (await supervisor.get("/api/v1/wallboard")).json()["queues"]
        assert {(b["pbx"], b["queue"]): {k: b["today"][k] for k in expected["default"][0]["support"]}
                for b in listed if b["queue"] == "support"} == \
            {(pbx, "support"): today["support"] for pbx, (today, _) in expected.items()}
    finally:
        both.stop()
        await branch_pbx.stop()
