"""The API answers repeated lookups from its memory, and never a card whose number changed since.

Every change here is made by a different process than the API (the admin CLI, the worker) or
behind everyone's back in the store, so only the announcements on Redis can tell the API.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery
from pymongo.asynchronous.database import AsyncDatabase

from callercard.ports import RECORD_CALL
from callercard.redis_state import NUMBERS_CHANGED_CHANNEL
from callercard.settings import Settings
from tests.factories import account
from tests.integration.test_desk import missed_record
from tests.integration.test_lookup import put
from tests.support.processes import Process, run_cli

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

NUMBER = "+74951234567"


async def lookup(api: httpx.AsyncClient, number: str = NUMBER) -> dict:
    response = await api.get("/api/v1/lookup", params={"number": number})
    assert response.status_code == 200, response.text
    return response.json()


async def change_behind_the_apis_back(db: AsyncDatabase, account_id: str, holder: str) -> None:
    """What an announcement-less writer would do: the store changes, nobody is told."""
    await db["accounts"].update_one({"_id": account_id}, {"$set": {"holder": holder}})
    await db["card_cache"].delete_many({})


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(env, *args)
    assert result.returncode == 0, result.stderr
    return result


async def test_a_repeated_lookup_comes_from_memory_until_its_number_is_announced(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient, db: AsyncDatabase, settings: Settings) -> None:
    await put(admin_api, account("M-1", "Ivan Petrov", "84951234567"))
    assert (await lookup(pbx_api))["display_name"] == "Ivan Petrov"
    await change_behind_the_apis_back(db, "M-1", "Changed Silently")

    remembered = await lookup(pbx_api, "8 (495) 123-45-67")
    assert remembered["display_name"] == "Ivan Petrov", "the second lookup must not have read the store"
    assert remembered["number"] == "8 (495) 123-45-67", "the card says the number as this request gave it"

    with redis.Redis.from_url(settings.redis_url) as client:
        client.publish(NUMBERS_CHANGED_CHANNEL, json.dumps(["+74957654321"]))  # another number: no effect
        await asyncio.sleep(0.2)
        assert (await lookup(pbx_api))["display_name"] == "Ivan Petrov"
        client.publish(NUMBERS_CHANGED_CHANNEL, json.dumps([NUMBER]))

    async def renamed() -> bool:
        return (await lookup(pbx_api))["display_name"] == "Changed Silently"

    await eventually(renamed)


async def test_the_apis_own_writes_are_seen_by_the_very_next_lookup(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("M-2", "Ivan Petrov", "84951234567"))
    assert (await lookup(pbx_api))["display_name"] == "Ivan Petrov"
    await put(admin_api, account("M-2", "Ivan Sidorov", "84951234567"))
    assert (await lookup(pbx_api))["display_name"] == "Ivan Sidorov"
    assert (await admin_api.put(f"/api/v1/dnc/{NUMBER}", json={"reason": "asked_not_to_call"})).status_code == 201
    assert (await lookup(pbx_api))["do_not_call"]["reason"] == "asked_not_to_call"
    assert (await admin_api.delete(f"/api/v1/dnc/{NUMBER}")).status_code == 204
    assert (await lookup(pbx_api))["do_not_call"] is None
    assert (await admin_api.delete("/api/v1/customers/M-2")).status_code == 204
    assert (await lookup(pbx_api))["kind"] == "unknown"


async def test_changes_by_the_import_cli_reach_the_apis_memory(
        tmp_path: Path, service_env: dict[str, str], admin_api: httpx.AsyncClient,
        pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("M-3", "Ivan Petrov", "84951234567"))
    assert (await lookup(pbx_api))["display_name"] == "Ivan Petrov"
    assert (await lookup(pbx_api))["do_not_call"] is None

    customers = tmp_path / "customers.csv"
    customers.write_text("id,holder,status,contact_phone\nM-3,Ivan Renamed,active,84951234567\n")
    cli(service_env, "import", "customers", str(customers))
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("number,reason\n8 495 123 45 67,asked_not_to_call\n")
    cli(service_env, "import", "dnc", str(dnc))

    async def both_seen() -> bool:
        card = await lookup(pbx_api)
        return card["display_name"] == "Ivan Renamed" and card["do_not_call"] is not None

    await eventually(both_seen)


async def test_a_call_the_worker_logs_updates_the_remembered_call_history(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient, worker_process: Process,
        celery_app: Celery) -> None:
    await put(admin_api, account("M-4", "Ivan Petrov", "84951234567"))
    assert (await lookup(pbx_api))["recent_calls"] is None
    assert (await lookup(pbx_api))["recent_calls"] is None  # now remembered

    celery_app.send_task(RECORD_CALL, args=[missed_record("mem.1", "84951234567", agents=["anna"],
                                                          queues=["support"])])

    async def logged() -> bool:
        return ((await lookup(pbx_api))["recent_calls"] or {}).get("count") == 1

    await eventually(logged)  # well within the memory's 10 s expiry: only the announcement can do it
