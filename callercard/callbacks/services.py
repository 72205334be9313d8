"""Calling customers from the widget: callbacks of missed calls and click-to-dial.

The PBX rings the agent's own phone first, then dials the customer (AMI ``Originate``, always
``Async`` so the API never waits for a phone to be picked up). A number on the do-not-call list
is refused unless an admin overrides it; every override is appended to that number's audit trail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from callercard.agents.schemas import Agent
from callercard.dnc import services as dnc
from callercard.dnc import store as dnc_store
from callercard.dnc.schemas import DncChange
from callercard.errors import Conflict, Forbidden, InvalidInput
from callercard.mongo import Database
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
    await pbx.originate(channel=agent.devices[0], context=context, exten=dial, caller_id=f'"{purpose}" <{dial}>',
                        variables={"CALLERCARD_CALL": reference, **(variables or {})}, action_id=reference)
    return Placed(reference=reference, number=e164, dialed=dial, agent_id=agent.id)
