"""The pipeline's parts talk for real: FerretDB, Redis + a Celery worker, Centrifugo, the API."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from celery import Celery
from centrifuge import CentrifugeError
from pymongo.asynchronous.database import AsyncDatabase

from callercard import centrifugo
from callercard.customers.schemas import AccountWithId
from callercard.customers.services import to_account, upsert_accounts
from callercard.ports import LOOKUP_CALLER
from callercard.settings import Settings
from tests.factories import account
from tests.support.agents import AgentPage
from tests.support.processes import Process

PERMISSION_DENIED = 103  # Centrifugo's client protocol error code


async def test_a_document_round_trips_through_ferretdb(db: AsyncDatabase) -> None:
    doc = {"_id": "+74951234567", "accounts": ["A-1", "A-2"], "rev": 3, "name": "Иван Петров"}
    await db["roundtrip"].insert_one(doc)
    assert await db["roundtrip"].find_one({"_id": "+74951234567"}) == doc


async def test_a_celery_task_runs_on_a_real_worker_over_redis(
        settings: Settings, db: AsyncDatabase, worker_process: Process, celery_app: Celery) -> None:
    ivan = AccountWithId.model_validate(account("C-1", "Ivan Petrov", "84951234567"))
    await upsert_accounts(db, accounts=[to_account(ivan, region="RU", area_code=None)])
    result = celery_app.send_task(LOOKUP_CALLER, args=["8 (495) 123-45-67"], kwargs={"call_id": "t-1"})
    card = await asyncio.to_thread(result.get, timeout=20)
    assert card["kind"] == "known"
    assert card["display_name"] == "Ivan Petrov"
    assert (await db["card_cache"].find_one({"_id": "+74951234567"}))["card"]["names"] == ["Ivan Petrov"]


async def test_a_publication_reaches_the_agent_through_centrifugo(settings: Settings) -> None:
    agent_id = f"anna{uuid.uuid4().hex[:6]}"
    token = centrifugo.connection_token(settings=settings, agent_id=agent_id)
    page = AgentPage(agent_id=agent_id, token=token.token, websocket_url=token.websocket_url,
                     channel=token.channel)
    await page.open()
    client = centrifugo.connect(settings)
    try:
        await centrifugo.publish(client, channel=token.channel, data={"hello": agent_id})
        assert await page.wait_for(1) == [{"hello": agent_id}]
    finally:
        await client.close()
        await page.close()


async def test_an_agent_token_cannot_read_another_agents_channel(settings: Settings) -> None:
    anna = centrifugo.connection_token(settings=settings, agent_id="anna")
    page = AgentPage(agent_id="anna", token=anna.token, websocket_url=anna.websocket_url,
                     channel=centrifugo.agent_channel("boris"))
    with pytest.raises(CentrifugeError) as refused:
        await page.open()
    await page.close()
    assert refused.type.__name__ == "SubscriptionUnsubscribedError"
    assert [ctx.code for ctx in page.unsubscribed] == [PERMISSION_DENIED]


async def test_status_reports_each_dependency(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        body = (await client.get("/status")).json()
    for dependency in ("mongo", "broker", "centrifugo", "indexes"):
        assert body["dependencies"][dependency] == {"ok": True, "detail": body["dependencies"][dependency]["detail"]}
    assert set(body["dependencies"]) == {"mongo", "broker", "centrifugo", "ami", "indexes"}


async def test_an_expired_agent_token_is_refused_by_centrifugo(settings: Settings) -> None:
    long_ago = time.time() - settings.centrifugo_token_ttl_seconds - 60
    expired = centrifugo.connection_token(settings=settings, agent_id="anna", now=long_ago)
    page = AgentPage(agent_id="anna", token=expired.token, websocket_url=expired.websocket_url,
                     channel=expired.channel)
    with pytest.raises(CentrifugeError):
        await page.open(timeout=3)
    await page.close()
    assert any("109: token expired" in error for error in page.connection.errors), page.connection.errors
    assert (1, "unauthorized") in page.connection.disconnects
    assert page.received == []
