"""The worklist live: after a change to a number's callbacks, each agent who may see them gets the number's row
as that agent sees it (or its removal) on their own ``callbacks:#<agent_id>`` channel.

Never raises: a row not published is corrected by the next change or a reload (``GET /api/v1/callbacks``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cent import AsyncClient
from cent.exceptions import CentError
from pymongo.errors import PyMongoError

from callercard import centrifugo
from callercard.agents import store as agents
from callercard.callbacks import claims
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
    try:
        return await _publish(db=db, cent=cent, lookup=lookup, e164=e164, region=region, touched=list(touched))
    except (CentError, PyMongoError, OSError) as error:
        log.warning("callback row of %s not published (%s: %s); it shows on the next change or reload", e164,
                    type(error).__name__, error)
        return 0


async def _publish(*, db: Database, cent: AsyncClient, lookup: CardLookup, e164: str, region: str,
                   touched: list[Mapping[str, Any]]) -> int:
    now = datetime.now(UTC)
    open_calls = await calls.open_callbacks(db, query=calls.open_callbacks_of(e164), limit=1000)
    claim = (await claims.current(db, [e164], now=now)).get(e164)
    card = await card_of(lookup, e164) if open_calls else None
    channels_by_payload: dict[str, list[str]] = {}
    # Agents who see the same calls see the same row: it is built once (per agent it was most of the worker's
    # cost of a missed call, with one queue's agents all seeing one row).
    payloads: dict[tuple[str, ...], str] = {}
    for agent in await agents.all_agents(db):
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
    for same, channels in channels_by_payload.items():  # agents who see the same row get it in one call
        await centrifugo.broadcast(cent, channels=channels, data=json.loads(same))
    return sum(len(channels) for channels in channels_by_payload.values())
