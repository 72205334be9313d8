"""The store's indexes cannot be created when the API starts: it serves lookups all the same, reports the
indexes in ``/status`` (without turning it 503) and creates them once it can."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.faults.conftest import wait_http
from tests.support.captures import capture_path
from tests.support.faults import TcpProxy, free_port, report
from tests.support.indexes import EXPECTED, NEEDED, indexes_in

NUMBER, HOLDER = "+7 495 987-65-43", "Elena Morozova"  # a demo customer


async def status(url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{url}/status")
    return response.status_code, response.json()


async def status_after_first_attempt(url: str, *, listener_in: bool = False) -> tuple[int, dict[str, Any]]:
    """``/status`` once the API has tried to create its indexes (and, ``listener_in``, the listener reported in)."""
    async with asyncio.timeout(30):
        while True:
            code, body = await status(url)
            listener_reported = body["dependencies"]["ami"]["ok"] or not listener_in
            if body["dependencies"]["indexes"]["detail"] != "being created" and listener_reported:
                return code, body
            await asyncio.sleep(0.2)


async def lookup(url: str, settings: Settings) -> tuple[float, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {settings.pbx_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        asked = time.perf_counter()
        response = await client.get("/api/v1/lookup", params={"number": NUMBER})
    assert response.status_code == 200, response.text
    return time.perf_counter() - asked, response.json()


async def test_an_index_the_store_refuses_is_reported_and_lookups_are_still_served(
        settings: Settings, db: AsyncDatabase, seeded: None, start) -> None:  # type: ignore[no-untyped-def]
    # An older definition under the name the product uses: the store refuses the product's, every other is made.
    for name in NEEDED:
        await db[name].drop_indexes()
    await db["calls"].create_index([("caller.number", 1)], name="calls_by_number")
    simulator = AmiSimulator(load_capture(capture_path("member_login_logout.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0)
    await simulator.start()
    try:
        start("listener", ami_port=simulator.port)
        port = free_port()
        api = start("api", api_port=port, ami_port=simulator.port)
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/status")
        code, body = await status_after_first_attempt(url, listener_in=True)
        seconds, card = await lookup(url, settings)
    finally:
        await simulator.stop()

    assert code == 200 and body["ok"] is True, "the indexes never make the API unhealthy"
    indexes = body["dependencies"]["indexes"]
    assert indexes["ok"] is False
    assert indexes["detail"].startswith("calls.calls_by_number (for calls/store.py::find by number): "), indexes
    assert "MongoDB indexes missing" in api.log_path.read_text() and "calls.calls_by_number" in api.tail(200)
    assert card["kind"] == "known" and card["display_name"] == HOLDER and card["degraded"] is False
    assert seconds < settings.lookup_budget_seconds + 0.2
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        found = indexes_in(client, settings.mongo_database)
    by_number = (("caller.e164", 1), ("entered_at", -1))
    assert found == {**EXPECTED, "calls": {k: v for k, v in EXPECTED["calls"].items() if k != by_number}
                     | {(("caller.number", 1),): False}}, "every other index was created"


async def test_a_store_unreachable_at_start_gets_its_indexes_once_it_is_back(
        settings: Settings, db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    await db.client.drop_database(db.name)
    proxy = await TcpProxy.for_url(settings.mongo_url).start()
    await proxy.cut()
    try:
        port = free_port()
        start("api", api_port=port, mongo_url=proxy.url(settings.mongo_url))
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/ping")  # /status takes the store's timeout to answer now
        code_down, body_down = await status_after_first_attempt(url)
        seconds_down, card_down = await lookup(url, settings)
        await proxy.restore()
        back = time.monotonic()
        async with asyncio.timeout(60):
            while not (await status(url))[1]["dependencies"]["indexes"]["ok"]:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        in_place_after = time.monotonic() - back
    finally:
        await proxy.stop()

    assert code_down == 503 and body_down["dependencies"]["mongo"]["ok"] is False
    assert body_down["dependencies"]["indexes"]["ok"] is False
    assert body_down["dependencies"]["indexes"]["detail"].startswith("store unreachable: ")
    assert card_down["degraded"] is True and seconds_down < settings.lookup_budget_seconds + 0.2
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        assert indexes_in(client, settings.mongo_database) == EXPECTED
    assert in_place_after < 15, f"the retry came {in_place_after:.1f} s after the store was back"
    report("indexes_after_store_returns", in_place_after_s=round(in_place_after, 1))
