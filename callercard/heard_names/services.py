"""Who is speaking: agents confirm (or correct) the caller's name on a call; every change is audited.

The names a number's cards rank come from these confirmations alone, so a number with no account
(an unknown caller who gave his name) becomes a known voice on its next call.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callercard.calls import store as calls
from callercard.calls.redis_screens import Screens
from callercard.errors import Conflict, InvalidInput, NotFound
from callercard.heard_names import ranking, store
from callercard.heard_names.schemas import HeardChange, HeardName, SpeakerOut
from callercard.mongo import Database


async def heard_on(db: Database, e164: str, *, now: datetime | None = None) -> list[HeardName]:
    """The number's names, most likely first (empty when nobody was ever confirmed on it). One ``_id`` read."""
    return ranking.rank(await store.get(db, e164), now=now or datetime.now(UTC))


async def number_of_call(*, db: Database, screens: Screens, call_id: str, agent_id: str | None) -> str:
    """The E.164 number of ``call_id``, if ``agent_id`` answered it (on their screen now, or in the call log);
    ``agent_id=None`` (an admin): any logged call. ``NotFound`` / ``Conflict`` (withheld) otherwise."""
    e164: str | None = None
    found = False
    if agent_id is not None:
        shown = await screens.get(agent_id, call_id)
        if shown is not None and shown.payload.get("event") == "answered":
            found, e164 = True, (shown.payload.get("card") or {}).get("e164")
    if not found:
        record = await calls.get(db, call_id)
        if record is not None and (agent_id is None or agent_id in record.get("answered_by", [])):
            found, e164 = True, record["caller"].get("e164")
    if not found:
        raise NotFound(f"call {call_id!r} is not a call you answered", call_id=call_id)
    if not e164:
        raise Conflict(f"call {call_id!r} has no number to remember a name for (withheld, internal, or its card "
                       "was not found yet)", call_id=call_id)
    return e164


async def confirm(db: Database, *, e164: str, call_id: str, name: str | None, by: str,
                  now: datetime | None = None) -> SpeakerOut:
    """``name`` is who spoke on ``call_id`` (replacing an earlier confirmation of that call: a correction);
    ``None`` withdraws it. Confirming the same name again changes nothing and is not audited again."""
    at = now or datetime.now(UTC)
    cleaned = ranking.clean_name(name) if name is not None else None
    if name is not None and not cleaned:
        raise InvalidInput("name", "give the name the caller said")

    def apply(state: ranking.HeardState) -> ranking.HeardState:
        current = state.confirmed_on(call_id)
        if (current.key if current else None) == (ranking.name_key(cleaned) if cleaned else None):
            return state
        return ranking.confirm(state, call_id=call_id, name=cleaned, by=by, at=at)

    before, after = await store.change(db, e164, apply, at=at)
    previous = before.confirmed_on(call_id)
    if after is not before:
        action = "withdraw" if cleaned is None else ("correct" if previous else "confirm")
        await store.record(db, HeardChange(number=e164, call_id=call_id, action=action, name=cleaned,
                                           previous=previous.name if previous else None, by=by, at=at))
    return SpeakerOut(call_id=call_id, number=e164, name=cleaned, previous=previous.name if previous else None,
                      heard=ranking.rank(after, now=at))
