"""Fixtures every suite with real servers shares; each suite's conftest says which ``settings``, ``api_url`` and
``seeded`` directory they use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from callercard.settings import Settings
from tests.support.agents import AgentPage
from tests.support.scenarios import DEMO_AGENTS

pytest_plugins = ["tests.support.stores"]  # the store each test runs on: sqlite, and ferretdb2 for some


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        yield client[settings.mongo_database]
    finally:
        await client.close()


@pytest.fixture
async def admin_api(api_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
async def pages(admin_api: httpx.AsyncClient, seeded: object) -> AsyncIterator[dict[str, AgentPage]]:
    """Each demo agent's helpdesk page, subscribed to the agent's channel on a token from the API."""
    opened = {agent_id: await AgentPage.open_with_token_from_api(admin_api, agent_id) for agent_id in DEMO_AGENTS}
    yield opened
    for page in opened.values():
        await page.close()
