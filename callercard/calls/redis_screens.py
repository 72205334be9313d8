"""What each agent's widget shows right now, kept in Redis for reloaded pages and for the API's actions.

One hash per agent, ``callercard:screen:<agent_id>``: call id → the last card event published for that
call, with the ringing leg's channel while it rings and its PBX (what a decline hangs up, where; never sent to
browsers). ``ended`` and
``dismissed`` remove the call. The hash expires a while after its last change, so a screen can never
stay stuck if an end was lost.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callercard.calls.notifier import card_event
from callercard.calls.state import CardEvent, Notice
from callercard.lease import Lease, LeaseLost
from callercard.pbxs import DEFAULT_PBX

log = logging.getLogger(__name__)
SCREEN_TTL_SECONDS = 6 * 3600
_CLOSING = (CardEvent.ENDED, CardEvent.DISMISSED)


def _key(agent_id: str) -> str:
    return f"callercard:screen:{agent_id}"


@dataclass(frozen=True, slots=True)
class OnScreen:
    payload: dict[str, Any]  # a card event exactly as published to the agent's channel
    channel: str | None
    pbx: str = DEFAULT_PBX  # where ``channel`` is

    @property
    def ringing(self) -> bool:
        return self.payload.get("event") == CardEvent.RINGING.value


class Screens:
    def __init__(self, client: aioredis.Redis, *, lease: Lease | None = None, pbx: str | None = None) -> None:
        """With ``lease`` (a listener's), every write is fenced: a listener that lost it writes nothing. ``pbx``:
        the PBX of these calls, kept with each entry so a decline reaches the right one."""
        self._client = client
        self._lease = lease
        self._pbx = pbx
        self._remembering: dict[tuple[str, str], asyncio.Task[None]] = {}  # (agent, call) -> its latest write

    async def update(self, notice: Notice, *, direction: str, card: dict[str, Any] | None) -> None:
        key = _key(notice.agent_id)
        if notice.event in _CLOSING:
            await self._write([["HDEL", key, notice.call_id]], key)
            return
        if notice.event is CardEvent.CARD:  # the same popup or call, now with its card
            shown = await self.get(notice.agent_id, notice.call_id)
            if shown is None:
                return
            shown.payload["card"] = card
            stored = {"payload": shown.payload, "channel": shown.channel, "pbx": shown.pbx}
            await self._write([["HSET", key, notice.call_id, json.dumps(stored)]], key)
            return
        payload = card_event(notice, direction=direction, card=card)
        stored = {"payload": payload, "channel": notice.channel, "pbx": self._pbx or DEFAULT_PBX}
        await self._write([["HSET", key, notice.call_id, json.dumps(stored)],
                           ["EXPIRE", key, SCREEN_TTL_SECONDS]], key)

    async def remember(self, notice: Notice, *, direction: str, card: dict[str, Any] | None) -> None:
        """``update`` within half a second, never raising: the popup went out already."""
        try:
            async with asyncio.timeout(0.5):  # in this task: no task of its own per card event (wait_for's)
                await self.update(notice, direction=direction, card=card)
        except LeaseLost:
            return  # this listener is no longer the active one: its successor keeps the screens
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("call %s: screen of %s not saved (the popup went out; a reload will miss it): %s",
                        notice.call_id, notice.agent_id, error)

    def remember_soon(self, notice: Notice, *, direction: str, card: dict[str, Any] | None) -> None:
        """``remember`` in the background, after the earlier writes of the same popup (agent and call), so the
        call's next card event does not wait for Redis (at 50 calls/s a ring-all's third ringing waited for the
        first two's screens)."""
        key = (notice.agent_id, notice.call_id)
        task = asyncio.create_task(self._remember_after(self._remembering.get(key), notice, direction=direction,
                                                        card=card))
        self._remembering[key] = task
        task.add_done_callback(functools.partial(self._forget, key))

    async def _remember_after(self, previous: asyncio.Task[None] | None, notice: Notice, *, direction: str,
                              card: dict[str, Any] | None) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            await self.remember(notice, direction=direction, card=card)
        except Exception:
            log.exception("call %s: screen of %s not saved", notice.call_id, notice.agent_id)

    def _forget(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._remembering.get(key) is task:
            del self._remembering[key]

    @property
    def writing(self) -> int:
        """Popups whose screen is being written (``callercard_listener_backlog{what="screens"}``)."""
        return len(self._remembering)

    async def settled(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for the screens being written; returns how many popups' were not."""
        if not self._remembering:
            return 0
        _, unfinished = await asyncio.wait(set(self._remembering.values()), timeout=timeout)
        return len(unfinished)

    async def _write(self, commands: list[list[str | int]], key: str) -> None:
        if self._lease is not None:
            await self._lease.fenced(commands, keys=[key])
            return
        async with self._client.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
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
    return OnScreen(payload=stored["payload"], channel=stored.get("channel"), pbx=stored.get("pbx") or DEFAULT_PBX)
