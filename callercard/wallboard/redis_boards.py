"""The latest wallboard of each queue, and the state today's counts go on from, in Redis."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

BOARDS_KEY = "callercard:wallboard"  # queue -> its latest board (JSON)
STATE_KEY = "callercard:wallboard:state"  # the listener's counts of today (JSON), for its successor


async def save(client: aioredis.Redis, boards: list[dict[str, Any]], *, state: dict[str, Any]) -> None:
    """The queues' latest boards and today's state, in one transaction."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(BOARDS_KEY, mapping={board["queue"]: json.dumps(board) for board in boards})
        pipe.set(STATE_KEY, json.dumps(state))
        await pipe.execute()


async def load(client: aioredis.Redis) -> list[dict[str, Any]]:
    """Every queue's latest board, by queue name."""
    return [json.loads(raw) for _, raw in sorted((await client.hgetall(BOARDS_KEY)).items())]


async def load_state(client: aioredis.Redis) -> dict[str, Any] | None:
    raw = await client.get(STATE_KEY)
    return json.loads(raw) if raw else None
