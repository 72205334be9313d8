"""Writing customer accounts: normalize phones, keep the phone index and card cache in step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from callercard import phone
from callercard.customers import store
from callercard.customers.schemas import (
    Account,
    AccountWithId,
    BulkResult,
    Phone,
    UpsertResult,
)
from callercard.errors import NotFound
from callercard.mongo import Database

_UNSTORED_KEYS = ("_id", "updated_at")


class Upserted(NamedTuple):
    results: list[UpsertResult]  # one per account given, in order
    changed_numbers: list[str]  # whose cards now read differently: announce them


def to_account(incoming: AccountWithId, *, region: str, area_code: str | None) -> Account:
    """Normalize every phone; a phone that is no callable number is an ``InvalidInput`` naming it."""
    phones: list[Phone] = []
    seen: set[tuple[str, str]] = set()
    for index, given in enumerate(incoming.phones):
        e164 = phone.dialable(given.number, field=f"phones.{index}.number", region=region, area_code=area_code)
        if (e164, given.kind) not in seen:
            seen.add((e164, given.kind))
            phones.append(Phone(raw=given.number, e164=e164, kind=given.kind))
    return Account(phones=phones, **incoming.model_dump(exclude={"phones"}))


def _document(account: Account, now: datetime) -> dict[str, Any]:
    doc = account.model_dump(mode="json", exclude={"id"})
    return {"_id": account.id, **doc, "updated_at": now}


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in _UNSTORED_KEYS}


def _numbers(doc: dict[str, Any] | None) -> set[str]:
    return {p["e164"] for p in doc["phones"]} if doc else set()


async def upsert_accounts(db: Database, *, accounts: Sequence[Account],
                          now: datetime | None = None) -> Upserted:
    """Create or replace accounts by id; rewriting an identical account changes nothing (idempotent)."""
    stamp = now or datetime.now(UTC)
    # The last occurrence of an id in one batch wins, as it would row by row.
    docs = {account.id: _document(account, stamp) for account in accounts}
    existed = await store.insert_accounts(db, list(docs.values()))
    existing = await store.find_accounts(db, existed)
    changed: list[dict[str, Any]] = []
    added: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    renamed: set[str] = set()
    outcome: dict[str, UpsertResult] = {}
    for account_id, doc in docs.items():
        if account_id not in existed:
            outcome[account_id] = UpsertResult.CREATED
            added += [(n, account_id) for n in sorted(_numbers(doc))]
            continue
        old = existing.get(account_id)  # None: deleted since the insert found it
        if old is not None and _comparable(old) == _comparable(doc):
            outcome[account_id] = UpsertResult.UNCHANGED
            continue
        outcome[account_id] = UpsertResult.UPDATED if old else UpsertResult.CREATED
        changed.append(doc)
        new_numbers, old_numbers = _numbers(doc), _numbers(old)
        added += [(n, account_id) for n in sorted(new_numbers - old_numbers)]
        removed += [(n, account_id) for n in sorted(old_numbers - new_numbers)]
        renamed |= new_numbers & old_numbers  # the card shows holder and status: rebuild it
    await store.replace_accounts(db, changed)
    changed_numbers = await store.reindex_numbers(db, added=added, removed=removed, touched=renamed)
    return Upserted([outcome[account.id] for account in accounts], changed_numbers)


async def delete_account(db: Database, *, account_id: str) -> list[str]:
    """Returns the numbers whose cards changed."""
    existing = await store.find_accounts(db, [account_id])
    if account_id not in existing:
        raise NotFound(f"account {account_id!r} does not exist", account_id=account_id)
    await store.delete_accounts(db, [account_id])
    removed = [(number, account_id) for number in sorted(_numbers(existing[account_id]))]
    return await store.reindex_numbers(db, added=[], removed=removed, touched=[])


async def get_account(db: Database, *, account_id: str) -> Account:
    found = await store.find_accounts(db, [account_id])
    if account_id not in found:
        raise NotFound(f"account {account_id!r} does not exist", account_id=account_id)
    doc = found[account_id]
    return Account(id=doc["_id"], **_comparable(doc))


def tally(results: Sequence[UpsertResult], rejected: list[dict[str, str]]) -> BulkResult:
    return BulkResult(
        created=results.count(UpsertResult.CREATED),
        updated=results.count(UpsertResult.UPDATED),
        unchanged=results.count(UpsertResult.UNCHANGED),
        rejected=rejected,
    )
