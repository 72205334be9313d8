"""The indexes the product's queries need: the API creates them at start, idempotently, on every store; on the
ferretdb2 store (which, like MongoDB, plans queries over indexes) the main queries are served by them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from callercard import mongo
from callercard.calls import store as calls_store
from callercard.dnc import store as dnc_store
from callercard.dnc.schemas import DncChange, DncEntry, DncReason
from callercard.keys import store as keys_store
from callercard.settings import Settings
from tests.support.faults import free_port
from tests.support.indexes import EXPECTED, NEEDED, indexes_in
from tests.support.processes import Process, http_answers
from tests.support.stores import analyze_ferretdb2


async def status_of_indexes(url: str, timeout: float = 30) -> dict[str, Any]:
    """``/status``'s report on the indexes once the API has made its first attempt."""
    async with asyncio.timeout(timeout), httpx.AsyncClient(base_url=url, timeout=5) as client:
        while (report := (await client.get("/status")).json()["dependencies"]["indexes"])["detail"] == "being created":  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return report


@pytest.fixture
def own_database(service_env: dict[str, str], settings: Settings, store: str) -> Iterator[dict[str, str]]:
    """The session's services with a database nobody else uses (emptied first) and a port for an API of its own."""
    env = {**service_env, "CALLERCARD_MONGO_DATABASE": f"callercard_indexes_{store}",
           "CALLERCARD_API_PORT": str(free_port())}
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(env["CALLERCARD_MONGO_DATABASE"])
        yield env
        client.drop_database(env["CALLERCARD_MONGO_DATABASE"])


@pytest.mark.both_stores
async def test_the_api_creates_the_indexes_its_queries_need_at_start_and_again_on_restart(
        own_database: dict[str, str], settings: Settings) -> None:
    url = f"http://127.0.0.1:{own_database['CALLERCARD_API_PORT']}"
    database = own_database["CALLERCARD_MONGO_DATABASE"]
    seen = []
    for start in ("first", "second"):
        api = Process(f"api-indexes-{start}", ["api"], own_database).start()
        try:
            api.wait_until(http_answers(f"{url}/status"))
            report = await status_of_indexes(url)
        finally:
            api.stop()
        with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
            seen.append(indexes_in(client, database))
        assert report == {"ok": True, "detail": f"{len(mongo.INDEXES)} indexes in place"}, api.tail()
        assert "indexes missing" not in api.log_path.read_text(), api.tail()
    assert seen == [EXPECTED, EXPECTED]  # the second start found them all and added nothing


class SentCommands(monitoring.CommandListener):
    """The query commands a client sent, as sent (what ``explain`` is then asked about)."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "update", "count", "aggregate"):
            self.commands.append({k: v for k, v in event.command.items() if k not in ("lsid", "txnNumber")
                                  and not k.startswith("$")})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def as_find(command: dict[str, Any]) -> dict[str, Any]:
    """An update's selection as a find (FerretDB v2 explains no update): the documents it would touch."""
    if "update" in command:
        return {"find": command["update"], "filter": command["updates"][0]["q"]}
    return command


