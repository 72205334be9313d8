"""The latest wallboard of each queue, and the state today's counts go on from, in Redis.

Per PBX, like the line status: ``callercard:wallboard`` for the default PBX, ``callercard:wallboard:<pbx>`` for
the others, so two PBXs' queues of the same name never mix; each board names its ``pbx``.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from callercard.lease import Lease
from callercard.pbxs import DEFAULT_PBX

BOARDS_KEY = "callercard:wallboard"  # queue -> its latest board (JSON)
STATE_KEY = "callercard:wallboard-state"  # the listener's counts of today (JSON), for its successor


def boards_key(pbx: str = DEFAULT_PBX) -> str:
    return BOARDS_KEY if pbx == DEFAULT_PBX else f"{BOARDS_KEY}:{pbx}"


def state_key(pbx: str = DEFAULT_PBX) -> str:
    return STATE_KEY if pbx == DEFAULT_PBX else f"{STATE_KEY}:{pbx}"


async def save(client: aioredis.Redis, boards: list[dict[str, Any]], *, state: dict[str, Any],
               pbx: str = DEFAULT_PBX, lease: Lease | None = None) -> None:
    """The queues' latest boards and today's state, in one transaction; with ``lease`` (the listener's) fenced:
    ``LeaseLost`` once another listener is active for the PBX."""
    boards_at, state_at = boards_key(pbx), state_key(pbx)
    fields = [value for board in boards for value in (board["queue"], json.dumps(board))]
    if lease is not None:
        commands: list[list[str | int | float]] = [["SET", state_at, json.dumps(state)]]
        if fields:
            commands.insert(0, ["HSET", boards_at, *fields])
        await lease.fenced(commands, keys=[boards_at, state_at])
        return
    async with client.pipeline(transaction=True) as pipe:
        if fields:
            pipe.hset(boards_at, mapping={board["queue"]: json.dumps(board) for board in boards})
        pipe.set(state_at, json.dumps(state))
        await pipe.execute()


async def load(client: aioredis.Redis, *, pbxs: list[str] | None = None) -> list[dict[str, Any]]:
    """Every queue's latest board of these PBXs (the default one when not named), by PBX and queue name."""
    boards: list[dict[str, Any]] = []
    for pbx in pbxs or [DEFAULT_PBX]:
        saved = await client.hgetall(boards_key(pbx))
        boards += [{"pbx": pbx, **json.loads(raw)} for _, raw in sorted(saved.items())]
    return boards


async def load_state(client: aioredis.Redis, *, pbx: str = DEFAULT_PBX) -> dict[str, Any] | None:
    raw = await client.get(state_key(pbx))
    return json.loads(raw) if raw else None
