"""Calling customers from the widget: the callback worklist, callbacks of missed calls and click-to-dial.

The PBX rings the agent's own phone first, then dials the customer (AMI ``Originate``, always
``Async`` so the API never waits for a phone to be picked up). A number on the do-not-call list
is refused unless an admin overrides it; every override is appended to that number's audit trail.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cent import AsyncClient

from callercard.agents.schemas import Agent
from callercard.callbacks import claims, live
from callercard.callbacks.schemas import CallbackRow
from callercard.callbacks.worklist import build_row, group_by_number, newest_first
from callercard.calls import store as calls
from callercard.dnc import services as dnc
from callercard.dnc import store as dnc_store
from callercard.dnc.schemas import DncChange
from callercard.errors import Conflict, Forbidden, InvalidInput
from callercard.lookup.services import CardLookup
from callercard.mongo import Database
from callercard.phone import dial_string, national
from callercard.ports import PbxActions


@dataclass(frozen=True, slots=True)
class Override:
    note: str


@dataclass(frozen=True, slots=True)
class Placed:
    reference: str  # ActionID and CALLERCARD_CALL of the Originate
    number: str
    dialed: str
    agent_id: str


async def place_call(*, db: Database, pbx: PbxActions, context: str, agent: Agent, e164: str, dial: str,
                     by: str, may_override: bool, override: Override | None, purpose: str,
                     variables: dict[str, str] | None = None) -> Placed:
    """Refuse a do-not-call number unless ``override`` is given by someone who ``may_override`` (admins), then
    ask the PBX to ring ``agent``'s phone and dial ``dial``. ``by`` is who asked, for the audit trail."""
    entry = await dnc.active_entry(db, e164)
    if entry is not None:
        since = entry.flagged_at.date().isoformat()
        if override is None:
            raise Conflict(f"{e164} is on the do-not-call list ({entry.reason.value}, flagged by {entry.flagged_by} "
                           f"on {since}); not calling. An admin may override with a note.", number=e164,
                           do_not_call=dnc.card_field(entry))
        if not may_override:
            raise Forbidden("only an admin may override the do-not-call list")
        note = f"{purpose} by agent {agent.id}: {override.note}"
        await dnc_store.record(db, DncChange(number=e164, action="override", by=by, at=datetime.now(UTC),
                                             reason=entry.reason, note=note))
    if not agent.devices:
        raise InvalidInput("devices", f"agent {agent.id!r} has no phone to ring; add a device in the agent directory")
    reference = f"callercard-{uuid.uuid4().hex[:16]}"
    assert agent.phone is not None
    await pbx.originate(channel=agent.phone.device, context=context, exten=dial, caller_id=f'"{purpose}" <{dial}>',
                        variables={"CALLERCARD_CALL": reference, **(variables or {})}, action_id=reference)
    return Placed(reference=reference, number=e164, dialed=dial, agent_id=agent.id)


async def worklist(*, db: Database, lookup: CardLookup, query: dict[str, Any], region: str,
                   limit: int) -> list[CallbackRow]:
    """The rows of the open callbacks matching ``query`` (what the caller may see), the latest missed first."""
    now = datetime.now(UTC)
    grouped = group_by_number(await calls.open_callbacks(db, query=query, limit=2000))
    held = await claims.current(db, grouped, now=now)
    numbers = sorted(grouped, key=lambda e164: str(grouped[e164][0]["entered_at"]), reverse=True)[:limit]
    cards = await asyncio.gather(*[live.card_of(lookup, e164) for e164 in numbers])
    return newest_first(build_row(e164, grouped[e164], card=card, claim=held.get(e164), region=region, now=now)
                        for e164, card in zip(numbers, cards, strict=True))


async def call_back(*, db: Database, pbx: PbxActions, context: str, region: str, claim_seconds: float,
                    agent: Agent, e164: str, by: str, may_override: bool,
                    override: Override | None) -> tuple[Placed, list[dict[str, Any]]]:
    """Claim the number's row for ``agent`` (``claims.AlreadyClaimed`` if another agent holds it), ring the agent
    and dial the number; the claim is released again if anything refuses it (the do-not-call list, the PBX).
    Once the PBX accepted the call, every open missed call of the number is done. Returns (placed, calls done)."""
    shown = national(e164, region=region)
    await claims.take(db, e164=e164, agent=agent, by=by, now=datetime.now(UTC), seconds=claim_seconds,
                      shown_as=shown)
    open_calls = await calls.open_callbacks(db, query=calls.open_callbacks_of(e164), limit=5000)
    try:
        placed = await place_call(db=db, pbx=pbx, context=context, agent=agent, e164=e164,
                                  dial=dial_string(e164, region=region), by=by, may_override=may_override,
                                  override=override, purpose="Callback",
                                  variables={"CALLERCARD_CALLBACK_OF": open_calls[0]["call_id"]} if open_calls else {})
    except Exception:
        await claims.release(db, e164=e164, agent_id=agent.id)
        raise
    await calls.mark_callbacks_done(db, query={**calls.open_callbacks_of(e164), "_id": {
        "$in": [r["call_id"] for r in open_calls]}}, by=by, at=datetime.now(UTC), via="callback",
        attempt=placed.reference)
    await claims.release(db, e164=e164, agent_id=agent.id)
    return placed, open_calls


async def after_calls_logged(*, db: Database, cent: AsyncClient | None, lookup: CardLookup,
                             records: list[dict[str, Any]], region: str) -> list[list[dict[str, Any]]]:
    """The call log took ``records`` (in order): an answered call closes its number's earlier missed calls
    (``done_by: "answered_call"``), a missed one that was answered later (its record came late) is closed at
    once; the numbers' rows go live to the agents who see them, all in one request. Idempotent. Returns per record
    the calls it closed."""
    closed_by = [await _close_after(db, record) for record in records]
    changed: dict[str, list[dict[str, Any]]] = {}
    for record, closed in zip(records, closed_by, strict=True):
        if closed or record["callback"].get("needed"):
            changed.setdefault(record["caller"]["e164"], []).extend(closed)
    if cent is not None:
        await live.publish_rows_of(db=db, cent=cent, lookup=lookup, changed=changed, region=region)
    return closed_by


async def _close_after(db: Database, record: dict[str, Any]) -> list[dict[str, Any]]:
    e164 = record["caller"].get("e164")
    if not e164:
        return []
    entered = datetime.fromisoformat(record["entered_at"]) if isinstance(record["entered_at"], str) \
        else record["entered_at"]
    now = datetime.now(UTC)
    if record["outcome"] == "answered":
        closed = await calls.close_for_answered_call(db, e164=e164, answered_call=record["call_id"], before=entered,
                                                     at=now)
        if closed and not await calls.open_callbacks(db, query=calls.open_callbacks_of(e164), limit=1):
            await claims.release(db, e164=e164, agent_id=None)
        return closed
    if record["callback"].get("needed"):
        later = await calls.answered_after(db, e164=e164, after=entered)
        if later is not None:
            later_id, later_entered = later
            return await calls.close_for_answered_call(db, e164=e164, answered_call=later_id, before=later_entered,
                                                       at=now)
    return []


def done_event(*, e164: str, calls: list[dict[str, Any]], via: str, by: str, at: datetime,
               **more: str) -> dict[str, Any]:
    """The ``callback.done`` webhook event's data: a number's missed calls left the worklist, how and by whom."""
    return {"number": e164, "call_ids": sorted(str(r["call_id"]) for r in calls), "via": via, "done_by": by,
            "at": at, **more}
