"""The worklist live: after a change to a number's callbacks, each agent who may see them gets the number's row
as that agent sees it (or its removal) on their own ``callbacks:#<agent_id>`` channel.

Never raises: a row not published is corrected by the next change or a reload (``GET /api/v1/callbacks``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cent import AsyncClient
from cent.exceptions import CentError
from pymongo.errors import PyMongoError

from callercard import centrifugo
from callercard.agents import store as agents
from callercard.agents.schemas import Agent
from callercard.callbacks import claims
from callercard.callbacks.schemas import Claim
from callercard.callbacks.worklist import build_row, may_see
from callercard.calls import store as calls
from callercard.lookup.cards import Card
from callercard.lookup.services import CardLookup
from callercard.mongo import Database
from callercard.phone import Number, NumberKind

log = logging.getLogger(__name__)
ROW_VERSION = 1


async def card_of(lookup: CardLookup, e164: str, *, budget_seconds: float = 1.0) -> Card:
    """The number's card for its row (a degraded one, never an error, when the store is slow)."""
    return await lookup.within_budget(Number(raw=e164, kind=NumberKind.E164, e164=e164), budget_seconds=budget_seconds)


async def publish_rows(*, db: Database, cent: AsyncClient, lookup: CardLookup, e164: str, region: str,
                       touched: Iterable[Mapping[str, Any]] = ()) -> int:
    """Send ``e164``'s row to every agent who may see one of its open callbacks, or one of ``touched`` (the calls
    just closed: those agents learn the row is gone). Returns how many agents were sent a row."""
    return await publish_rows_of(db=db, cent=cent, lookup=lookup, changed={e164: list(touched)}, region=region)


async def publish_rows_of(*, db: Database, cent: AsyncClient, lookup: CardLookup,
                          changed: Mapping[str, Sequence[Mapping[str, Any]]], region: str) -> int:
    """``publish_rows`` for several numbers (E.164 → its ``touched``: the worker's batch of call records): their open
    callbacks, claims and the agents read once for all, every row in one Centrifugo request. Returns how many
    agents were sent a row."""
    if not changed:
        return 0
    try:
        return await _publish(db=db, cent=cent, lookup=lookup, changed=changed, region=region)
    except (CentError, PyMongoError, OSError) as error:
        log.warning("callback rows of %s not published (%s: %s); they show on the next change or reload",
                    ", ".join(changed), type(error).__name__, error)
        return 0


async def _publish(*, db: Database, cent: AsyncClient, lookup: CardLookup,
                   changed: Mapping[str, Sequence[Mapping[str, Any]]], region: str) -> int:
    now = datetime.now(UTC)
    numbers = list(changed)
    open_calls: dict[str, list[dict[str, Any]]] = {e164: [] for e164 in numbers}
    for doc in await calls.open_callbacks(db, query=calls.open_callbacks_of(*numbers), limit=1000 * len(numbers)):
        open_calls[doc["caller"]["e164"]].append(doc)  # newest first, as each number's row wants them
    claimed = await claims.current(db, numbers, now=now)
    with_calls = [e164 for e164 in numbers if open_calls[e164]]
    cards = dict(zip(with_calls, await asyncio.gather(*(card_of(lookup, e164) for e164 in with_calls)), strict=True))
    everyone = await agents.all_agents(db)
    broadcasts: list[tuple[list[str], dict[str, Any]]] = []
    for e164 in numbers:
        rows = _rows(e164, open_calls[e164], touched=changed[e164], card=cards.get(e164), claim=claimed.get(e164),
                     agents_=everyone, region=region, now=now)
        broadcasts += [(channels, json.loads(payload)) for payload, channels in rows.items()]
    if not broadcasts:
        return 0
    failed = [error for error in await centrifugo.broadcast_many(cent, broadcasts) if error is not None]
    if failed:
        log.warning("%d of %d callback row broadcast(s) refused (%s); they show on the next change or reload",
                    len(failed), len(broadcasts), failed[0])
    return sum(len(channels) for channels, _ in broadcasts)


def _rows(e164: str, open_calls: list[dict[str, Any]], *, touched: Sequence[Mapping[str, Any]], card: Card | None,
          claim: Claim | None, agents_: list[Agent], region: str,
          now: datetime) -> dict[str, list[str]]:
    """The number's row as each agent who may see it sees it (JSON) → their channels. Agents who see the same calls
    see the same row: it is built once (per agent it was most of the worker's cost of a missed call)."""
    channels_by_payload: dict[str, list[str]] = {}
    payloads: dict[tuple[str, ...], str] = {}
    for agent in agents_:
        mine = [r for r in open_calls if may_see(r, agent_id=agent.id, lines=agent.lines)]
        if not mine and not any(may_see(r, agent_id=agent.id, lines=agent.lines) for r in touched):
            continue
        seen = tuple(str(r["call_id"]) for r in mine)
        payload = payloads.get(seen)
        if payload is None:
            row = build_row(e164, mine, card=card, claim=claim, region=region, now=now) if mine else None
            data = {"v": ROW_VERSION, "event": "row", "number": e164,
                    "row": row.model_dump(mode="json") if row else None}
            payload = payloads[seen] = json.dumps(data, sort_keys=True)
        channels_by_payload.setdefault(payload, []).append(centrifugo.callbacks_channel(agent.id))
    return channels_by_payload
