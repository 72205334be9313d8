"""What every benchmark shares: the bench profile's services, callercard processes, machine facts, results.

Results are JSON in ``bench/results/<name>.json`` (also printed) naming the store they ran on (``--store``:
the services script's sqlite or ferretdb2) and the load average and core count at start and end, since the
machine is shared; plots are PNGs beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VAR = ROOT / "var" / "bench"
LOGS = VAR / "logs"
CAPTURES = ROOT / "tests" / "captures"


STORES = ("sqlite", "ferretdb2")  # the services script's stores (README "Services without Docker")
SERVICES = ROOT / "scripts" / "services.sh"


def services_up(store: str) -> dict[str, str]:
    """Start (or reuse) the bench profile's Redis, ``store`` and Centrifugo; return its CALLERCARD_* settings.

    The profile runs one store at a time: one that runs the other store is stopped first (its data stays on disk).
    """
    running = subprocess.run([str(SERVICES), "--profile", "bench", "store"], capture_output=True, text=True,
                             check=True).stdout.strip()
    if running and running != store:
        subprocess.run([str(SERVICES), "--profile", "bench", "down"], check=True)
    subprocess.run([str(SERVICES), "--profile", "bench", "--store", store, "up"], check=True)
    values: dict[str, str] = {}
    for line in (VAR / "callercard.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("CALLERCARD_"):
            values[key] = value
    return values


def describe_store(env: Mapping[str, str], store: str) -> dict[str, str]:
    """What a result says it ran on: the store asked for and the server that answered (checked to match)."""
    from pymongo import MongoClient

    with MongoClient(env["CALLERCARD_MONGO_URL"], serverSelectionTimeoutMS=5000) as client:
        info = client.admin.command("buildInfo")
    server = f"FerretDB {info['ferretdb']['version']}" if "ferretdb" in info else \
        f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info else f"MongoDB {info['version']}"
    expected = {"sqlite": "FerretDB v1.", "ferretdb2": "FerretDB v2."}[store]
    if not server.startswith(expected):
        raise RuntimeError(f"asked for the {store} store, but {env['CALLERCARD_MONGO_URL']} is {server}")
    return {"store": store, "server": server}


def store_pids(store: str) -> list[int]:
    """The store's processes, for CPU accounting: FerretDB, and for ferretdb2 PostgreSQL with its backends."""
    if store == "sqlite":
        return [int((VAR / "ferretdb" / "ferretdb.pid").read_text())]
    postmaster = int((VAR / "ferretdb2" / "pg" / "postmaster.pid").read_text().split()[0])
    backends = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    return [int((VAR / "ferretdb2" / "ferretdb.pid").read_text()), postmaster, *map(int, backends)]


def store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", choices=STORES, default="sqlite",
                        help="the services script's store to run on (ferretdb2 needs CALLERCARD_FERRETDB2_DIR)")


def ami_filter_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ami-filter", choices=("shipped", "off"), default="shipped",
                        help="shipped: the load PBX applies the snippet's eventfilter line, as Asterisk does for "
                             "the shipped user (and refuses the Filter action, as it does without the system "
                             "class); off: every event of the login's classes (callercard before the filter)")


def ami_filter_options(choice: str) -> dict[str, Any]:
    """``LoadPbx`` keywords for ``--ami-filter``."""
    from asterisk.event_filter import filter_regex

    return {"eventfilters": (filter_regex(),) if choice == "shipped" else (), "filter_permitted": False}


def machine() -> dict[str, Any]:
    """The conditions of a measurement: the machine is shared, so every figure carries them."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"at": datetime.now(UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "commit": commit.stdout.strip(),
            "python": sys.version.split()[0]}


def summary_ms(values: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50/p95/p99 (nearest rank) and max of values in milliseconds."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(p / 100 * len(ordered) + 0.5) - 1))], 2)

    return {"count": len(ordered), "mean": round(statistics.fmean(ordered), 2), "p50": rank(50), "p95": rank(95),
            "p99": rank(99), "max": round(ordered[-1], 2)}


def write_result(name: str, result: dict[str, Any], *, store: dict[str, str]) -> Path:
    """``result`` with the store it ran on (``describe_store``) in ``bench/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"store": store, **result}
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


class Proc:
    """A ``callercard`` subprocess in its own session, its output in var/bench/logs/<name>.log."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str]) -> None:
        self.name, self.args = name, args
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = LOGS / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, prefix: Sequence[str] = ()) -> Proc:
        LOGS.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen([*prefix, sys.executable, "-m", "callercard.cli", *self.args],
                                          env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                          start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}: {self.text()[-2000:]}")
            if ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout} s: {self.text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of a process and its live descendants (the Celery worker's prefork children)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree, grew = tree | more, bool(more)
    total = 0.0
    for member in tree:
        try:
            total += cpu_seconds(member)
        except OSError:  # ended meanwhile
            continue
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def start_api(env: Mapping[str, str], name: str = "api") -> Proc:
    api = Proc(name, ["api"], env).start()
    api.wait_until(http_ok(f"http://127.0.0.1:{env['CALLERCARD_API_PORT']}/openapi.json"))
    return api


def start_worker(env: Mapping[str, str], concurrency: int = 2) -> Proc:
    worker = Proc("worker", ["worker", "--concurrency", str(concurrency)], env).start()
    worker.wait_until(lambda: "ready." in worker.text(), timeout=90)
    return worker


def import_customers(env: Mapping[str, str], path: Path, *, on_progress: Callable[[float, str], None] | None = None,
                     ) -> tuple[int, str]:
    """``callercard import customers FILE`` as a user runs it; each progress-bar redraw goes to ``on_progress``
    with the seconds since start. Returns (exit code, the summary it printed)."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "callercard.cli", "import", "customers", str(path)],
                               env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None and process.stdout is not None
    buffer = b""
    while chunk := process.stderr.read1(4096):
        buffer += chunk
        *draws, buffer = buffer.replace(b"\n", b"\r").split(b"\r")
        for draw in draws:
            if draw.strip() and on_progress is not None:
                on_progress(time.monotonic() - started, draw.decode(errors="replace"))
    out = process.stdout.read().decode(errors="replace")
    return process.wait(), out