def indexes_used(explained: dict[str, Any]) -> set[str]:
    """The index names in the chosen plan: MongoDB's ``winningPlan`` stages or PostgreSQL's plan nodes (FerretDB
    v2 answers with DocumentDB's PostgreSQL plan)."""
    planner = explained["queryPlanner"]
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(v for k, v in node.items() if k in ("indexName", "Index Name"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(planner.get("winningPlan", planner.get("Plan")))
    return found


async def a_call_log(db: AsyncDatabase, *, calls: int, now: datetime, rng: random.Random) -> None:
    """``calls`` logged calls as a support line has them: mostly answered, 2,000 callers, 40 agents on 3 lines,
    over ``calls`` minutes; written the way the worker writes them (a few through the store, cloned in bulk)."""
    outcomes = ["answered"] * 16 + ["missed_unanswered", "missed_abandoned_in_queue",
                                    "missed_abandoned_in_greeting", "missed_abandoned_while_ringing"]
    for i in range(4):
        await calls_store.save(db, {
            "call_id": f"seed-{i}", "caller": {"number": "84951234567", "e164": "+74951234567", "kind": "e164"},
            "direction": "inbound", "queues": ["line1"], "agents": [{"agent_id": "agent0", "result": "answered"}],
            "answered_by": ["agent0"], "transfers": 0, "entered_at": now.isoformat(), "first_ring_at": None,
            "answered_at": None, "ended_at": None, "wait_seconds": 5.0, "talk_seconds": 60.0,
            "outcome": outcomes[i], "callback": {"needed": i > 0, "done": False}})
    seed = await db[mongo.CALLS].find_one({"_id": "seed-0"})
    assert seed is not None
    clones = []
    for i in range(calls):
        outcome, agent = rng.choice(outcomes), f"agent{rng.randrange(40)}"
        missed = outcome != "answered"
        clones.append({**seed, "_id": f"call-{i}", "call_id": f"call-{i}", "outcome": outcome,
                       "caller": {**seed["caller"], "e164": f"+7495{rng.randrange(2000):07d}"},
                       "queues": [rng.choice(["line1", "line2", "line3"])],
                       "agents": [{"agent_id": agent, "result": "no_answer" if missed else "answered"}],
                       "answered_by": [] if missed else [agent], "entered_at": now - timedelta(minutes=i),
                       "callback": {"needed": missed, "done": missed and i > 100}})
    await db[mongo.CALLS].insert_many(clones)


async def a_do_not_call_list(db: AsyncDatabase, *, numbers: int, now: datetime, rng: random.Random) -> None:
    """``numbers`` flagged numbers with their history, as ``dnc/store.py`` writes them, flagged by 40 agents."""
    reasons = [DncReason.HUNG_UP_AFTER_INTRO] * 10 + [DncReason.ASKED_NOT_TO_CALL] * 8 + [
        DncReason.INVALID_NUMBER, DncReason.ABROAD]
    entries, changes = [], []
    for i in range(numbers):
        entry = DncEntry(number=f"+7903{i:07d}", reason=rng.choice(reasons), note=None,
                         flagged_by=f"agent{rng.randrange(40)}", flagged_at=now - timedelta(hours=i), expires_at=None)
        entries.append({"_id": entry.number, **entry.model_dump(exclude={"number"})})  # as dnc_store.put
        changes += [DncChange(number=entry.number, action=action, by=entry.flagged_by,
                              at=entry.flagged_at + timedelta(minutes=n), reason=entry.reason).model_dump()
                    for n, action in enumerate(("flag", "edit"))]  # as dnc_store.record
    await db[mongo.DNC].insert_many(entries)
    await db[mongo.DNC_HISTORY].insert_many(changes)


@pytest.mark.indexed_store_only
async def test_the_main_queries_are_served_by_their_indexes(settings: Settings, store: str) -> None:
    sent = SentCommands()
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True, event_listeners=[sent])
    db = client[settings.mongo_database]
    now, rng = datetime.now(UTC), random.Random(20)
    try:
        assert (await mongo.ensure_indexes(db)).ok  # what the API runs at start
        await a_call_log(db, calls=3000, now=now, rng=rng)
        await a_do_not_call_list(db, numbers=2000, now=now, rng=rng)
        key_ids = [(await keys_store.create(db, role="agent", name=f"agent{i}", agent_id=f"agent{i}"))[0]
                   for i in range(300)]
        # Each query as the product runs it, and the field the index serving it must hold.
        queries = {
            "call log by number": (lambda: calls_store.find(db, e164="+74950000007"), "caller.e164"),
            "call log by outcome": (lambda: calls_store.find(db, outcome="missed_unanswered"), "outcome"),
            "call log by agent": (lambda: calls_store.find(db, agent_id="agent7"), "agents.agent_id"),
            "call log since an hour ago": (lambda: calls_store.find(db, since=now - timedelta(hours=1)), "entered_at"),
            "open callbacks": (lambda: calls_store.open_callbacks(db, query=calls_store.callback_filter(
                agent_id=None, lines=[])), "callback.done"),
            "an agent's open callbacks": (lambda: calls_store.open_callbacks(db, query=calls_store.callback_filter(
                agent_id="agent3", lines=["line1"])), "callback.done"),
            "an agent's callbacks all marked done": (lambda: calls_store.mark_callbacks_done(
                db, query=calls_store.callback_filter(agent_id="agent3", lines=["line1"]), by="agent3", at=now,
                via="test"), "callback.done"),
            "a number's do-not-call history": (lambda: dnc_store.history(db, "+79030000042"), "number"),
            "do-not-call list by reason": (lambda: dnc_store.find(
                db, reason="abroad", flagged_by=None, active_at=None, limit=50, skip=0), "reason"),
            "do-not-call list by who flagged": (lambda: dnc_store.find(
                db, reason=None, flagged_by="agent5", active_at=None, limit=50, skip=0), "flagged_by"),
            "revoking a key": (lambda: keys_store.revoke(db, key_ids[123]), "key_id"),
        }
        fields_of = {index["name"]: set(index["key"]) for name in NEEDED
                     async for index in await db[name].list_indexes()}
        unserved: dict[str, dict[str, Any]] = {}
        # Planned twice: on the statistics of a fresh table, and on those PostgreSQL's autovacuum gathers within
        # minutes (a CI run caught the do-not-call list walked by _id once it had them).
        for statistics in ("fresh", "analyzed"):
            if statistics == "analyzed":
                await analyze_ferretdb2(settings.mongo_url)
            for what, (query, field) in queries.items():
                sent.commands.clear()
                await query()
                (command,) = sent.commands
                used = indexes_used(await db.command({"explain": as_find(command), "verbosity": "queryPlanner"}))
                if not any(field in fields_of.get(name, ()) for name in used):
                    unserved.setdefault(statistics, {})[what] = sorted(used) or "no index (a full scan)"
        assert unserved == {}
    finally:
        await client.close()

