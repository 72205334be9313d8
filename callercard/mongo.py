"""MongoDB: the client, collection names and health. FerretDB in tests, MongoDB in production.

Only features FerretDB v1 supports are used: plain CRUD, ``_id`` lookups on the
hot path (FerretDB's SQLite backend only uses the ``_id`` index), no transactions.
"""

from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from callercard.health import Health
from callercard.settings import Settings

ACCOUNTS = "accounts"
PHONE_INDEX = "phone_index"
CARD_CACHE = "card_cache"
CALLS = "calls"
NUMBER_CALLS = "number_calls"
AGENTS = "agents"
DNC = "dnc"
DNC_HISTORY = "dnc_history"
API_KEYS = "api_keys"


def connect(settings: Settings) -> AsyncMongoClient:
    """A client whose every operation gives up after ``mongo_timeout_ms``, so no caller hangs."""
    timeout = settings.mongo_timeout_ms
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=timeout,
        timeoutMS=timeout,
        appname="callercard",
        tz_aware=True,
    )


def database(client: AsyncMongoClient, settings: Settings) -> AsyncDatabase:
    return client[settings.mongo_database]


async def health(db: AsyncDatabase) -> Health:
    try:
        await db.command("ping")
    except PyMongoError as error:
        return Health("mongo", False, f"{type(error).__name__}: {error}"[:300])
    return Health("mongo", True)
