"""An account write that dies between the account and its phone index: a rerun of the same import (or delete)
finishes it, the index and the cached card included. The store is cut by a proxy at the exact command that would
touch the index, and the writing process is killed there, as a crash would (real CLI, API, FerretDB)."""

from __future__ import annotations

import asyncio
import struct
import sys
from pathlib import Path
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from callercard.settings import Settings
from tests.faults.conftest import wait_http
from tests.support.faults import TcpProxy, free_port, report
from tests.support.processes import ROOT, run_cli

OLD_NUMBER, OLD_E164 = "8 495 111-11-11", "+74951111111"
NEW_NUMBER, NEW_E164 = "8 495 222-22-22", "+74952222222"
OTHER_NUMBER, OTHER_E164 = "8 495 333-33-33", "+74953333333"
HEADER = "id,holder,status,contact_phone\n"


def command_on(collection: str, verb: str) -> bytes:
    """The BSON of ``{verb: collection, ...}``: how a command naming that collection starts on the wire."""
    name = collection.encode() + b"\x00"
    return b"\x02" + verb.encode() + b"\x00" + struct.pack("<i", len(name)) + name


async def killed_when_the_index_is_touched(env: dict[str, str], settings: Settings, path: Path) -> int:
    """Import ``path`` through a proxy that cuts the store as the first phone-index write leaves; then SIGKILL."""
    proxy = await TcpProxy.for_url(settings.mongo_url).start()
    proxy.cut_when_sent(command_on("phone_index", "insert"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callercard.cli", "import", "customers", str(path), cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin", "CALLERCARD_MONGO_URL": proxy.url(settings.mongo_url)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await asyncio.wait_for(proxy.was_cut.wait(), 30)
        process.kill()
        return await process.wait()
    finally:
        await proxy.stop()


async def index(db: AsyncDatabase, e164: str) -> list[str]:
    entry = await db["phone_index"].find_one({"_id": e164})
    return sorted(entry["accounts"]) if entry else []


async def card(api: httpx.AsyncClient, number: str) -> dict[str, Any]:
    response = await api.get("/api/v1/lookup", params={"number": number})
    assert response.status_code == 200, response.text
    body = response.json()
    return {key: body[key] for key in ("kind", "display_name", "accounts")}


def pbx(api_url: str, settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api_url, timeout=10,
                             headers={"Authorization": f"Bearer {settings.pbx_api_key.get_secret_value()}"})


async def test_a_rerun_of_the_same_import_repairs_what_a_crash_between_the_writes_left(
        settings: Settings, fault_env: dict[str, str], api_url: str, db: AsyncDatabase, tmp_path: Path) -> None:
    env = fault_env  # the session API's Redis: the import's announcements reach its memory of cards
    first, second = tmp_path / "v1.csv", tmp_path / "v2.csv"
    first.write_text(f"{HEADER}K-1,Ivan Petrov,active,{OLD_NUMBER}\nK-2,Olga Orlova,active,{OTHER_NUMBER}\n")
    second.write_text(f"{HEADER}K-1,Ivan Sidorov,active,{NEW_NUMBER}\nK-2,Olga Orlova,active,{OTHER_NUMBER}\n")
    assert run_cli(env, "import", "customers", str(first)).returncode == 0
    async with pbx(api_url, settings) as api:
        before = await card(api, OLD_NUMBER)  # the card is built and cached (store and API memory)
        assert before["display_name"] == "Ivan Petrov"
        assert await db["card_cache"].find_one({"_id": OLD_E164}) is not None

        assert await killed_when_the_index_is_touched(env, settings, second) == -9
        # Half written: the account has its new number and name, the index and the card still the old ones.
        account = await db["accounts"].find_one({"_id": "K-1"})
        assert account is not None and (account["holder"], [p["e164"] for p in account["phones"]]) == \
            ("Ivan Sidorov", [NEW_E164])
        assert (await index(db, OLD_E164), await index(db, NEW_E164)) == (["K-1"], [])

        rerun = run_cli(env, "import", "customers", str(second))
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stdout.startswith("created 0, updated 0, unchanged 1, repaired 1, rejected 0"), rerun.stdout
        assert (await index(db, OLD_E164), await index(db, NEW_E164), await index(db, OTHER_E164)) == \
            ([], ["K-1"], ["K-2"])
        cached = await db["card_cache"].find_one({"_id": OLD_E164})
        assert cached is None or cached["card"]["kind"] == "unknown"
        assert await card(api, OLD_NUMBER) == {"kind": "unknown", "display_name": "Unknown caller", "accounts": []}
        assert await card(api, NEW_NUMBER) == {
            "kind": "known", "display_name": "Ivan Sidorov",
            "accounts": [{"id": "K-1", "holder": "Ivan Sidorov", "status": "active", "crm_url": None}]}
        assert await db["account_writes"].count_documents({}) == 1, "only the killed run's write is unfinished"
    again = run_cli(env, "import", "customers", str(second))
    assert again.stdout.startswith("created 0, updated 0, unchanged 2, rejected 0"), again.stdout
    report("account_write_crash", repaired=1)


async def test_a_rerun_of_a_delete_that_died_midway_finishes_it(
        settings: Settings, env: dict[str, str], api_url: str, db: AsyncDatabase, admin_api: httpx.AsyncClient,
        start) -> None:  # type: ignore[no-untyped-def]
    body = {"holder": "Ivan Petrov", "phones": [{"number": OLD_NUMBER}, {"number": NEW_NUMBER}]}
    assert (await admin_api.put("/api/v1/customers/K-9", json=body)).status_code == 201
    async with pbx(api_url, settings) as api:
        assert (await card(api, NEW_NUMBER))["display_name"] == "Ivan Petrov"
    proxy = await TcpProxy.for_url(settings.mongo_url).start()
    proxy.cut_when_sent(command_on("phone_index", "update"))
    port = free_port()
    doomed = start("api", api_port=port, mongo_url=proxy.url(settings.mongo_url))
    try:
        await wait_http(f"http://127.0.0.1:{port}/health/live")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=admin_api.headers,
                                     timeout=15) as dying:
            deleting = asyncio.create_task(dying.delete("/api/v1/customers/K-9"))
            await asyncio.wait_for(proxy.was_cut.wait(), 30)
            doomed.kill()
            await asyncio.gather(deleting, return_exceptions=True)
    finally:
        await proxy.stop()
    assert (await index(db, OLD_E164), await index(db, NEW_E164)) == (["K-9"], ["K-9"]), "died before the index"
    rerun = await admin_api.delete("/api/v1/customers/K-9")
    assert rerun.status_code == 204, rerun.text
    assert (await index(db, OLD_E164), await index(db, NEW_E164)) == ([], [])
    assert await db["accounts"].find_one({"_id": "K-9"}) is None
    async with pbx(api_url, settings) as api:
        assert (await card(api, NEW_NUMBER))["kind"] == "unknown"
    assert (await admin_api.delete("/api/v1/customers/K-9")).status_code == 404
