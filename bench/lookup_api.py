"""Lookup API throughput and latency: ``GET /api/v1/lookup`` warm and cold against ``GET /ping``, one run.

One API process (``callercard api``, uvicorn, as deployed) on the bench database; wrk (Debian's
``wrk``) with one thread and ``--connections`` keep-alive connections, ``--seconds`` per phase:

- ``ping``: the trivial route of the same app, served the same way (the ceiling);
- ``warm``: numbers of the base whose cards are cached (each looked up once beforehand; the first
  accounts of the base, see ``lookup_phases``), as deployed: the API's memory in front of the store's
  card cache (an entry lives 10 s, so each number's first request in the phase may read the store);
- ``warm_store``: the same numbers from a second API process started with its memory off
  (``CALLERCARD_LOOKUP_LOCAL_CACHE_SECONDS=0``): every request reads the store's card cache;
- ``cold``: numbers never looked up (the card cache is emptied first and no number repeats), so every
  request builds its card from the phone index and accounts and caches it.

    python -m bench.lookup_api --accounts 10000 --seconds 10

Writes bench/results/lookup_api.json and lookup_api.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from bench import customers
from bench.common import (
    RESULTS,
    VAR,
    cpu_seconds,
    describe_store,
    import_customers,
    machine,
    py_spy,
    services_up,
    start_api,
    store_argument,
    store_pids,
    top_frames,
    write_result,
)

LUA = Path(__file__).with_name("wrk_paths.lua")
WARM_NUMBERS = 1000


def ensure_base(env: Mapping[str, str], accounts: int) -> dict[str, Any]:
    """The database ``env`` names holds the generated base of ``accounts`` (imported if it does not)."""
    with MongoClient(env["CALLERCARD_MONGO_URL"]) as client:
        db = client[env["CALLERCARD_MONGO_DATABASE"]]
        if db.accounts.estimated_document_count() == accounts and db.accounts.find_one(
                {"_id": customers.account_id(accounts - 1)}):
            return {"imported": False}
        client.drop_database(db.name)
    path = VAR / f"customers-{accounts}.csv"
    if not path.exists():
        customers.write_csv(path, accounts)
    code, report = import_customers(env, path)
    if code != 0:
        raise RuntimeError(f"import of {path} failed ({code}): {report}")
    return {"imported": True, "report": report.strip()}


def wrk(base_url: str, paths: list[str], *, bearer: str | None, seconds: int, connections: int,
        watch: Mapping[str, list[int]] | None = None) -> dict[str, Any]:
    """One wrk run; ``watch`` names groups of processes whose CPU seconds during the run are reported."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed; it is Debian's package: apt-get install -y wrk")
    before = {pid: used for pids in (watch or {}).values() for pid in pids
              if (used := _cpu_or(pid, None)) is not None}  # a backend may be gone since it was listed
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(paths) + "\n")
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA), base_url]
        done = subprocess.run(command, env={**os.environ, "WRK_PATHS": handle.name, "WRK_BEARER": bearer or ""},
                              capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(handle.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}, {' '.join(command)}): {done.stdout} {done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_RESULT "))
    result["distinct_paths"] = len(paths)
    # A process gone meanwhile (a PostgreSQL backend whose connection closed) counts what it had at the start:
    # its CPU during the run is not known, so the figure is a lower bound by that much.
    after = {pid: _cpu_or(pid, used) or used for pid, used in before.items()}
    result["cpu_s"] = {name: round(sum(after[pid] - before[pid] for pid in pids if pid in before), 2)
                       for name, pids in (watch or {}).items()}
    result["processes_gone"] = sum(not Path(f"/proc/{pid}").exists() for pid in before)
    return result


def _cpu_or(pid: int, default: float | None) -> float | None:
    try:
        return cpu_seconds(pid)
    except FileNotFoundError:
        return default


def lookup_phases(env: Mapping[str, str], *, store: str, accounts: int, seconds: int, connections: int,
                  name: str = "lookup_api", seed: int = 7, profile: bool = False) -> dict[str, Any]:
    """ping, warm and cold phases against one API process on the base in ``env``'s database, on ``store``."""
    rng = random.Random(seed)
    # Warm numbers come from the first accounts of the file: on FerretDB v1 (SQLite) an ``_id`` lookup is a
    # table scan that stops at the match, so these cards are quick to build; a warm lookup reads only the
    # card cache, the call summary and the do-not-call entry, never the accounts. Cold numbers are spread
    # over the whole base and never repeat.
    pick = lambda i: customers.contact_number(i) if i % 2 else customers.sms_number(i)  # noqa: E731
    warm = [pick(i) for i in range(min(WARM_NUMBERS, accounts // 2))]
    cold = [pick(i) for i in rng.sample(range(len(warm), accounts), min(accounts - len(warm), 60_000))]
    with MongoClient(env["CALLERCARD_MONGO_URL"]) as client:
        # emptied, not dropped: the collection (and any index on it) stays
        client[env["CALLERCARD_MONGO_DATABASE"]].card_cache.delete_many({})
    base_url = f"http://127.0.0.1:{env['CALLERCARD_API_PORT']}"
    bearer = env["CALLERCARD_PBX_API_KEY"]
    api = start_api(env, name=f"api-lookup-{accounts}")
    warmup_degraded = 0
    try:
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10) as http:
            for number in warm:  # fill the cache, and check the answers are right
                for _ in range(5):  # a degraded card (budget missed, e.g. the first query) is not cached
                    card = http.get("/api/v1/lookup", params={"number": number}).json()
                    if not card["degraded"]:
                        break
                    warmup_degraded += 1
                index = int(number[-7:])
                if card["kind"] != "known" or card["display_name"] != customers.holder(index):
                    raise RuntimeError(f"wrong card for {number}: {card}")
        path = "/api/v1/lookup?number="
        watch = {"api": [api.pid], "store": store_pids(store)}  # the store: FerretDB (+ PostgreSQL for ferretdb2)
        warm_paths = [path + n.replace("+", "%2B") for n in warm]
        cold_paths = [path + n.replace("+", "%2B") for n in cold]
        half = len(cold_paths) // 2
        # Saturation (``connections`` at once): throughput. One connection: latency without queueing,
        # closer to a PBX's load (one lookup per call).
        def run(paths: list[str], conns: int, key: str | None = bearer) -> dict[str, Any]:
            return wrk(base_url, paths, bearer=key, seconds=seconds, connections=conns, watch=watch)

        phases = {"ping": run(["/ping"], connections, None)}
        profiler = py_spy(api.pid, seconds, RESULTS / f"{name}_{accounts}_profile.txt") if profile else None
        phases |= {"warm": run(warm_paths, connections), "cold": run(cold_paths[:half], connections),
                   "ping_1conn": run(["/ping"], 1, None), "warm_1conn": run(warm_paths, 1),
                   "cold_1conn": run(cold_paths[half:], 1)}
        if profiler is not None:
            profiler.wait(timeout=60)
    finally:
        api.stop()
    api = start_api({**env, "CALLERCARD_LOOKUP_LOCAL_CACHE_SECONDS": "0"}, name=f"api-lookup-{accounts}-store")
    try:
        watch["api"] = [api.pid]
        phases |= {"warm_store": run(warm_paths, connections), "warm_store_1conn": run(warm_paths, 1)}
    finally:
        api.stop()
    for cold in ("cold", "cold_1conn"):  # not ``name``: the profile's file name below is the run's
        phases[cold]["all_cold"] = phases[cold]["requests"] <= phases[cold]["distinct_paths"]
    ping_rps = phases["ping"]["rps"]
    extra = {"api_profile_during_warm": top_frames(RESULTS / f"{name}_{accounts}_profile.txt")} \
        if profile else {}
    return {**extra, "accounts": accounts, "seconds": seconds, "connections": connections, "phases": phases,
            "warmup_degraded": warmup_degraded,
            "throughput_ratio": {k: round(phases[k]["rps"] / ping_rps, 3) for k in ("warm", "warm_store", "cold")},
            "p99_ms_1conn": {k: phases[f"{k}_1conn"]["percentiles_ms"]["99"]
                             for k in ("ping", "warm", "warm_store", "cold")}}


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for result in results:
        for name, phase in result["phases"].items():
            qs = list(phase["percentiles_ms"])
            left.plot(range(len(qs)), [phase["percentiles_ms"][q] for q in qs], marker="o",
                      label=f"{name} ({result['accounts']:,} accounts)")
            left.set_xticks(range(len(qs)), [f"p{q}" for q in qs])
    left.set_ylabel("latency, ms")
    left.set_yscale("log")
    left.legend(fontsize=8)
    labels = [f"{name}\n{r['accounts']:,}" for r in results for name in r["phases"]]
    right.bar(labels, [p["rps"] for r in results for p in r["phases"].values()])
    right.set_ylabel("requests/s")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lookup_api", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="py-spy the API during the warm phase")
    parser.add_argument("--name", default="lookup_api", help="result file name")
    store_argument(parser)
    args = parser.parse_args()
    env = {**services_up(args.store), "CALLERCARD_MONGO_DATABASE": f"bench_lookup_{args.accounts}",
           "CALLERCARD_LOG_LEVEL": "WARNING"}
    before = machine()
    base = ensure_base(env, args.accounts)
    result = lookup_phases(env, store=args.store, accounts=args.accounts, seconds=args.seconds,
                           connections=args.connections, name=args.name, profile=args.profile)
    write_result(args.name, {"benchmark": "lookup_api", "machine_start": before, "machine_end": machine(),
                             "base": base, **result}, store=describe_store(env, args.store))
    plot([result], RESULTS / f"{args.name}.png",
         f"GET /api/v1/lookup vs /ping ({args.accounts:,} accounts, store {args.store})")


if __name__ == "__main__":
    main()
