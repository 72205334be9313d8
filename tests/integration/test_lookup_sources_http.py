"""The ``http`` lookup source against a CRM's HTTP API served for real, through a real API process.

The API here is configured as a deployment whose customers live in the CRM: sources ``accounts`` then ``crm``
(in order), the PBX's 300 ms budget, the CRM's own timeout 2 s, and a card cache life of a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from callercard.settings import Settings
from tests.factories import account
from tests.integration.test_lookup import put
from tests.support.crm import CrmServer
from tests.support.faults import free_port
from tests.support.processes import Process, http_answers, run_cli

CACHE_SECONDS = 3
NUMBER = "+74951234567"


@pytest.fixture(scope="module")
def crm_server() -> Iterator[CrmServer]:
    server = CrmServer().start()
    yield server
    server.stop()


@pytest.fixture
def crm(crm_server: CrmServer, settings: Settings) -> CrmServer:
    """The CRM, emptied; ``settings`` first, so the store is emptied too."""
    crm_server.reset()
    return crm_server


@pytest.fixture(scope="module")
def crm_api_url(service_env: dict[str, str], crm_server: CrmServer) -> Iterator[str]:
    port = free_port()
    env = {**service_env, "CALLERCARD_API_PORT": str(port),
           "CALLERCARD_LOOKUP_SOURCES": json.dumps([{"kind": "accounts"}, crm_server.source(timeout_ms=2000)]),
           "CALLERCARD_LOOKUP_CACHE_SECONDS": str(CACHE_SECONDS),
           "CALLERCARD_LOOKUP_CACHE_UNKNOWN_SECONDS": str(CACHE_SECONDS)}
    process = Process("api-crm", ["api"], env).start()
    process.wait_until(http_answers(f"http://127.0.0.1:{port}/status"))
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
async def pbx(crm_api_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {settings.pbx_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=crm_api_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
async def admin(crm_api_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=crm_api_url, headers=headers, timeout=10) as client:
        yield client


async def lookup(pbx: httpx.AsyncClient, number: str = NUMBER) -> tuple[dict, float]:
    started = time.perf_counter()
    response = await pbx.get("/api/v1/lookup", params={"number": number})
    assert response.status_code == 200, response.text
    return response.json(), time.perf_counter() - started


def crm_account(crm: CrmServer, contract: str) -> dict:
    record = crm.customers[contract]
    return {"id": contract, "holder": f"{record['first_name']} {record['last_name']}", "status": "active",
            "crm_url": record["link"]}


async def test_a_number_only_the_crm_has_gets_its_crm_accounts_and_the_built_in_ones_win_first(
        crm: CrmServer, pbx: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    # The CRM keeps numbers as people typed them; its search (by the last 10 digits) also finds a US number.
    crm.add("K-1", "Ivan", "Petrov", "8 (495) 123-45-67", "+7 916 000-00-01")
    crm.add("K-2", "Maria", "Petrova", "+7 495 123 45 67")
    crm.add("K-3", "John", "Smith", "+1 (495) 123-4567")
    card, _ = await lookup(pbx, "8 495 123-45-67")
    assert card["accounts"] == [crm_account(crm, "K-1"), crm_account(crm, "K-2")]
    assert (card["kind"], card["display_name"], card["e164"]) == ("known", "Ivan Petrov + Maria Petrova", NUMBER)
    assert (card["degraded"], card["degraded_sources"]) == (False, [])
    assert crm.requests == ["/api/phones/%2B74951234567"]

    # A number the built-in accounts have is answered from them: the CRM is not asked ("first" mode).
    await put(admin, account("A-1", "Olga Ivanova", "84957654321"))
    built_in, _ = await lookup(pbx, "84957654321")
    assert [a["id"] for a in built_in["accounts"]] == ["A-1"] and built_in["display_name"] == "Olga Ivanova"
    assert len(crm.requests) == 1

    # Cached: asking again reads neither source.
    again, _ = await lookup(pbx, "+7 (495) 123-45-67")
    assert again["accounts"] == card["accounts"] and again["number"] == "+7 (495) 123-45-67"
    assert len(crm.requests) == 1

    # A number the CRM does not have, answered with a 404 or with an empty list: unknown, and not degraded.
    for empty_not_404, number in ((False, "+7 495 000-00-01"), (True, "+7 495 000-00-02")):
        crm.empty_not_404 = empty_not_404
        nobody, _ = await lookup(pbx, number)
        assert (nobody["kind"], nobody["accounts"], nobody["degraded"]) == ("unknown", [], False)
    assert len(crm.requests) == 3


async def test_a_slow_crm_gives_a_degraded_card_within_budget_and_the_full_card_on_the_next_call(
        crm: CrmServer, pbx: httpx.AsyncClient, settings: Settings) -> None:
    crm.add("K-1", "Ivan", "Petrov", "8 (495) 123-45-67")
    crm.delays["4951234567"] = 1.0  # over the PBX's 300 ms budget, within the source's own 2 s
    card, took = await lookup(pbx)
    assert took < settings.lookup_budget_seconds + 0.15, f"answered in {took:.3f} s"
    assert (card["kind"], card["display_name"], card["accounts"]) == ("unknown", "Unknown caller", [])
    assert card["degraded"] is True
    assert card["degraded_sources"] == [{"source": "crm", "reason": "slow",
                                         "detail": "no answer within the lookup's budget yet"}]
    name = await pbx.get("/api/v1/lookup/name", params={"number": NUMBER})
    assert (name.text, name.headers["x-callercard-degraded"]) == ("", "1")

    async with asyncio.timeout(5):  # the question ran on after the answer: the CRM answers it once
        while not crm.answered:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # its card is written to the card cache right after
    full, took = await lookup(pbx)
    assert (full["kind"], full["accounts"], full["degraded"]) == ("known", [crm_account(crm, "K-1")], False)
    assert took < settings.lookup_budget_seconds
    assert crm.requests == ["/api/phones/%2B74951234567"], "both lookups were one question to the CRM"


async def test_a_crm_error_does_not_fail_the_lookup_and_shows_in_status(
        crm: CrmServer, pbx: httpx.AsyncClient, crm_api_url: str) -> None:
    crm.add("K-1", "Ivan", "Petrov", "8 (495) 123-45-67")
    crm.failures["4951234567"] = 500
    card, _ = await lookup(pbx)
    assert (card["kind"], card["accounts"], card["degraded"]) == ("unknown", [], True)
    assert card["degraded_sources"] == [{"source": "crm", "reason": "failed", "detail": "HTTP 500"}]
    async with httpx.AsyncClient(base_url=crm_api_url) as anyone:
        status = (await anyone.get("/status")).json()
    assert status["sources"]["crm"]["ok"] is False
    assert "failed (HTTP 500)" in status["sources"]["crm"]["detail"]
    assert status["sources"]["accounts"]["ok"] is True

    del crm.failures["4951234567"]  # the CRM is back: a failed answer was not cached, the next lookup asks again
    card, _ = await lookup(pbx)
    assert (card["accounts"], card["degraded"]) == ([crm_account(crm, "K-1")], False)
    assert len(crm.requests) == 2
    async with httpx.AsyncClient(base_url=crm_api_url) as anyone:
        assert (await anyone.get("/status")).json()["sources"]["crm"]["ok"] is True


def crm_key(service_env: dict[str, str]) -> str:
    created = run_cli(service_env, "keys", "create", "--role", "crm", "--name", "the CRM")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


async def test_changed_makes_the_next_lookup_see_the_crms_edit(
        crm: CrmServer, pbx: httpx.AsyncClient, crm_api_url: str, service_env: dict[str, str]) -> None:
    crm.add("K-1", "Ivan", "Petrov", "8 (495) 123-45-67")
    crm.add("K-2", "Olga", "Ivanova", "8 (495) 765-43-21")
    assert (await lookup(pbx))[0]["display_name"] == "Ivan Petrov"
    assert (await lookup(pbx, "84957654321"))[0]["display_name"] == "Olga Ivanova"
    crm.customers["K-1"]["last_name"] = "Sidorov"
    assert (await lookup(pbx))[0]["display_name"] == "Ivan Petrov", "cached: the CRM was not asked again"

    headers = {"Authorization": f"Bearer {crm_key(service_env)}"}
    async with httpx.AsyncClient(base_url=crm_api_url, headers=headers) as crm_client:
        refused = await pbx.post("/api/v1/numbers/8 (495) 123-45-67:changed")
        assert refused.status_code == 403
        bad = await crm_client.post("/api/v1/numbers/12ab:changed")
        assert bad.status_code == 422 and bad.json()["message"].startswith("number:")
        changed = await crm_client.post("/api/v1/numbers/8 (495) 123-45-67:changed")
        assert (changed.status_code, changed.json()) == (202, {"numbers": [NUMBER], "rebuilding": False})
        assert (await lookup(pbx))[0]["display_name"] == "Ivan Sidorov"

        # The list form, rebuilding at once: the cards are there before anyone looks the numbers up.
        crm.customers["K-1"]["last_name"] = "Ivanov"
        crm.customers["K-2"]["state"] = "Disconnected"
        asked = len(crm.requests)
        bad = await crm_client.post("/api/v1/numbers:changed", json={"numbers": [NUMBER, "x"]})
        assert bad.status_code == 422 and bad.json()["message"].startswith("numbers.1:")
        changed = await crm_client.post("/api/v1/numbers:changed",
                                        json={"numbers": ["84957654321", NUMBER, "+7 495 123-45-67"], "rebuild": True})
        assert changed.status_code == 202
        assert changed.json() == {"numbers": [NUMBER, "+74957654321"], "rebuilding": True}
        async with asyncio.timeout(5):
            while len(crm.answered) < asked + 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    ivan, olga = (await lookup(pbx))[0], (await lookup(pbx, "84957654321"))[0]
    assert (ivan["display_name"], olga["accounts"][0]["status"]) == ("Ivan Ivanov", "disconnected")
    assert len(crm.requests) == asked + 2, "the lookups read the rebuilt cards"


async def test_without_changed_the_crms_edit_shows_after_the_cache_life(
        crm: CrmServer, pbx: httpx.AsyncClient) -> None:
    crm.add("K-1", "Ivan", "Petrov", "8 (495) 123-45-67")
    assert (await lookup(pbx))[0]["display_name"] == "Ivan Petrov"
    cached_at = time.monotonic()
    crm.customers["K-1"]["last_name"] = "Sidorov"
    seen: list[tuple[float, str]] = []
    async with asyncio.timeout(CACHE_SECONDS + 3):
        while not seen or seen[-1][1] != "Ivan Sidorov":
            await asyncio.sleep(0.2)
            seen.append((time.monotonic() - cached_at, (await lookup(pbx))[0]["display_name"]))
    first_new = seen[-1][0]
    assert CACHE_SECONDS - 0.5 <= first_new <= CACHE_SECONDS + 1.0, seen
    assert all(name == "Ivan Petrov" for at, name in seen[:-1]), seen
