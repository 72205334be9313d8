"""Caller lookup against FerretDB, through the real API process."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from callercard import phone
from callercard.settings import Settings
from crm.card_lookup import card_lookup
from tests.factories import account
from tests.support.captures import capture_path
from tests.support.processes import Process, run_cli

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

EQUIVALENT_FORMATS = ["8 (495) 123-45-67", "84951234567", "+7 495 1234567", "74951234567", "+74951234567"]


async def put(api: httpx.AsyncClient, body: dict) -> httpx.Response:
    account_id = body.pop("id")
    response = await api.put(f"/api/v1/customers/{account_id}", json=body)
    assert response.status_code in (200, 201), response.text
    return response


async def test_every_equivalent_format_returns_the_same_card(admin_api: httpx.AsyncClient,
                                                              pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("C-100", "Ivan Petrov", "8 (495) 123-45-67", crm_url="https://crm.example/C-100"))
    cards = [(await pbx_api.get("/api/v1/lookup", params={"number": raw})).json() for raw in EQUIVALENT_FORMATS]
    assert {card["e164"] for card in cards} == {"+74951234567"}
    assert [card["number"] for card in cards] == EQUIVALENT_FORMATS
    assert all(card["display_name"] == "Ivan Petrov" and card["kind"] == "known" for card in cards)
    assert cards[0]["accounts"] == [{"id": "C-100", "holder": "Ivan Petrov", "status": "active",
                                     "crm_url": "https://crm.example/C-100"}]
    assert cards[0]["v"] == 1 and cards[0]["do_not_call"] is None and cards[0]["degraded"] is False


async def test_a_shared_number_shows_every_account_and_name(admin_api: httpx.AsyncClient,
                                                             pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("F-1", "Alexey Smirnov", "89031112233"))
    await put(admin_api, account("F-2", "Alexandra Smirnova", "+7 903 111-22-33", kind="sms"))
    card = (await pbx_api.get("/api/v1/lookup", params={"number": "+79031112233"})).json()
    assert [a["id"] for a in card["accounts"]] == ["F-1", "F-2"]
    assert card["names"] == ["Alexey Smirnov", "Alexandra Smirnova"]
    assert card["display_name"] == "Alexey Smirnov + Alexandra Smirnova"


async def test_changing_a_phone_moves_the_account_to_the_new_numbers_card(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("C-7", "Olga Ivanova", "84957654321"))
    assert (await pbx_api.get("/api/v1/lookup", params={"number": "84957654321"})).json()["kind"] == "known"
    await put(admin_api, account("C-7", "Olga Ivanova", "84950000001"))
    old = (await pbx_api.get("/api/v1/lookup", params={"number": "84957654321"})).json()
    new = (await pbx_api.get("/api/v1/lookup", params={"number": "84950000001"})).json()
    assert (old["kind"], old["accounts"], old["display_name"]) == ("unknown", [], "Unknown caller")
    assert [a["id"] for a in new["accounts"]] == ["C-7"]


async def test_renaming_a_holder_rebuilds_the_cached_card(admin_api: httpx.AsyncClient,
                                                         pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("C-8", "Olga Ivanova", "84957654321"))
    await pbx_api.get("/api/v1/lookup", params={"number": "84957654321"})  # fills the cache
    await put(admin_api, account("C-8", "Olga Petrova", "84957654321", status="disconnected"))
    card = (await pbx_api.get("/api/v1/lookup", params={"number": "84957654321"})).json()
    assert (card["display_name"], card["accounts"][0]["status"]) == ("Olga Petrova", "disconnected")


async def test_deleting_an_account_removes_it_from_cards(admin_api: httpx.AsyncClient,
                                                        pbx_api: httpx.AsyncClient) -> None:
    await put(admin_api, account("C-9", "Pavel Orlov", "84951112233"))
    await pbx_api.get("/api/v1/lookup", params={"number": "84951112233"})
    assert (await admin_api.delete("/api/v1/customers/C-9")).status_code == 204
    assert (await pbx_api.get("/api/v1/lookup", params={"number": "84951112233"})).json()["kind"] == "unknown"
    assert (await admin_api.delete("/api/v1/customers/C-9")).status_code == 404


@pytest.mark.parametrize(("raw", "kind", "name"), [("anonymous", "withheld", "Number withheld"),
                                                    ("", "withheld", "Number withheld"),
                                                    ("201", "internal", "Internal call")])
async def test_withheld_and_internal_numbers_get_a_card_without_lookup(
        pbx_api: httpx.AsyncClient, raw: str, kind: str, name: str) -> None:
    card = (await pbx_api.get("/api/v1/lookup", params={"number": raw})).json()
    assert (card["kind"], card["display_name"], card["accounts"], card["e164"]) == (kind, name, [], None)


@pytest.mark.parametrize(("params", "field"), [({"number": "12ab34"}, "number"),
                                               ({"number": "9" * 200}, "number"),
                                               ({}, "number"),
                                               ({"number": "84951234567", "max_length": "0"}, "max_length")])
async def test_bad_input_is_a_422_naming_the_parameter(pbx_api: httpx.AsyncClient, params: dict, field: str) -> None:
    for path in ("/api/v1/lookup", "/api/v1/lookup/name"):
        if field == "max_length" and path == "/api/v1/lookup":
            continue
        response = await pbx_api.get(path, params=params)
        assert response.status_code == 422, response.text
        assert response.json()["message"].startswith(f"{field}:")


async def test_lookup_refuses_missing_and_wrong_credentials(api_url: str, settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=api_url) as anonymous:
        assert (await anonymous.get("/api/v1/lookup", params={"number": "84951234567"})).status_code == 401
        wrong = await anonymous.get("/api/v1/lookup", params={"number": "84951234567", "api_key": "x" * 20})
        assert wrong.status_code == 401
        pbx_key = settings.pbx_api_key.get_secret_value()
        customers = await anonymous.put("/api/v1/customers/X-1", json={"holder": "X"},
                                        headers={"Authorization": f"Bearer {pbx_key}"})
        assert customers.status_code == 403


async def test_the_recorded_asterisk_curl_request_gets_a_plain_text_name(
        admin_api: httpx.AsyncClient, api_url: str, settings: Settings) -> None:
    await put(admin_api, account("C-1", "Иван Петров", "84951234567"))
    recorded = json.loads(capture_path("dialplan_lookup.http.jsonl").read_text().splitlines()[0])
    method, target, _ = recorded["requestline"].split(" ")
    # Our dialplan snippet adds the PBX credential to the recorded URL, as Asterisk's CURL() cannot set headers.
    target += f"&api_key={settings.pbx_api_key.get_secret_value()}"
    headers = {k: v for k, v in recorded["headers"].items() if k != "Host"}
    async with httpx.AsyncClient(base_url=api_url) as asterisk:
        response = await asterisk.request(method, target, headers=headers)
        ascii_name = await asterisk.request(method, target + "&ascii=1&max_length=8", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Иван Петров"
    assert ascii_name.text == "Ivan Pet"


async def test_lookup_answers_within_budget_when_mongodb_is_unreachable(
        service_env: dict[str, str], settings: Settings, unused_tcp_port_factory) -> None:
    store_port, api_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    # A server that accepts connections and never answers: a stalled store, not merely a refused port.
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    blackhole = await asyncio.start_server(hold, "127.0.0.1", store_port)
    env = {**service_env, "CALLERCARD_MONGO_URL": f"mongodb://127.0.0.1:{store_port}/",
           "CALLERCARD_API_PORT": str(api_port), "CALLERCARD_MONGO_TIMEOUT_MS": "5000"}
    api = Process("api-blackhole", ["api"], env).start()
    url = f"http://127.0.0.1:{api_port}"
    try:
        api.wait_until(lambda: _answers(url))
        key = settings.pbx_api_key.get_secret_value()
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as pbx:
            for path in ("/api/v1/lookup", "/api/v1/lookup/name"):
                started = time.perf_counter()
                response = await pbx.get(path, params={"number": "84951234567"})
                elapsed = time.perf_counter() - started
                assert response.status_code == 200
                assert elapsed < settings.lookup_budget_seconds + 0.1, f"{path} took {elapsed:.3f} s"
            assert (await pbx.get("/api/v1/lookup", params={"number": "84951234567"})).json()["degraded"] is True
            assert response.headers["x-callercard-degraded"] == "1"
    finally:
        api.stop()
        for writer in held:
            writer.close()
        blackhole.close()


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/openapi.json", timeout=1)
    except httpx.HTTPError:
        return False
    return True


async def test_import_then_reimport_changes_nothing(tmp_path: Path, service_env: dict[str, str],
                                                    pbx_api: httpx.AsyncClient) -> None:
    rows = ["id,holder,status,contact_phone,sms_phone,tags,region",
            "A-1,Ivan Petrov,active,8 (495) 123-45-67,+79161234567,vip;b2b,Moscow",
            "A-2,,active,84957654321,,,",            # no holder: rejected
            "A-3,Olga Ivanova,disconnected,12ab,,,",  # bad phone: rejected
            "A-4,Anna Orlova,active,+7 903 111 22 33,,,Tver"]
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(rows) + "\n")

    first, second = (run_cli(service_env, "import", "customers", str(path)) for _ in range(2))
    assert first.returncode == 0, first.stderr
    assert "created 2, updated 0, unchanged 0, rejected 2" in first.stdout
    assert "line 3: holder:" in first.stdout and "line 4: phones.0.number:" in first.stdout
    assert "rows/s" in first.stderr and "ETA" in first.stderr
    assert "created 0, updated 0, unchanged 2, rejected 2" in second.stdout
    card = (await pbx_api.get("/api/v1/lookup", params={"number": "+79161234567"})).json()
    assert card["accounts"][0]["id"] == "A-1"


async def test_concurrent_lookups_of_a_cold_number_all_get_the_card(admin_api: httpx.AsyncClient, db,
                                                                    settings: Settings) -> None:
    # The worker's warm-up and the listener's prefetch (processes of their own) fill the same cache entry at once.
    await put(admin_api, account("C-50", "Ivan Petrov", "84951234567"))
    number = phone.normalize("84951234567")
    processes = [card_lookup(settings, db=db) for _ in range(4)]
    for _ in range(5):
        await db["card_cache"].delete_many({})
        cards = await asyncio.gather(*[lookup.resolve(number) for lookup in processes])
        assert [card.display_name for card in cards] == ["Ivan Petrov"] * 4
    for lookup in processes:
        await lookup.close()
