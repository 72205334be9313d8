"""MongoDB access for names heard: ``heard_names`` (one document per E.164 number: read by ``_id`` on every
lookup) and ``heard_names_history`` (every change, appended).

A number's document is rewritten whole, guarded by its ``rev``: two agents confirming names on the
same number at once both land (the later one reads again and re-applies), and a single document
write cannot leave the number half-changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from callercard.errors import Conflict
from callercard.heard_names.ranking import Confirmation, Folded, HeardState
from callercard.heard_names.schemas import HeardChange
from callercard.mongo import HEARD_NAMES, HEARD_NAMES_HISTORY, Database

_ATTEMPTS = 8


class ConcurrentChanges(Conflict):
    """Others kept changing the number's names for every attempt; the caller may retry."""


def state_of(doc: dict[str, Any] | None) -> HeardState:
    """The names a ``heard_names`` document holds (none: nobody was ever confirmed on the number)."""
    if not doc:
        return HeardState()
    return HeardState(calls=tuple(Confirmation(**c) for c in doc.get("calls", [])),
                      earlier=tuple(Folded(**f) for f in doc.get("earlier", [])))


def _document(e164: str, state: HeardState, *, rev: int, at: datetime) -> dict[str, Any]:
    return {"_id": e164, "rev": rev, "updated_at": at,
            "calls": [{"call_id": c.call_id, "name": c.name, "at": c.at, "by": c.by} for c in state.calls],
            "earlier": [{"name": f.name, "count": f.count, "weight": f.weight, "weight_at": f.weight_at,
                         "last_at": f.last_at} for f in state.earlier]}


async def get(db: Database, e164: str) -> HeardState:
    return state_of(await db[HEARD_NAMES].find_one({"_id": e164}))


async def change(db: Database, e164: str, apply: Callable[[HeardState], HeardState], *,
                 at: datetime) -> tuple[HeardState, HeardState]:
    """Apply ``apply`` to the number's state atomically; returns (before, after). ``apply`` returning its
    argument itself means no change: nothing is written."""
    for _ in range(_ATTEMPTS):
        doc = await db[HEARD_NAMES].find_one({"_id": e164})
        before = state_of(doc)
        after = apply(before)
        if after is before:
            return before, after
        if doc is None:
            try:
                await db[HEARD_NAMES].insert_one(_document(e164, after, rev=1, at=at))
            except DuplicateKeyError:
                continue  # the first name on this number, confirmed twice at once: read the other one
            return before, after
        rev = int(doc.get("rev", 0))
        written = await db[HEARD_NAMES].replace_one({"_id": e164, "rev": rev},
                                                    _document(e164, after, rev=rev + 1, at=at))
        if written.matched_count == 1:
            return before, after
    raise ConcurrentChanges(f"the names heard on {e164} changed on every one of {_ATTEMPTS} attempts; retry",
                            number=e164)


async def record(db: Database, entry: HeardChange) -> None:
    """History is appended, never rewritten."""
    await db[HEARD_NAMES_HISTORY].insert_one(entry.model_dump())


async def history(db: Database, e164: str, *, limit: int = 500) -> list[HeardChange]:
    cursor = db[HEARD_NAMES_HISTORY].find({"number": e164}, {"_id": 0}).sort("at", ASCENDING).limit(limit)
    return [HeardChange(**doc) async for doc in cursor]
