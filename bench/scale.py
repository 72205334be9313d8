"""Scale: import a generated base of N accounts (2N numbers) with the CLI, then lookups at N vs a small base.

Both bases are imported fresh into their own databases with ``callercard import customers`` (the
progress bar's redraws are timestamped to give the rate curve); then ``bench.lookup_api``'s ping /
warm / cold phases run against each base, in the same run.

    python -m bench.scale --accounts 1000000 --small 10000

Writes bench/results/scale.json and scale.png.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench import customers
from bench.common import (
    RESULTS,
    VAR,
    describe_store,
    import_customers,
    machine,
    services_up,
    store_argument,
    write_result,
)
from bench.lookup_api import lookup_phases
from bench.lookup_api import plot as plot_lookups

_DONE = re.compile(r"\] (\d+)/(\d+) ")


def timed_import(env: Mapping[str, str], accounts: int) -> dict[str, Any]:
    path = VAR / f"customers-{accounts}.csv"
    started = time.monotonic()
    if not path.exists():
        customers.write_csv(path, accounts)
    generated = time.monotonic() - started
    with MongoClient(env["CALLERCARD_MONGO_URL"]) as client:
        client.drop_database(env["CALLERCARD_MONGO_DATABASE"])
    curve: list[tuple[float, int]] = []

    def on_progress(t: float, draw: str) -> None:
        if (m := _DONE.search(draw)) and (not curve or t - curve[-1][0] >= 1.0):
            curve.append((round(t, 2), int(m.group(1))))

    started = time.monotonic()
    code, report = import_customers(env, path, on_progress=on_progress)
    seconds = time.monotonic() - started
    if code != 0:
        raise RuntimeError(f"import of {accounts} accounts failed ({code}): {report}")
    return {"accounts": accounts, "numbers": 2 * accounts, "file_mib": round(path.stat().st_size / 2**20, 1),
            "generate_s": round(generated, 1), "import_s": round(seconds, 1),
            "rows_per_s": round(accounts / seconds, 1), "summary": report.strip(), "progress": curve,
            "rate_curve": rate_curve(curve)}


def rate_curve(curve: list[tuple[float, int]], window: float = 10.0) -> list[tuple[int, float]]:
    """(rows done, rows/s over the last ``window`` seconds) along the import."""
    points, start = [], 0
    for t, done in curve:
        while curve[start][0] < t - window:
            start += 1
        t0, done0 = curve[start]
        if t > t0:
            points.append((done, round((done - done0) / (t - t0), 1)))
    return points


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for run in result["imports"]:
        curve = run["rate_curve"]
        ax.plot([d for d, _ in curve], [r for _, r in curve], label=f"{run['accounts']:,} accounts")
    ax.set_xlabel("rows imported")
    ax.set_ylabel("rows/s (10 s window)")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title("callercard import customers: rate along the import")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10, help="per lookup phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--lookups-only", action="store_true", help="reuse the imported bases, run the lookups")
    parser.add_argument("--name", default="scale", help="result file name")
    store_argument(parser)
    args = parser.parse_args()
    services = services_up(args.store)
    result: dict[str, Any] = {"benchmark": "scale", "machine_start": machine(), "imports": [], "lookups": []}
    for accounts in () if args.lookups_only else (args.small, args.accounts):
        env = {**services, "CALLERCARD_MONGO_DATABASE": f"bench_scale_{accounts}", "CALLERCARD_LOG_LEVEL": "WARNING"}
        result["imports"].append({**timed_import(env, accounts), "machine_end": machine()})
    for accounts in (args.small, args.accounts):
        env = {**services, "CALLERCARD_MONGO_DATABASE": f"bench_scale_{accounts}", "CALLERCARD_LOG_LEVEL": "WARNING"}
        result["lookups"].append({**lookup_phases(env, store=args.store, accounts=accounts, seconds=args.seconds,
                                                  connections=args.connections), "machine_end": machine()})
    small, large = result["lookups"]
    result["p99_ratio_large_to_small"] = {
        phase: round(large["phases"][phase]["percentiles_ms"]["99"] / small["phases"][phase]["percentiles_ms"]["99"], 2)
        for phase in ("warm", "cold")}
    result["machine_end"] = machine()
    write_result(args.name, result, store=describe_store(services, args.store))
    if result["imports"]:
        plot(result, RESULTS / f"{args.name}.png")
    plot_lookups(result["lookups"], RESULTS / f"{args.name}_lookups.png",
                 f"lookups at {args.small:,} vs {args.accounts:,} accounts")


if __name__ == "__main__":
    main()
