"""Flagging numbers as do-not-call: any format in, one normalization, every change audited."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from datetime import UTC, datetime

from pymongo.errors import PyMongoError

from callercard.dnc import store
from callercard.dnc.schemas import DncChange, DncEntry, DncIn
from callercard.errors import NotFound
from callercard.mongo import Database

log = logging.getLogger(__name__)
CSV_COLUMNS = ["number", "reason", "note", "flagged_by", "flagged_at", "expires_at"]


def is_active(entry: DncEntry, now: datetime) -> bool:
    return entry.expires_at is None or entry.expires_at > now


async def flag(db: Database, *, e164: str, incoming: DncIn, by: str, now: datetime | None = None) -> DncChange:
    """Flag or edit; the change as audited (``action`` ``flag`` when the number was not flagged before: expired
    entries count as not flagged, ``edit`` otherwise)."""
    stamp = now or datetime.now(UTC)
    existing = await store.get(db, e164)
    created = existing is None or not is_active(existing, stamp)
    entry = DncEntry(number=e164, reason=incoming.reason, note=incoming.note, expires_at=incoming.expires_at,
                     flagged_by=by if created or existing is None else existing.flagged_by,
                     flagged_at=stamp if created or existing is None else existing.flagged_at)
    await store.put(db, entry)
    change = DncChange(number=e164, action="flag" if created else "edit", by=by, at=stamp, reason=incoming.reason,
                       note=incoming.note, expires_at=incoming.expires_at)
    await store.record(db, change)
    return change


async def unflag(db: Database, *, e164: str, by: str, now: datetime | None = None) -> DncChange:
    if not await store.remove(db, e164):
        raise NotFound(f"{e164} is not on the do-not-call list", number=e164)
    change = DncChange(number=e164, action="unflag", by=by, at=now or datetime.now(UTC))
    await store.record(db, change)
    return change


def changed_event(change: DncChange) -> tuple[dict[str, object], str]:
    """The ``dnc.changed`` webhook event's data and key (one event per audited change)."""
    return change.model_dump(mode="json"), f"{change.number}/{change.action}/{change.at.isoformat()}"


async def active_entry(db: Database, e164: str, now: datetime | None = None) -> DncEntry | None:
    return active_of(await store.get(db, e164), now or datetime.now(UTC))


def active_of(entry: DncEntry | None, now: datetime) -> DncEntry | None:
    """The entry if it is in force at ``now``."""
    return entry if entry is not None and is_active(entry, now) else None


async def check_within_budget(db: Database, *, e164: str, budget_seconds: float,
                              fail_closed: bool) -> tuple[bool, bool]:
    """(flagged, degraded). When the store does not answer in time the configured default is the answer."""
    try:
        entry = await asyncio.wait_for(active_entry(db, e164), timeout=budget_seconds)
    except (TimeoutError, PyMongoError) as error:
        log.warning("do-not-call check of %s: store unavailable (%s); answering %s", e164, type(error).__name__,
                    "flagged (fail-closed)" if fail_closed else "not flagged (fail-open)")
        return fail_closed, True
    return entry is not None, False


def card_field(entry: DncEntry | None) -> dict[str, object] | None:
    if entry is None:
        return None
    return {"flagged": True, "reason": entry.reason.value, "note": entry.note, "since": entry.flagged_at,
            "by": entry.flagged_by, "expires_at": entry.expires_at}


def export_csv(entries: list[DncEntry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        row = entry.model_dump(mode="json")
        writer.writerow({column: row.get(column) or "" for column in CSV_COLUMNS})
    return out.getvalue()
