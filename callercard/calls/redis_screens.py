"""What each agent's widget shows right now, kept in Redis for reloaded pages and for the API's actions.

One hash per agent, ``callercard:screen:<agent_id>``: call id → the last card event published for that
call, with the ringing leg's channel while it rings (what a decline hangs up; never sent to browsers). ``ended`` and
``dismissed`` remove the call. The hash expires a while after its last change, so a screen can never
stay stuck if an end was lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from callercard.calls.notifier import card_event
from callercard.calls.state import CardEvent, Notice

SCREEN_TTL_SECONDS = 6 * 3600
_CLOSING = (CardEvent.ENDED, CardEvent.DISMISSED)


def _key(agent_id: str) -> str:
    return f"callercard:screen:{agent_id}"


@dataclass(frozen=True, slots=True)
class OnScreen:
    payload: dict[str, Any]  # a card event exactly as published to the agent's channel
    channel: str | None

    @property
    def ringing(self) -> bool:
        return self.payload.get("event") == CardEvent.RINGING.value


class Screens:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def update(self, notice: Notice, *, direction: str, card: dict[str, Any] | None) -> None:
        key = _key(notice.agent_id)
        if notice.event in _CLOSING:
            await self._client.hdel(key, notice.call_id)
            return
        if notice.event is CardEvent.CARD:  # the same popup or call, now with its card
            shown = await self.get(notice.agent_id, notice.call_id)
            if shown is None:
                return
            shown.payload["card"] = card
            await self._client.hset(key, notice.call_id, json.dumps({"payload": shown.payload,
                                                                     "channel": shown.channel}))
            return
        payload = card_event(notice, direction=direction, card=card)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, notice.call_id, json.dumps({"payload": payload, "channel": notice.channel}))
            pipe.expire(key, SCREEN_TTL_SECONDS)
            await pipe.execute()

    async def get(self, agent_id: str, call_id: str) -> OnScreen | None:
        raw = await self._client.hget(_key(agent_id), call_id)
        return _on_screen(raw) if raw else None

    async def current(self, agent_id: str) -> list[OnScreen]:
        """Open popups and calls, oldest first."""
        values = await self._client.hvals(_key(agent_id))
        shown = [_on_screen(raw) for raw in values]
        return sorted(shown, key=lambda item: str(item.payload.get("at", "")))


def _on_screen(raw: str | bytes) -> OnScreen:
    stored = json.loads(raw)
    return OnScreen(payload=stored["payload"], channel=stored.get("channel"))
