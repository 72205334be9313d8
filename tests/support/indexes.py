"""What the product's queries need indexed (the spec the index tests hold the product to), and what a store has."""

from __future__ import annotations

from pymongo import MongoClient

Keys = tuple[tuple[str, int], ...]

# What the queries filter or sort on (calls/store.py, dnc/store.py, keys/store.py, heard_names/store.py,
# webhooks/store.py), per collection.
NEEDED: dict[str, set[Keys]] = {
    "calls": {(("entered_at", -1),), (("caller.e164", 1), ("entered_at", -1)), (("outcome", 1), ("entered_at", -1)),
              (("agents.agent_id", 1), ("entered_at", -1)),
              (("callback.needed", 1), ("callback.done", 1), ("entered_at", -1))},
    "dnc_history": {(("number", 1), ("at", 1))},
    "dnc": {(("reason", 1), ("_id", 1)), (("flagged_by", 1), ("_id", 1)), (("expires_at", 1),)},
    "api_keys": {(("key_id", 1),), (("created_at", 1),)},
    "heard_names_history": {(("number", 1), ("at", 1))},
    "webhook_deliveries": {(("endpoint_id", 1), ("status", 1), ("sequence", 1)), (("endpoint_id", 1), ("sequence", -1)),
                           (("status", 1), ("next_attempt_at", 1))},
}
UNIQUE = {("api_keys", (("key_id", 1),))}  # a key is revoked by its id: one id, one key
ID_INDEX: Keys = (("_id", 1),)
# Per collection: each needed index's keys -> unique, and the _id index every collection has.
EXPECTED = {name: {keys: (name, keys) in UNIQUE for keys in needed} | {ID_INDEX: False}
            for name, needed in NEEDED.items()}


def indexes_in(client: MongoClient, database: str) -> dict[str, dict[Keys, bool]]:
    """Per collection of ``NEEDED``: each index's keys -> unique."""
    return {name: {tuple((field, int(order)) for field, order in index["key"].items()): bool(index.get("unique"))
                   for index in client[database][name].list_indexes()} for name in NEEDED}
