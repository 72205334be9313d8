"""An agent's credentials: the API token has its own audience, and disabling or removing the agent ends every
credential at once and the agent's live Centrifugo connection (real API, FerretDB and Centrifugo)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from centrifuge import ClientState
from pymongo.asynchronous.database import AsyncDatabase

from callercard.centrifugo import ACCESS_ENDED_CODE
from callercard.keys import store as keys_store
from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.processes import Process

INVALID_TOKEN = 3500  # Centrifugo's disconnect code for a token it does not accept
ANNA = {"name": "Anna Smirnova", "devices": ["PJSIP/201"], "lines": ["support"]}


async def status_with(api_url: str, credential: str, path: str = "/api/v1/agents/anna/screen") -> httpx.Response:
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {credential}"}) as client:
        return await client.get(path)


async def wait_disconnected(page: AgentPage, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not page.connection.disconnects:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_the_api_token_and_the_connection_token_each_work_only_where_they_belong(
        api_url: str, api_process: Process, admin_api: httpx.AsyncClient, settings: Settings) -> None:
    assert (await admin_api.put("/api/v1/agents/anna", json=ANNA)).status_code == 201
    tokens = (await admin_api.post("/api/v1/agents/anna/token")).json()
    assert (await status_with(api_url, tokens["api_token"])).status_code == 200
    refused = await status_with(api_url, tokens["token"])
    assert refused.status_code == 401
    assert refused.json()["message"].startswith("not an API token"), refused.json()
    page = AgentPage(agent_id="anna", token=tokens["token"], websocket_url=tokens["websocket_url"],
                     channel=tokens["channel"])
    await page.open()  # Centrifugo takes its own token ...
    await page.close()
    wrong = AgentPage(agent_id="anna", token=tokens["api_token"], websocket_url=tokens["websocket_url"],
                      channel=tokens["channel"])
    with pytest.raises(Exception):  # noqa: B017  (centrifuge-python raises its own connect errors)
        await asyncio.wait_for(wrong.open(timeout=2), 4)
    await wrong.close()
    assert wrong.connection.disconnects[0] == (INVALID_TOKEN, "invalid token"), "Centrifugo must refuse the API token"


@pytest.mark.parametrize("how", ["disabled", "removed"])
async def test_disabling_or_removing_an_agent_ends_every_credential_and_the_live_connection_at_once(
        how: str, api_url: str, api_process: Process, admin_api: httpx.AsyncClient, db: AsyncDatabase,
        settings: Settings) -> None:
    await admin_api.put("/api/v1/agents/anna", json=ANNA)
    await admin_api.put("/api/v1/agents/boris", json={"name": "Boris Ivanov", "devices": ["PJSIP/202"]})
    _, anna_key = await keys_store.create(db, role="agent", name="anna", agent_id="anna")
    tokens = (await admin_api.post("/api/v1/agents/anna/token")).json()
    page = await AgentPage.open_with_token_from_api(admin_api, "anna")
    boris = await AgentPage.open_with_token_from_api(admin_api, "boris")
    for credential in (tokens["api_token"], anna_key):
        assert (await status_with(api_url, credential)).status_code == 200

    if how == "disabled":
        response = await admin_api.put("/api/v1/agents/anna", json={**ANNA, "enabled": False})
        assert (response.status_code, response.json()["enabled"]) == (200, False)
    else:
        assert (await admin_api.delete("/api/v1/agents/anna")).status_code == 204

    for credential in (tokens["api_token"], anna_key):  # the next request, not the token's expiry
        response = await status_with(api_url, credential)
        assert response.status_code == 401, response.text
        assert response.json()["message"] == "agent 'anna' is disabled or no longer exists"
    await wait_disconnected(page)
    assert page.connection.disconnects[0][0] == ACCESS_ENDED_CODE, page.connection.disconnects
    await asyncio.sleep(1.5)  # centrifuge clients reconnect within ~0.1-1 s after a non-terminal code
    assert page.client.state == ClientState.DISCONNECTED
    assert boris.client.state == ClientState.CONNECTED and boris.connection.disconnects == [], "only anna's"
    fresh = await admin_api.post("/api/v1/agents/anna/token")
    assert fresh.status_code == (409 if how == "disabled" else 404), fresh.text
    await page.close()
    await boris.close()

    if how == "disabled":  # enabled again: a fresh token works; the old credentials too (they never expired)
        await admin_api.put("/api/v1/agents/anna", json=ANNA)
        assert (await status_with(api_url, anna_key)).status_code == 200
        assert (await admin_api.post("/api/v1/agents/anna/token")).status_code == 200
