"""Claims on callback rows (``callback_claims``, one document per E.164 number): who is calling a number back.

Taken atomically: the conditional upsert either takes a free (or lapsed, or own) claim, or meets the
existing document's ``_id`` and fails with a duplicate key, so of two agents pressing "call back" at
once exactly one wins; the other is told who has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from callercard.agents.schemas import Agent
from callercard.callbacks.schemas import Claim
from callercard.errors import Conflict
from callercard.mongo import CALLBACK_CLAIMS, Database, find_by_ids


class AlreadyClaimed(Conflict):
    def __init__(self, claim: Claim, *, number: str) -> None:
        super().__init__(f"{claim.agent_name} ({claim.by}) is calling {number} back: claimed at "
                         f"{claim.at:%H:%M:%S}, until {claim.until:%H:%M:%S} UTC unless done or released first",
                         number=number, claim=claim.model_dump(mode="json"))
        self.claim = claim


def _claim(doc: dict[str, object]) -> Claim:
    return Claim.model_validate({k: v for k, v in doc.items() if k != "_id"})


async def take(db: Database, *, e164: str, agent: Agent, by: str, now: datetime, seconds: float,
               shown_as: str) -> Claim:
    """Claim ``e164`` for ``agent`` for ``seconds`` (renewing the agent's own claim); ``AlreadyClaimed`` when
    another agent holds an unexpired claim. ``shown_as``: the number as the message shows it."""
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what MongoDB keeps of a time: milliseconds
    claim = Claim(agent_id=agent.id, agent_name=agent.name, by=by, at=now, until=now + timedelta(seconds=seconds))
    free = {"_id": e164, "$or": [{"until": {"$lte": now}}, {"agent_id": agent.id}]}
    try:
        await db[CALLBACK_CLAIMS].find_one_and_update(free, {"$set": claim.model_dump()}, upsert=True,
                                                      return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:
        held = await db[CALLBACK_CLAIMS].find_one({"_id": e164})
        if held is None:  # released between the two: the caller may simply try again
            raise Conflict(f"{shown_as} was being claimed by someone else a moment ago; try again",
                           number=e164) from None
        raise AlreadyClaimed(_claim(held), number=shown_as) from None
    return claim


async def release(db: Database, *, e164: str, agent_id: str | None) -> bool:
    """Give up ``agent_id``'s claim (``None``: whoever holds it). True when there was one."""
    query: dict[str, object] = {"_id": e164}
    if agent_id is not None:
        query["agent_id"] = agent_id
    return (await db[CALLBACK_CLAIMS].delete_one(query)).deleted_count == 1


async def current(db: Database, numbers: Iterable[str], *, now: datetime) -> dict[str, Claim]:
    """The unexpired claims on ``numbers``."""
    found = await find_by_ids(db[CALLBACK_CLAIMS], numbers)
    claims = {e164: _claim(doc) for e164, doc in found.items()}
    return {e164: claim for e164, claim in claims.items() if claim.until > now}
