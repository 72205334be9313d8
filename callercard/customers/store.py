"""MongoDB access for accounts and the phone index.

``phone_index`` documents are ``{_id: <E.164>, accounts: [<account id>...], rev: <int>}``.
``rev`` increases with every change that can alter the number's card, so a card
built from an older ``rev`` is known to be stale (see ``callercard.lookup.services``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from callercard.mongo import ACCOUNTS, CARD_CACHE, PHONE_INDEX


async def find_accounts(db: AsyncDatabase, account_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(account_ids)
    if not ids:
        return {}
    return {doc["_id"]: doc async for doc in db[ACCOUNTS].find({"_id": {"$in": ids}})}


async def save_accounts(db: AsyncDatabase, docs: list[dict[str, Any]]) -> None:
    if docs:
        await db[ACCOUNTS].bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs],
                                      ordered=False)


async def delete_accounts(db: AsyncDatabase, account_ids: list[str]) -> None:
    if account_ids:
        await db[ACCOUNTS].bulk_write([DeleteOne({"_id": i}) for i in account_ids], ordered=False)


async def reindex_numbers(db: AsyncDatabase, *, added: list[tuple[str, str]], removed: list[tuple[str, str]],
                          touched: Iterable[str]) -> None:
    """Link and unlink (number, account id) pairs, bump ``rev`` of every affected number, drop their cards."""
    ops: list[UpdateOne] = [
        UpdateOne({"_id": number}, {"$addToSet": {"accounts": account}, "$inc": {"rev": 1}}, upsert=True)
        for number, account in added
    ]
    ops += [UpdateOne({"_id": number}, {"$pull": {"accounts": account}, "$inc": {"rev": 1}})
            for number, account in removed]
    linked = {number for number, _ in added} | {number for number, _ in removed}
    others = set(touched) - linked
    ops += [UpdateOne({"_id": number}, {"$inc": {"rev": 1}}) for number in sorted(others)]
    if ops:
        await db[PHONE_INDEX].bulk_write(ops, ordered=True)
    affected = sorted(linked | others)
    if affected:
        await db[CARD_CACHE].delete_many({"_id": {"$in": affected}})


async def find_phone_entry(db: AsyncDatabase, number: str) -> dict[str, Any] | None:
    return await db[PHONE_INDEX].find_one({"_id": number})
