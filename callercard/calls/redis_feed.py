"""The HTTP event feed's calls, kept in Redis: any API process may receive any event of any call.

One key per call, ``callercard:feed:call:<call id>`` (the call as ``call_to_json`` writes it, each agent's ring
count, when its latest event came), and a sorted set ``callercard:feed:active`` of live calls by that time, for
the expiry. Each event is applied inside a WATCH/MULTI transaction on its call's key (retried when another
process changed it meanwhile) by the pure rules of ``pbx_events.HttpCallFlow``. An ended call's key stays an hour
as ``{"ended": true}`` so a late event of it is ignored. Calls with no event for ``call_idle_seconds`` are ended,
phones ringing with no event for ``ring_idle_seconds`` dismissed, by whichever API process gets there first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from callercard import pbxs
from callercard.calls.pbx_events import HttpCallFlow, PbxEvent
from callercard.calls.state import Call, CallTracker, Effects, call_from_json, call_to_json
from callercard.errors import StoreUnavailable

log = logging.getLogger(__name__)
ACTIVE_KEY = "callercard:feed:active"
ENDED_TTL_SECONDS = 3600
_ATTEMPTS = 20


def call_key(call_id: str) -> str:
    return f"callercard:feed:call:{call_id}"


class SharedHttpFeed:
    def __init__(self, client: aioredis.Redis, *, local: CallTracker, call_idle_seconds: float,
                 ring_idle_seconds: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """``local``: this process's view of the calls it handled (the ``CallFlowService``'s tracker)."""
        self._client = client
        self._local = local
        self._call_idle = call_idle_seconds
        self._ring_idle = ring_idle_seconds
        self._clock = clock

    async def handle(self, event: PbxEvent) -> Effects:
        """Apply one event of the PBX's feed; ``StoreUnavailable`` (a 503: the PBX retries) when Redis is down."""
        call_id = pbxs.call_id(event.pbx, event.call_id)
        event = event.model_copy(update={"call_id": call_id})

        def apply(flow: HttpCallFlow) -> Effects:
            effects = flow.handle(event)
            call = flow.tracker.calls.get(call_id)
            if call is not None and call.pbx is None:
                call.pbx = event.pbx
            for finished in effects.finished:
                finished.pbx = finished.pbx or event.pbx
            return effects

        return await self._transact(call_id, apply)

    async def expire_forever(self, submit: Callable[[Effects], None]) -> None:
        """Every few seconds, expire idle calls and rings of every API process's feed."""
        every = min(30.0, self._ring_idle / 3)
        while True:
            await asyncio.sleep(every)
            try:
                submit(await self.expire_idle())
            except (RedisError, OSError, StoreUnavailable) as error:
                log.warning("expiring idle HTTP-feed calls failed (%s); trying again in %.0f s", error, every)

    async def expire_idle(self) -> Effects:
        idle_since = time.time() - self._ring_idle
        effects = Effects()
        for raw in await self._client.zrangebyscore(ACTIVE_KEY, "-inf", idle_since):
            call_id = str(raw)  # the client decodes responses
            part = await self._transact(call_id, lambda flow: flow.expire_idle(
                call_idle_seconds=self._call_idle, ring_idle_seconds=self._ring_idle))
            effects.notices += part.notices
            effects.finished += part.finished
        return effects

    async def _transact(self, call_id: str, apply: Callable[[HttpCallFlow], Effects]) -> Effects:
        key = call_key(call_id)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for _ in range(_ATTEMPTS):
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        state: dict[str, Any] = json.loads(raw) if raw else {}
                        if state.get("ended"):
                            await pipe.unwatch()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                            return Effects()
                        flow = self._flow(call_id, state)
                        effects = apply(flow)
                        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                        self._save(pipe, call_id, flow)
                        await pipe.execute()
                    except WatchError:
                        continue  # another process changed this call meanwhile: apply the event to its state
                    self._remember_locally(call_id, flow)
                    return effects
        except (RedisError, OSError) as error:
            raise StoreUnavailable(f"the call state is unavailable right now (Redis: {type(error).__name__}); "
                                   "send the event again") from error
        raise StoreUnavailable(f"call {call_id!r} changed {_ATTEMPTS} times while this event was applied; "
                               "send it again")

    def _flow(self, call_id: str, state: dict[str, Any]) -> HttpCallFlow:
        flow = HttpCallFlow(tracker=CallTracker(), clock=self._clock)
        last = state.get("last_event_at")
        flow.seed(call_id, call=call_from_json(state["call"]) if state.get("call") else None,
                  rings=state.get("rings", {}), last_event_at=datetime.fromtimestamp(last, UTC) if last else None)
        return flow

    def _save(self, pipe: Any, call_id: str, flow: HttpCallFlow) -> None:
        key = call_key(call_id)
        call = flow.tracker.calls.get(call_id)
        if call is None and flow.ended(call_id):
            pipe.set(key, json.dumps({"ended": True}), ex=ENDED_TTL_SECONDS)
            pipe.zrem(ACTIVE_KEY, call_id)
            return
        last = flow.last_event_of(call_id)
        last_at = last.timestamp() if last else time.time()
        state = {"call": call_to_json(call) if call else None, "last_event_at": last_at,
                 "rings": flow.rings_of(call_id)}
        pipe.set(key, json.dumps(state), ex=int(self._call_idle + timedelta(hours=1).total_seconds()))
        pipe.zadd(ACTIVE_KEY, {call_id: last_at})

    def _remember_locally(self, call_id: str, flow: HttpCallFlow) -> None:
        call: Call | None = flow.tracker.calls.get(call_id)
        if call is None:
            self._local.calls.pop(call_id, None)
        else:
            self._local.calls[call_id] = call
