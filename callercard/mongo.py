"""MongoDB: the client, collection names and health. FerretDB in tests, MongoDB in production.

Only features FerretDB v1 supports are used: plain CRUD, ``_id`` lookups on the
hot path (FerretDB's SQLite backend only uses the ``_id`` index), no transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
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

Document = dict[str, Any]
Database = AsyncDatabase[Document]  # what every store takes
MongoClient = AsyncMongoClient[Document]


def connect(settings: Settings) -> MongoClient:
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


def database(client: MongoClient, settings: Settings) -> Database:
    return client[settings.mongo_database]


SEPARATE_READS_UP_TO = 16


async def find_by_ids(collection: AsyncCollection[Document], ids: Iterable[str], *,
                      projection: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Documents by ``_id``.

    FerretDB v1 (SQLite) uses its index only for ``_id`` equality; ``{"_id": {"$in": [...]}}``
    scans the collection. A few ids (a lookup's accounts) are therefore read one by one, so the
    hot path never scans; a bulk batch (an import's 500 rows) is one ``$in`` query, which is
    still cheaper there than hundreds of separate reads.
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    if len(wanted) > SEPARATE_READS_UP_TO:
        return {doc["_id"]: doc async for doc in collection.find({"_id": {"$in": wanted}}, projection)}
    found = await asyncio.gather(*[collection.find_one({"_id": key}, projection) for key in wanted])
    return {doc["_id"]: doc for doc in found if doc is not None}


async def health(db: Database) -> Health:
    try:
        await db.command("ping")
    except PyMongoError as error:
        return Health("mongo", False, f"{type(error).__name__}: {error}"[:300])
    return Health("mongo", True)
