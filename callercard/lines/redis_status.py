"""The latest line status of each queue, in Redis: what a widget shows on its first load.

One hash per PBX, queue → its summary: ``callercard:lines`` for the default PBX (as before several PBXs),
``callercard:lines:<pbx>`` for the others, so two PBXs' queues of the same name never mix.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from callercard.lease import Lease
from callercard.pbxs import DEFAULT_PBX

LINES_KEY = "callercard:lines"


def lines_key(pbx: str = DEFAULT_PBX) -> str:
    return LINES_KEY if pbx == DEFAULT_PBX else f"{LINES_KEY}:{pbx}"


async def save(client: aioredis.Redis, summary: dict[str, Any], *, lease: Lease | None = None) -> None:
    """``summary["pbx"]`` names the hash; with ``lease`` (the listener's) the write is fenced."""
    key = lines_key(summary.get("pbx") or DEFAULT_PBX)
    if lease is not None:
        await lease.fenced([["HSET", key, summary["queue"], json.dumps(summary)]], keys=[key])
    else:
        await client.hset(key, summary["queue"], json.dumps(summary))


async def load(client: aioredis.Redis, queues: list[str], *,
               pbx: str = DEFAULT_PBX) -> dict[str, dict[str, Any] | None]:
    if not queues:
        return {}
    values = await client.hmget(lines_key(pbx), queues)
    return {queue: json.loads(raw) if raw else None for queue, raw in zip(queues, values, strict=True)}
