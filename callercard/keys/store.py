"""API keys, stored hashed: the key itself is shown once, when created, and never stored.

Keys are 256-bit random tokens, so a plain SHA-256 is the right hash (no password
stretching needed); the hash is the document's ``_id``, so checking one is an ``_id`` read.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from callercard.mongo import API_KEYS, Database

KEY_PREFIX = "cck_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(db: Database, *, role: str, name: str, agent_id: str | None = None) -> tuple[str, str]:
    """(key id, the key): the only time the key exists in clear."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = key_hash(key)
    key_id = digest[:12]
    await db[API_KEYS].insert_one({"_id": digest, "key_id": key_id, "role": role, "name": name,
                                   "agent_id": agent_id, "created_at": datetime.now(UTC), "revoked_at": None})
    return key_id, key


async def find_active(db: Database, key: str) -> dict[str, Any] | None:
    doc = await db[API_KEYS].find_one({"_id": key_hash(key)})
    return doc if doc is not None and doc.get("revoked_at") is None else None


async def revoke(db: Database, key_id: str) -> bool:
    result = await db[API_KEYS].update_one({"key_id": key_id, "revoked_at": None},
                                           {"$set": {"revoked_at": datetime.now(UTC)}})
    return result.modified_count == 1


async def all_keys(db: Database) -> list[dict[str, Any]]:
    return [doc async for doc in db[API_KEYS].find({}, {"_id": 0}).sort("created_at", 1)]
