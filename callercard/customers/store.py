"""MongoDB access for accounts and the phone index.

``phone_index`` documents are ``{_id: <E.164>, accounts: [<account id>...], rev: <int>}``.
``rev`` increases with every change that can alter the number's card, so a card
built from an older ``rev`` is known to be stale (see ``callercard.lookup.services``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from callercard.mongo import ACCOUNT_WRITES, ACCOUNTS, CARD_CACHE, PHONE_INDEX, Database, find_by_ids

DUPLICATE_KEY = 11000


async def begin_write(db: Database) -> str:
    """Register a write of accounts as unfinished (``account_writes``); returns its id, for ``finish_write``.

    The collection holds only writes in progress and those a crash interrupted: small, so reading it is cheap.
    """
    write_id = uuid.uuid4().hex
    await db[ACCOUNT_WRITES].insert_one({"_id": write_id, "at": datetime.now(UTC)})
    return write_id


async def finish_write(db: Database, write_id: str) -> None:
    await db[ACCOUNT_WRITES].delete_one({"_id": write_id})


async def unfinished_writes(db: Database, write_ids: Iterable[str]) -> set[str]:
    return set(await find_by_ids(db[ACCOUNT_WRITES], write_ids, projection={"_id": 1}))


async def mark_accounts(db: Database, writes: dict[str, dict[str, Any]]) -> None:
    """Set each account's ``_write`` (account id -> marker) before its numbers are touched."""
    if writes:
        await db[ACCOUNTS].bulk_write([UpdateOne({"_id": account_id}, {"$set": {"_write": marker}})
                                       for account_id, marker in writes.items()], ordered=False)


async def find_accounts(db: Database, account_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return await find_by_ids(db[ACCOUNTS], account_ids)


async def insert_accounts(db: Database, docs: list[dict[str, Any]]) -> set[str]:
    """Insert every document in one go; return the ids that already existed (nothing was written for them).

    Insert first, read back only what turned out to exist: an import is mostly new rows, and reading a
    batch's ids beforehand is an ``$in`` query that FerretDB v1 answers by scanning the whole collection,
    so each batch got slower as the collection grew.
    """
    return await _insert_new(db[ACCOUNTS], docs)


async def replace_accounts(db: Database, docs: list[dict[str, Any]]) -> None:
    if docs:
        await db[ACCOUNTS].bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=False)


async def _insert_new(collection: Any, docs: list[dict[str, Any]]) -> set[str]:
    """Insert; return the ids that already existed (someone else wrote them first)."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        duplicates = [e for e in error.details.get("writeErrors", []) if e.get("code") == DUPLICATE_KEY]
        if len(duplicates) != len(error.details.get("writeErrors", [])):
            raise
        return {docs[e["index"]]["_id"] for e in duplicates}
    return set()


async def delete_accounts(db: Database, account_ids: list[str]) -> None:
    if account_ids:
        await db[ACCOUNTS].bulk_write([DeleteOne({"_id": i}) for i in account_ids], ordered=False)


async def reindex_numbers(db: Database, *, added: list[tuple[str, str]], removed: list[tuple[str, str]],
                          touched: Iterable[str]) -> list[str]:
    """Link and unlink (number, account id) pairs, bump ``rev`` of every affected number, drop their cards.

    Returns the affected numbers: their cards changed.
    """
    linking: dict[str, list[str]] = {}
    for number, account in added:
        linking.setdefault(number, []).append(account)
    # Insert first (most numbers of an import are new); only the ones that existed are updated.
    fresh = [{"_id": number, "accounts": accounts, "rev": 1} for number, accounts in linking.items()]
    known = await _insert_new(db[PHONE_INDEX], fresh)
    ops: list[UpdateOne] = [
        UpdateOne({"_id": number}, {"$addToSet": {"accounts": {"$each": accounts}}, "$inc": {"rev": 1}}, upsert=True)
        for number, accounts in linking.items() if number in known
    ]
    ops += [UpdateOne({"_id": number}, {"$pull": {"accounts": account}, "$inc": {"rev": 1}})
            for number, account in removed]
    linked = set(linking) | {number for number, _ in removed}
    others = set(touched) - linked
    ops += [UpdateOne({"_id": number}, {"$inc": {"rev": 1}}) for number in sorted(others)]
    if ops:
        await db[PHONE_INDEX].bulk_write(ops, ordered=True)
    affected = sorted(linked | others)
    if affected:
        # A lookup before the account existed may have cached an "unknown" card for a new number too.
        # Writes cost far more than reads on FerretDB: delete only the cards that exist (usually few).
        cached = await find_by_ids(db[CARD_CACHE], affected, projection={"_id": 1})
        if cached:
            await db[CARD_CACHE].bulk_write([DeleteOne({"_id": number}) for number in cached], ordered=False)
    return affected


async def find_phone_entry(db: Database, number: str) -> dict[str, Any] | None:
    return await db[PHONE_INDEX].find_one({"_id": number})
