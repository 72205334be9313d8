"""Redis: the client and its health, and what callercard keeps there: the listener's reports of its AMI login and its
hand-over of live calls, and announcements of changed numbers.

Named for what it holds, not `redis.py`: a module of that name shadows the library it wraps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callercard.health import Health
from callercard.settings import Settings

LISTENER_STATE_KEY = "callercard:listener:ami"
LISTENER_CALLS_KEY = "callercard:listener:calls"
# A stopped listener's live calls wait this long for its successor (a restart takes seconds).
LISTENER_CALLS_TTL_SECONDS = 3600
# The listener refreshes its report every few seconds; an older one means it is gone.
LISTENER_STATE_TTL_SECONDS = 15
# What a card shows changed for these numbers (a JSON list), or for every number ("*").
NUMBERS_CHANGED_CHANNEL = "callercard:numbers-changed"
EVERY_NUMBER = "*"

log = logging.getLogger(__name__)


def connect(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
    )


async def health(client: aioredis.Redis) -> Health:
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        return Health("broker", False, f"{type(error).__name__}: {error}"[:300])
    return Health("broker", True)


async def report_listener_state(client: aioredis.Redis, *, logged_in: bool, detail: str) -> None:
    state = {"logged_in": logged_in, "detail": detail, "at": time.time()}
    await client.set(LISTENER_STATE_KEY, json.dumps(state), ex=LISTENER_STATE_TTL_SECONDS)


async def listener_health(client: aioredis.Redis) -> Health:
    try:
        raw = await client.get(LISTENER_STATE_KEY)
    except (RedisError, OSError) as error:
        return Health("ami", False, f"listener state unreadable: {type(error).__name__}")
    if raw is None:
        return Health("ami", False, "no AMI listener has reported in the last "
                      f"{LISTENER_STATE_TTL_SECONDS} s")
    state = json.loads(raw)
    return Health("ami", bool(state.get("logged_in")), str(state.get("detail", "")))


async def save_listener_calls(client: aioredis.Redis, snapshot: dict[str, Any]) -> None:
    """A stopping listener's live calls, for the next listener to log and close (``take_listener_calls``)."""
    await client.set(LISTENER_CALLS_KEY, json.dumps(snapshot), ex=LISTENER_CALLS_TTL_SECONDS)


async def take_listener_calls(client: aioredis.Redis) -> dict[str, Any] | None:
    raw = await client.getdel(LISTENER_CALLS_KEY)
    return json.loads(raw) if raw else None


async def announce_changed_numbers(client: aioredis.Redis, numbers: Iterable[str] | None) -> bool:
    """Tell every API process to forget these numbers' cards (``None``: every card). Never raises; False: not sent.

    Sent after the store took the change. A lost announcement leaves a card at most its
    local cache expiry old, so the writer's own work is not failed for it.
    """
    payload = EVERY_NUMBER if numbers is None else json.dumps(sorted(set(numbers)))
    if payload == "[]":
        return True
    try:
        await client.publish(NUMBERS_CHANGED_CHANNEL, payload)
    except (RedisError, OSError) as error:
        log.warning("could not announce changed numbers (%s: %s); cached cards expire on their own",
                    type(error).__name__, error)
        return False
    return True


async def follow_changed_numbers(client: aioredis.Redis, *, on_subscribed: Callable[[], None],
                                 on_changed: Callable[[list[str]], None], on_everything_changed: Callable[[], None],
                                 ping_seconds: float = 2.0) -> None:
    """Hand each announcement to the callbacks until the channel fails; raises then (never returns).

    ``on_subscribed`` runs at every (re)subscription: announcements sent in between were missed.
    A silent connection is pinged; no reply within three pings counts as a dead link.
    """
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(NUMBERS_CHANGED_CHANNEL)
        last_heard = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=ping_seconds)
            now = time.monotonic()
            if message is None:
                if now - last_heard > 3 * ping_seconds:
                    raise ConnectionError(f"no reply on {NUMBERS_CHANGED_CHANNEL} for {now - last_heard:.1f} s")
                await pubsub.ping()
                continue
            last_heard = now
            if message["type"] == "subscribe":
                on_subscribed()
            elif message["type"] == "message":
                data = message["data"]
                if data == EVERY_NUMBER:
                    on_everything_changed()
                else:
                    on_changed(json.loads(data))
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
