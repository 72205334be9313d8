"""Lookup latency on each lookup source at N accounts: the built-in accounts, a CRM's HTTP API, its SQL database.

For each base size (2 numbers per account, ``bench.customers``), one ``callercard api`` process per source, asked by
Debian's ``wrk`` over one connection (a PBX's one lookup per call) for ``--seconds``:

- ``floor``: ``/ping`` of the same process (the API's own cost, the ratio's denominator, same run);
- ``accounts``: the base imported with ``callercard import customers`` into MongoDB (the bench profile's FerretDB);
- ``http``: ``bench.crm_server`` holding the base in memory (so its own cost is ~0) answering
  ``GET /api/phones/{e164}``, numbers stored as typed;
- ``sql``: the base in PostgreSQL 15 (``scripts/postgres.sh --profile bench``), numbers stored as typed with the
  README's normalized, indexed columns, read as the read-only account with the README's query.

Every lookup is cold (the card cache emptied first, no number repeats: the source is asked each time), so each
figure is the source's cost plus the card cache's miss and write. Degraded answers (over the 300 ms budget) are
counted. ``--store`` is the services script's store (``sqlite``: FerretDB v1.24.2, which scans; ``ferretdb2``:
FerretDB v2.5 with DocumentDB, indexed as MongoDB is); the JSON names the store each figure ran on.

    python -m bench.sources --sizes 10000 1000000 --seconds 15

Writes bench/results/sources.json (``--name``) and its PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
import httpx
from pymongo import MongoClient

from bench import customers
from bench.common import (
    LOGS,
    RESULTS,
    ROOT,
    Proc,
    describe_store,
    http_ok,
    machine,
    services_up,
    start_api,
    store_argument,
    write_result,
)
from bench.lookup_api import ensure_base, wrk
from tests.support import crm_database
from tests.support.faults import free_port

CHECKED = 20  # numbers looked up (and checked) before each source's timed phase; never in it
_FIRST, _LAST = customers._FIRST, customers._LAST  # the generator's own names, for the SQL
FILL = f"""
INSERT INTO customers (contract_no, full_name, state, contact_phone, sms_phone)
SELECT 'B' || lpad(i::text, 7, '0'),
       (ARRAY{list(_FIRST)})[i % 10 + 1] || ' ' || (ARRAY{list(_LAST)})[(i / 10) % 10 + 1] || ' ' || i,
       CASE WHEN i % 7 = 0 THEN 'disconnected' ELSE 'active' END,
       '8 (910) ' || substr(lpad(i::text, 7, '0'), 1, 3) || '-' || substr(lpad(i::text, 7, '0'), 4, 2) || '-'
                  || substr(lpad(i::text, 7, '0'), 6, 2),
       '+7 950 ' || lpad(i::text, 7, '0')
