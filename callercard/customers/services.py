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

WRITE = "_write"  # on each account: the write that last wrote it, and what that write unlinks
_UNSTORED_KEYS = ("_id", "updated_at", WRITE)


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


def _document(account: Account, now: datetime, write: str) -> dict[str, Any]:
    doc = account.model_dump(mode="json", exclude={"id"})
    return {"_id": account.id, **doc, "updated_at": now, WRITE: {"id": write, "unlink": []}}


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in _UNSTORED_KEYS}


def _numbers(doc: dict[str, Any] | None) -> set[str]:
    return {p["e164"] for p in doc["phones"]} if doc else set()


def _left_to_unlink(doc: dict[str, Any] | None, unfinished: set[str]) -> set[str]:
    """Numbers an unfinished earlier write of ``doc`` meant to unlink (none when that write finished)."""
    write = (doc or {}).get(WRITE) or {}
    return set(write.get("unlink", [])) if write.get("id") in unfinished else set()


async def upsert_accounts(db: Database, *, accounts: Sequence[Account],
                          now: datetime | None = None) -> Upserted:
    """Create or replace accounts by id; rewriting an identical account changes nothing (idempotent).

    Crash-safe without transactions: the write is registered as unfinished first, every account it writes
    names it (``_write``, with the numbers it unlinks), and it is marked finished only once the phone index
    and the card cache agree. An account whose last write never finished (the process died in between) is
    written again by the next write of it, identical or not, and its numbers re-indexed: ``REPAIRED``.
    """
    if not accounts:
        return Upserted([], [])
    stamp = now or datetime.now(UTC)
    write = await store.begin_write(db)
    # The last occurrence of an id in one batch wins, as it would row by row.
    docs = {account.id: _document(account, stamp, write) for account in accounts}
    existed = await store.insert_accounts(db, list(docs.values()))
    existing = await store.find_accounts(db, existed)
    unfinished = await store.unfinished_writes(db, [old[WRITE]["id"] for old in existing.values() if WRITE in old])
    changed: list[dict[str, Any]] = []
    added: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    renamed: set[str] = set()
    outcome: dict[str, UpsertResult] = {}
    for account_id, doc in docs.items():
        new_numbers = _numbers(doc)
        if account_id not in existed:
            outcome[account_id] = UpsertResult.CREATED
            added += [(n, account_id) for n in sorted(new_numbers)]
            continue
        old = existing.get(account_id)  # None: deleted since the insert found it
        half_done = _left_to_unlink(old, unfinished) if old is not None else set()
        interrupted = old is not None and old.get(WRITE, {}).get("id") in unfinished
        same = old is not None and _comparable(old) == _comparable(doc)
        if same and not interrupted:
            outcome[account_id] = UpsertResult.UNCHANGED
            continue
        outcome[account_id] = (UpsertResult.REPAIRED if same else UpsertResult.UPDATED) if old else \
            UpsertResult.CREATED
        unlink = (_numbers(old) | half_done) - new_numbers
        doc[WRITE]["unlink"] = sorted(unlink)  # what a rerun must still unlink if this write does not finish
        changed.append(doc)
        # After an interrupted write the index may lack any of the numbers: link them all (idempotent).
        linked_before = set() if interrupted else _numbers(old)
        added += [(n, account_id) for n in sorted(new_numbers - linked_before)]
        removed += [(n, account_id) for n in sorted(unlink)]
        renamed |= new_numbers & linked_before  # the card shows holder and status: rebuild it
    await store.replace_accounts(db, changed)
    changed_numbers = await store.reindex_numbers(db, added=added, removed=removed, touched=renamed)
    await store.finish_write(db, write)
    return Upserted([outcome[account.id] for account in accounts], changed_numbers)


async def delete_account(db: Database, *, account_id: str) -> list[str]:
    """Returns the numbers whose cards changed. Crash-safe like ``upsert_accounts``: the account is marked with
    the numbers to unlink, unlinked, and only then deleted, so a rerun of the delete (or a rewrite of the same
    account) finishes an interrupted one."""
    existing = await store.find_accounts(db, [account_id])
    if account_id not in existing:
        raise NotFound(f"account {account_id!r} does not exist", account_id=account_id)
    old = existing[account_id]
    write = await store.begin_write(db)
    unfinished = await store.unfinished_writes(db, [old[WRITE]["id"]] if WRITE in old else [])
    numbers = sorted(_numbers(old) | _left_to_unlink(old, unfinished))
    await store.mark_accounts(db, {account_id: {"id": write, "unlink": numbers}})
    changed_numbers = await store.reindex_numbers(db, added=[], removed=[(n, account_id) for n in numbers],
                                                  touched=[])
    await store.delete_accounts(db, [account_id])
    await store.finish_write(db, write)
    return changed_numbers


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
        repaired=results.count(UpsertResult.REPAIRED),
        rejected=rejected,
    )
