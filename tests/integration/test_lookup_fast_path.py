"""The lookup fast path against the real API process: a remembered card answered for the PBX's key (the fast path)
is byte for byte what the route answers for a stored admin key (a credential the fast path leaves to the route),
with the same status and content type; errors stay the route's."""

from __future__ import annotations

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from callercard.keys import store as keys_store
from callercard.settings import Settings
from tests.factories import account
from tests.integration.test_lookup import put

FORMATS = ["+74951234567", "84951234567", "8 (495) 123-45-67", "74951234567"]


async def test_a_remembered_card_is_the_routes_answer_byte_for_byte(
        admin_api: httpx.AsyncClient, api_url: str, db: AsyncDatabase, settings: Settings) -> None:
    await put(admin_api, account("F-1", "Пётр Сидоров «ООО Ромашка»", "84951234567"))
    await put(admin_api, account("F-2", "Anna Petrova", "84951234567"))
    _, stored_admin = await keys_store.create(db, role="admin", name="fast path check")
    pbx_key = settings.pbx_api_key.get_secret_value()
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        for raw in FORMATS:
            answers = []
            for credential in ({"headers": {"Authorization": f"Bearer {pbx_key}"}},
                               {"params": {"api_key": pbx_key}},
                               {"headers": {"Authorization": f"Bearer {stored_admin}"}}):
                for _ in range(2):  # the first may read the store; the second comes from memory
                    response = await http.get("/api/v1/lookup", params={"number": raw, **credential.get("params", {})},
                                              headers=credential.get("headers"))
                answers.append((response.status_code, response.headers["content-type"], response.content))
            assert answers[0] == answers[1] == answers[2], raw
            status, _, body = answers[0]
            card = response.json()
            assert (status, card["number"], card["kind"], card["names"]) == (
                200, raw, "known", ["Пётр Сидоров «ООО Ромашка»", "Anna Petrova"]), body  # by account id


async def test_the_dialplans_name_lookup_is_the_routes_answer_byte_for_byte(
        admin_api: httpx.AsyncClient, api_url: str, db: AsyncDatabase, settings: Settings) -> None:
    """As asterisk/conf/extensions_callercard.conf asks: ascii=1, max_length=24, the key in the URL."""
    await put(admin_api, account("F-3", "Пётр Сидоров-Водкин Ромашкин", "84951234567"))
    _, stored_admin = await keys_store.create(db, role="admin", name="fast path check")
    query = {"number": "84951234567", "uniqueid": "1700000000.7", "ascii": "1", "max_length": "24"}
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        answers = []
        for credential in ({"params": {"api_key": settings.pbx_api_key.get_secret_value()}},
                           {"headers": {"Authorization": f"Bearer {stored_admin}"}}):
            for _ in range(2):
                response = await http.get("/api/v1/lookup/name", params={**query, **credential.get("params", {})},
                                          headers=credential.get("headers"))
            answers.append((response.status_code, response.headers["content-type"], response.content))
    assert answers[0] == answers[1] == (200, "text/plain; charset=utf-8", b"Petr Sidorov-Vodkin Roma")


async def test_errors_are_still_the_routes(api_url: str, settings: Settings) -> None:
    pbx_key, admin_key = settings.pbx_api_key.get_secret_value(), settings.admin_api_key.get_secret_value()
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        bad = await http.get("/api/v1/lookup", params={"number": "12ab"},
                             headers={"Authorization": f"Bearer {pbx_key}"})
        assert (bad.status_code, bad.json()["details"]["field"]) == (422, "number"), bad.text
        in_url = await http.get("/api/v1/lookup", params={"number": "+74951234567", "api_key": admin_key})
        assert in_url.status_code == 401, in_url.text
        wrong = await http.get("/api/v1/lookup", params={"number": "+74951234567"},
                               headers={"Authorization": "Bearer not-a-key"})
        assert wrong.status_code == 401, wrong.text
