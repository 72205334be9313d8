"""Real servers, started once per session by the project's own script; a clean database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import redis
from celery import Celery
from playwright.async_api import Browser, async_playwright
from pymongo import MongoClient

from callercard.lines.redis_status import LINES_KEY
from callercard.redis_state import EVERY_NUMBER, NUMBERS_CHANGED_CHANNEL
from callercard.settings import Settings
from callercard.wallboard.redis_boards import BOARDS_KEY, STATE_KEY
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Desk
from tests.support.directory import put_demo_directory
from tests.support.processes import ARTIFACTS, Process, http_answers, settings_kwargs
from tests.support.stores import create_product_indexes
from tests.support.webhooks import ReceiverCA, session_ca
from worker.app import create_celery

TEST_DATABASE = "callercard_test"


@pytest.fixture(scope="session")
def webhook_ca() -> ReceiverCA:
    """The CA of the tests' webhook receivers; every callercard process of the session trusts it."""
    return session_ca(ARTIFACTS)


@pytest.fixture(scope="session")
def service_env(store_services: dict[str, str]) -> dict[str, str]:
    webhook_ca = session_ca(ARTIFACTS)
    env = {**store_services, "CALLERCARD_MONGO_DATABASE": TEST_DATABASE,
           # Webhooks to the tests' HTTPS receivers, retried quickly: 0.5 s, 1 s, 2 s ...
           "CALLERCARD_WEBHOOK_CA_FILE": str(webhook_ca.pem), "CALLERCARD_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
           "CALLERCARD_WEBHOOK_TIMEOUT_SECONDS": "2"}
    # Tasks a previous session queued and never ran would run against this session's data.
    redis.Redis.from_url(env["CALLERCARD_REDIS_URL"]).flushdb()
    return env


@pytest.fixture(scope="session")
def base_settings(service_env: dict[str, str]) -> Settings:
    return Settings(**settings_kwargs(service_env))  # type: ignore[arg-type]


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """The session's settings, with the test database and the agents' screens and line status emptied first."""
    with MongoClient(base_settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(base_settings.mongo_database)
        create_product_indexes(client, base_settings.mongo_database)
    with redis.Redis.from_url(base_settings.redis_url) as client:
        # Card events' idempotency keys come from the PBX's ids, which a replayed capture repeats exactly: Centrifugo
        # would drop a replay's events as duplicates of the previous test's (a real PBX never repeats a Linkedid).
        stale = [LINES_KEY, *client.scan_iter(match="callercard:lines:*"),
                 *client.scan_iter(match="callercard:screen:*"),
                 *client.scan_iter(match=f"{BOARDS_KEY}*"), *client.scan_iter(match=f"{STATE_KEY}*"),
                 *client.scan_iter(match="callercard:webhooks:*"),
                 *client.scan_iter(match="centrifugo.result.*"), *client.scan_iter(match="callercard:pbx:*:calls"),
                 *client.scan_iter(match="callercard:feed:*")]  # the HTTP feed's calls: a replay reuses their ids
        client.delete(*stale)
        # The API process remembers cards it answered: the store was emptied behind its back.
        client.publish(NUMBERS_CHANGED_CHANNEL, EVERY_NUMBER)
    return base_settings


@pytest.fixture(scope="session")
def api_process(service_env: dict[str, str], base_settings: Settings) -> Iterator[Process]:
    process = Process("api", ["api"], {**service_env, "CALLERCARD_DEMO_ENABLED": "true"}).start()
    process.wait_until(http_answers(f"http://127.0.0.1:{base_settings.api_port}/status"))
    yield process
    process.stop()


@pytest.fixture(scope="session")
def api_url(api_process: Process, base_settings: Settings) -> str:
    return f"http://127.0.0.1:{base_settings.api_port}"


@pytest.fixture
async def pbx_api(api_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {settings.pbx_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def worker_process(service_env: dict[str, str]) -> Iterator[Process]:
    process = Process("worker", ["worker", "--concurrency", "1"], service_env).start()
    process.wait_until(lambda: "ready." in process.log_path.read_text(errors="replace"), timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def celery_app(base_settings: Settings) -> Celery:
    return create_celery(base_settings)


@pytest.fixture
async def seeded(admin_api: httpx.AsyncClient) -> dict[str, str]:
    """Demo agents and customers; returns E.164 → holder name."""
    rows, result = await put_demo_directory(admin_api)
    assert result["rejected"] == [] and result["created"] == len(rows)
    holders: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        account = (await admin_api.get(f"/api/v1/customers/{row['id']}")).json()
        for phone in account["phones"]:
            holders.setdefault(phone["e164"], []).append(account["holder"])
    return {e164: " + ".join(names) for e164, names in holders.items()}  # a shared phone shows every name


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def desks(browser: Browser, api_url: str, api_process: Process, request: pytest.FixtureRequest,
                seeded: dict[str, str]) -> AsyncIterator[Callable[[str], Awaitable[Desk]]]:
    """Opens an agent's helpdesk tab (the demo page with the widget), one browser context per agent."""
    opened: list[Desk] = []

    async def open_desk(agent_id: str) -> Desk:
        context = await browser.new_context(viewport={"width": 1100, "height": 720})
        page = await context.new_page()
        await page.goto(f"{api_url}/demo?agent={agent_id}")
        desk = Desk(page, agent_id, request.node.name)
        opened.append(desk)
        return await desk.ready()

    yield open_desk
    for desk in opened:
        await desk.page.context.close()
