"""Redis: the Celery broker, and the listener's reports of its AMI login."""

from __future__ import annotations

import json
import time
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
