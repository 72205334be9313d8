"""Redis: the client and its health, and what callercard keeps there: the listeners' reports (per PBX, who is active,
its AMI login) and the active listener's live calls, and announcements of changed numbers.

Named for what it holds, not `redis.py`: a module of that name shadows the library it wraps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callercard.health import Health
from callercard.lease import active_holder
from callercard.pbxs import DEFAULT_PBX
from callercard.settings import Settings

# Each listener reports itself (active or standby) every few seconds, the active one also its AMI login; a
# report older than this means the listener is gone. Keys per PBX (callercard/pbxs.py).
LISTENER_STATE_TTL_SECONDS = 15


def ami_state_key(pbx: str) -> str:
    return f"callercard:pbx:{pbx}:ami"


def listener_key(pbx: str, listener: str) -> str:
    return f"callercard:pbx:{pbx}:listener:{listener}"


def live_calls_key(pbx: str) -> str:
    """The active listener's live calls, kept as they go (a hash, ``asterisk.live_calls``): what a successor
    takes over."""
    return f"callercard:pbx:{pbx}:calls"


# The default PBX's AMI report (the one PBX of a single-PBX setup).
LISTENER_STATE_KEY = ami_state_key(DEFAULT_PBX)
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


async def report_listener_state(client: aioredis.Redis, *, pbx: str, listener: str, active: bool,
                                logged_in: bool, detail: str) -> None:
    state = {"pbx": pbx, "listener": listener, "active": active, "logged_in": logged_in, "detail": detail,
             "at": time.time()}
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(listener_key(pbx, listener), json.dumps(state), ex=LISTENER_STATE_TTL_SECONDS)
        if active:
            pipe.set(ami_state_key(pbx), json.dumps(state), ex=LISTENER_STATE_TTL_SECONDS)
        await pipe.execute()


async def listener_health(client: aioredis.Redis, *, pbxs: Iterable[str]) -> tuple[Health, dict[str, object]]:
    """The AMI link of every PBX (those named, and any whose listeners report): ok when each has an active
    listener logged in; and per PBX its link, the active listener and the standbys (``/status``'s ``pbxs``)."""
    try:
        reports = [json.loads(raw) for raw in await _values(client, "callercard:pbx:*:listener:*")]
        links = {pbx: json.loads(raw) if raw else None
                 for pbx in sorted({*pbxs, *(r["pbx"] for r in reports)})
                 for raw in [await client.get(ami_state_key(pbx))]}
        holders = {pbx: await active_holder(client, pbx) for pbx in links}
    except (RedisError, OSError) as error:
        return Health("ami", False, f"listener state unreadable: {type(error).__name__}"), {}
    per_pbx: dict[str, object] = {}
    problems: list[tuple[str, str]] = []  # (pbx, what is wrong)
    for pbx, link in links.items():
        mine = [r for r in reports if r["pbx"] == pbx]
        active = holders[pbx]  # the lease says who is active (a paused ex-leader's report may still claim it)
        standbys = sorted(r["listener"] for r in mine if r["listener"] != active)
        logged_in = bool(link and link.get("logged_in"))
        per_pbx[pbx] = {"ok": logged_in and active is not None, "link": "up" if logged_in else "down",
                        "detail": (link or {}).get("detail", "no active listener has reported in the last "
                                                         f"{LISTENER_STATE_TTL_SECONDS} s"),
                        "active_listener": active, "standby_listeners": standbys}
        if active is None or not logged_in:
            problems.append((pbx, f"no AMI listener has reported in the last {LISTENER_STATE_TTL_SECONDS} s"
                             if active is None or link is None else str(link.get("detail", "not logged in"))))
    if len(links) == 1:  # one PBX: its link's own words, as before several PBXs
        [(pbx, link)] = links.items()
        return Health("ami", not problems, problems[0][1] if problems else str((link or {}).get("detail", ""))), \
            per_pbx
    detail = "; ".join(f"{pbx}: {why}" for pbx, why in problems) or ", ".join(f"{pbx}: logged in" for pbx in links)
    return Health("ami", not problems, detail), per_pbx


async def _values(client: aioredis.Redis, pattern: str) -> list[str]:
    keys = [key async for key in client.scan_iter(match=pattern, count=500)]
    return [str(raw) for raw in await client.mget(keys) if raw] if keys else []


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
        # redis-py annotates PubSub.aclose from 8.2 on, not before: a "type: ignore" is wrong in one of the two.
        await cast(Any, pubsub).aclose()