def py_spy(pid: int, seconds: int, path: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
                             "--nonblocking", "--format", "raw", "--output", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def top_frames(path: Path, limit: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    share = lambda c: [(f, round(n / total, 3)) for f, n in c.most_common(limit)]  # noqa: E731
    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def fresh_state(env: Mapping[str, str], collections: Sequence[str]) -> None:
    """Empty the bench's Redis (tasks a previous run queued would run against this run's data) and
    ``collections`` of the bench database (emptied, not dropped: their indexes stay)."""
    import redis
    from pymongo import MongoClient

    redis.Redis.from_url(env["CALLERCARD_REDIS_URL"]).flushdb()
    with MongoClient(env["CALLERCARD_MONGO_URL"]) as client:
        db = client[env["CALLERCARD_MONGO_DATABASE"]]
        for name in collections:
            db[name].delete_many({})


def by_what(text: str, metric: str) -> dict[str, float]:
    """A metric's values by their ``what`` label, from the Prometheus text of a metrics port."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(metric + "{"):
            labels, _, value = line.rpartition(" ")
            values[labels.split('what="', 1)[1].split('"', 1)[0]] = float(value)
    return values


def histogram(text: str, metric: str, labels: str) -> dict[str, float]:
    """A histogram's cumulative bucket counts by ``le``, for the series whose labels include ``labels``
    (e.g. ``event="ringing"``), from the Prometheus text of a metrics port."""
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(metric + "_bucket{") and labels in line:
            series, _, value = line.rpartition(" ")
            counts[series.split('le="', 1)[1].split('"', 1)[0]] = float(value)
    return counts


def gc_pauses(text: str) -> dict[str, dict[str, float]]:
    """``callercard_gc_pause_seconds`` per generation: how many collections, their total and the share of them
    over 10 ms, from the Prometheus text of a metrics port."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("callercard_gc_pause_seconds_") and 'generation="' in line:
            series, _, value = line.rpartition(" ")
            generation = series.split('generation="', 1)[1].split('"', 1)[0]
            entry = out.setdefault(generation, {"count": 0.0, "total_ms": 0.0, "within_10ms": 0.0})
            if series.startswith("callercard_gc_pause_seconds_count"):
                entry["count"] = float(value)
            elif series.startswith("callercard_gc_pause_seconds_sum"):
                entry["total_ms"] = float(value) * 1000
            elif 'le="0.01"' in series:
                entry["within_10ms"] = float(value)
    return out


def gc_pauses_since(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Collections over a stretch, per generation: count, total ms, and how many took over 10 ms."""
    out: dict[str, Any] = {}
    for generation, now in sorted(after.items()):
        was = before.get(generation, {})
        count = now["count"] - was.get("count", 0.0)
        out[generation] = {"count": int(count), "total_ms": round(now["total_ms"] - was.get("total_ms", 0.0), 1),
                           "over_10ms": int(count - (now["within_10ms"] - was.get("within_10ms", 0.0)))}
    return out


def within(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Over a stretch (``after`` less ``before``): the share of observations within each bucket's bound, in ms."""
    total = after.get("+Inf", 0.0) - before.get("+Inf", 0.0)
    return {f"{float(le) * 1000:g}": round((count - before.get(le, 0.0)) / total, 4)
            for le, count in after.items() if le != "+Inf"} if total else {}


async def round_trips(http: Any, url: str) -> dict[str, dict[str, float]]:
    """Per kind of request that goes together (``callercard.together``): round trips, items, items per trip."""
    try:
        text = (await http.get(url)).text
    except Exception:  # noqa: BLE001  # reported as unknown rather than failing the run
        return {}
    items = by_what(text, "callercard_round_trip_items_total")
    return {what: {"round_trips": trips, "items": items.get(what, 0.0),
                   "items_per_round_trip": round(items.get(what, 0.0) / trips, 2) if trips else 0.0}
            for what, trips in by_what(text, "callercard_round_trips_total").items()}


def round_trips_since(before: dict[str, dict[str, float]],
                      after: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``round_trips`` over a stretch: ``after`` less ``before``."""
    out: dict[str, dict[str, float]] = {}
    for what, now in after.items():
        then = before.get(what, {})
        trips = now.get("round_trips", 0) - then.get("round_trips", 0)
        items = now.get("items", 0) - then.get("items", 0)
        out[what] = {"round_trips": trips, "items": items,
                     "items_per_round_trip": round(items / trips, 2) if trips else 0.0}
    return out
