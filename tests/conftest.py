"""Fixtures every suite with real servers shares; each suite's conftest says which ``settings`` they use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from callercard.settings import Settings


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        yield client[settings.mongo_database]
    finally:
        await client.close()