FROM generate_series(0, $1::int - 1) AS i
"""


async def fill_postgres(superuser: str, accounts: int) -> dict[str, Any]:
    started = time.monotonic()
    await crm_database.create_crm_database(superuser)
    dsn = superuser.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + f"/{crm_database.DATABASE}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(FILL, accounts)
        await connection.execute("ANALYZE customers")
        plan = await connection.fetch("EXPLAIN " + crm_database.QUERY_NORMALIZED.replace(":last10", "'9100000001'"))
    finally:
        await connection.close()
    return {"rows": accounts, "seconds": round(time.monotonic() - started, 1),
            "plan": [row[0] for row in plan]}


def start_crm_server(accounts: int) -> tuple[Proc, str]:
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"crm-server-{accounts}.log").open("wb") as log:
        popen = subprocess.Popen([sys.executable, "-m", "bench.crm_server", "--accounts", str(accounts), "--port",
                                  str(port)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    server = Proc(f"crm-server-{accounts}", [], {})
    server.popen = popen
    server.wait_until(http_ok(f"http://127.0.0.1:{port}/health"), timeout=600)
    return server, f"http://127.0.0.1:{port}"


def http_source(url: str) -> dict[str, Any]:
    return {"kind": "http", "name": "crm", "url": url + "/api/phones/{e164}", "records": "customers",
            "timeout_ms": 1000, "fields": {"id": "contract", "holder": "join(' ', [first_name, last_name])",
                                           "status": "state", "crm_url": "link", "phones": "phones"}}


def sql_source(superuser: str) -> dict[str, Any]:
    return {"kind": "sql", "name": "billing", "url": crm_database.reader_url(superuser),
            "query": crm_database.QUERY_NORMALIZED, "timeout_ms": 1000}


def number_of(index: int) -> str:
    return customers.contact_number(index) if index % 2 else customers.sms_number(index)


def measure(env: Mapping[str, str], *, accounts: int, source: str, seconds: int, seed: int) -> dict[str, Any]:
    """/ping and cold lookups over one connection against one API process configured with ``env``."""
    with MongoClient(env["CALLERCARD_MONGO_URL"]) as client:
        client[env["CALLERCARD_MONGO_DATABASE"]].card_cache.delete_many({})
    api = start_api(env, name=f"api-sources-{source}-{accounts}")
    base_url = f"http://127.0.0.1:{env['CALLERCARD_API_PORT']}"
    bearer = env["CALLERCARD_PBX_API_KEY"]
    try:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10) as http:
            for index in range(CHECKED):  # the right card from this source (the first asks may be slow: pools)
                for _ in range(3):
                    card = http.get("/api/v1/lookup", params={"number": number_of(index)}).json()
                    if not card["degraded"]:
                        break
                if card["kind"] != "known" or card["display_name"] != customers.holder(index):
                    raise RuntimeError(f"{source}: wrong card for {number_of(index)}: {card}")
        rng = random.Random(seed)
        cold = [f"/api/v1/lookup?number={number_of(i).replace('+', '%2B')}"
                for i in rng.sample(range(CHECKED, accounts), min(accounts - CHECKED, 60_000))]
        watch = {"api": [api.pid]}
        floor = wrk(base_url, ["/ping"], bearer=None, seconds=seconds, connections=1, watch=watch)
        lookups = wrk(base_url, cold, bearer=bearer, seconds=seconds, connections=1, watch=watch)
        lookups["all_cold"] = lookups["requests"] <= len(cold)
    finally:
        api.stop()
    return {"floor": floor, "cold": lookups,
            "p99_ms": lookups["percentiles_ms"]["99"], "p50_ms": lookups["percentiles_ms"]["50"],
            "floor_p99_ms": floor["percentiles_ms"]["99"],
            "p99_ratio_to_floor": round(lookups["percentiles_ms"]["99"] / floor["percentiles_ms"]["99"], 1),
            "degraded": lookups["degraded"], "requests": lookups["requests"]}


def run_size(services: Mapping[str, str], accounts: int, *, seconds: int, store: str,
             superuser: str) -> dict[str, Any]:
    store = f"{describe_store(services, store)['server']} ({store})"
    common = {**services, "CALLERCARD_LOG_LEVEL": "WARNING", "CALLERCARD_API_PORT": str(free_port())}
    result: dict[str, Any] = {"accounts": accounts, "numbers": 2 * accounts, "store": store}

    env = {**common, "CALLERCARD_MONGO_DATABASE": f"bench_sources_accounts_{accounts}"}
    result["accounts_base"] = ensure_base(env, accounts)
    databases = [env["CALLERCARD_MONGO_DATABASE"]]
    for source in ("http", "sql"):  # their card caches, each in a database of its own, empty
        databases.append(f"bench_sources_{source}_{accounts}")
        with MongoClient(services["CALLERCARD_MONGO_URL"]) as client:
            client.drop_database(databases[-1])
    result["sources"] = {"accounts": measure({**env, "CALLERCARD_LOOKUP_SOURCES": json.dumps([{"kind": "accounts"}])},
                                             accounts=accounts, source="accounts", seconds=seconds, seed=1)}

    server, url = start_crm_server(accounts)
    try:
        env = {**common, "CALLERCARD_MONGO_DATABASE": databases[1],
               "CALLERCARD_LOOKUP_SOURCES": json.dumps([http_source(url)])}
        result["sources"]["http"] = measure(env, accounts=accounts, source="http", seconds=seconds, seed=2)
    finally:
        server.stop()

    result["postgres"] = asyncio.run(fill_postgres(superuser, accounts))
    env = {**common, "CALLERCARD_MONGO_DATABASE": databases[2],
           "CALLERCARD_LOOKUP_SOURCES": json.dumps([sql_source(superuser)])}
    result["sources"]["sql"] = measure(env, accounts=accounts, source="sql", seconds=seconds, seed=3)
    result["machine_end"] = machine()
    return result


def plot(result: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    sizes = result["sizes"]
    width = 0.2
    for offset, name in enumerate(("floor", "accounts", "http", "sql")):
        values = [(run["sources"]["accounts"]["floor_p99_ms"] if name == "floor" else run["sources"][name]["p99_ms"])
                  for run in sizes]
        bars = ax.bar([i + (offset - 1.5) * width for i in range(len(sizes))], values, width,
                      label="/ping (floor)" if name == "floor" else name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(sizes)), [f"{run['accounts']:,} accounts\n{run['store']}" for run in sizes], fontsize=7)
    ax.set_ylabel("cold lookup p99, ms (1 connection)")
    ax.set_yscale("log")
    ax.axhline(300, color="grey", linestyle="--", linewidth=0.8)
    ax.legend(fontsize=8)
    fig.suptitle("GET /api/v1/lookup on each source, every lookup cold (budget 300 ms dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--name", default="sources")
    store_argument(parser)
    args = parser.parse_args()
    services = services_up(args.store)
    superuser = crm_database.superuser_url("bench")
    result: dict[str, Any] = {"benchmark": "sources", "machine_start": machine(), "seconds": args.seconds,
                              "sizes": []}
    for accounts in args.sizes:
        result["sizes"].append(run_size(services, accounts, seconds=args.seconds, store=args.store,
                                        superuser=superuser))
        write_result(args.name, result, store=describe_store(services, args.store))  # survives a later failure
    result["machine_end"] = machine()
    write_result(args.name, result, store=describe_store(services, args.store))
    plot(result, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
