"""Listener cost: CPU seconds per 1,000 calls and resident memory along 100,000 replayed calls.

The load PBX (``bench.loadpbx``) replays cloned recorded calls at ``--rate`` new calls per second,
each ``--speed`` times faster than recorded, to a real ``callercard listener``; a real worker drains the
lookup and call-log tasks. The listener's RSS and CPU time are sampled every ``--every`` calls; finished
calls must be purged, so RSS must plateau (goal: within 10% between 20,000 and 100,000 calls).
No agent page is subscribed: card events are still published to Centrifugo, nobody receives them.

    python -m bench.listener_cost --calls 100000 --rate 150 --speed 10

Writes bench/results/listener_cost.json and listener_cost.png.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path
from typing import Any

from amisim import load_capture
from bench import customers
from bench.common import (
    CAPTURES,
    RESULTS,
    Proc,
    ami_filter_argument,
    ami_filter_options,
    by_what,
    cpu_seconds,
    describe_store,
    fresh_state,
    machine,
    py_spy,
    round_trips,
    rss_mib,
    services_up,
    start_api,
    start_worker,
    store_argument,
    top_frames,
    tree_cpu_seconds,
    write_result,
)
from bench.loadpbx import LoadPbx
from bench.lookup_api import ensure_base
from bench.popup import CAPTURE_CALLERS, put_agent_groups
from callercard.settings import Settings


async def wait_idle(pid: int, *, below: float = 0.05, timeout: float = 300) -> float:
    """Seconds until the process used less than ``below`` CPU seconds in one second."""
    started = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - started < timeout:
        await asyncio.sleep(1)
        now = cpu_seconds(pid)
        if now - last < below:
            break
        last = now
    return time.monotonic() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    services = services_up(args.store)
    env = {**services, "CALLERCARD_MONGO_DATABASE": "bench_listener", "CALLERCARD_LOG_LEVEL": args.log_level}
    # The listener's backlog gauges, sampled beside its RSS: what piles up when memory grows.
    metrics_url = f"http://127.0.0.1:{int(env['CALLERCARD_API_PORT']) + 1000}/metrics"
    env["CALLERCARD_LISTENER_METRICS_PORT"] = str(int(env["CALLERCARD_API_PORT"]) + 1000)
    settings = Settings(**{k.removeprefix("CALLERCARD_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    start = machine()
    ensure_base(env, args.accounts)
    fresh_state(env, ("card_cache", "calls", "number_calls", "agents", "dnc"))
    captures = [load_capture(CAPTURES / f"{name}.jsonl") for name in CAPTURE_CALLERS]
    pbx = LoadPbx(captures[0], username=settings.ami_username, secret=settings.ami_secret.get_secret_value(),
                  port=settings.ami_port, speed=args.speed, keep_plans=False, **ami_filter_options(args.ami_filter))
    await pbx.start()
    processes: list[Proc] = []
    try:
        api = start_api(env, name="api-listener")
        processes.append(api)
        admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", headers=admin,
                                     timeout=10) as http:
            await put_agent_groups(http, args.groups)
        api.stop()
        worker = start_worker(env, args.worker_concurrency)
        processes.append(worker)
        listener = Proc("listener-cost", ["listener"], env).start()
        processes.append(listener)
        await asyncio.wait_for(pbx.attached.wait(), 60)
        await asyncio.sleep(1)
        samples: list[dict[str, float]] = [{"calls": 0, "rss_mib": round(rss_mib(listener.pid), 1),
                                            "cpu_s": round(cpu_seconds(listener.pid), 2), "t": 0.0}]
        http_metrics = httpx.AsyncClient(timeout=2)
        rng = random.Random(5)
        t0 = time.perf_counter()
        cpu0, worker_cpu0 = cpu_seconds(listener.pid), tree_cpu_seconds(worker.pid)
        lag_max = 0.0
        profiler = None
        profile_path = RESULTS / f"{args.name}_listener_profile.txt"
        if args.profile:  # the first half of the offered load
            profiler = py_spy(listener.pid, max(1, int(args.calls / args.rate / 2)), profile_path)
        for k in range(args.calls):
            delay = t0 + k / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:  # behind: still let the load PBX's sessions write and answer Pings (a silent PBX is "half-open")
                lag_max = max(lag_max, -delay)
                await asyncio.sleep(0)
            capture = captures[k % len(captures)]
            caller = CAPTURE_CALLERS[capture.name]
            index = rng.randrange(args.accounts)
            raw = customers.contact_number(index)
            number = raw if caller.startswith("+") else "8" + raw[2:]
            pbx.start_call(capture, caller=caller, number=number, holder="", group=k % args.groups)
            if (k + 1) % args.every == 0:
                samples.append({"calls": k + 1, "rss_mib": round(rss_mib(listener.pid), 1),
                                "cpu_s": round(cpu_seconds(listener.pid) - cpu0, 2),
                                "t": round(time.perf_counter() - t0, 1), "live_calls": pbx.live_calls,
                                "backlog": await listener_backlog(http_metrics, metrics_url)})
            if pbx.session is None:
                raise RuntimeError("the listener dropped its AMI link")
        offered = time.perf_counter() - t0
        drain_samples = asyncio.create_task(sample_while_draining(samples, listener.pid, http_metrics, metrics_url,
                                                                  cpu0=cpu0, t0=t0, calls=args.calls))
        if profiler is not None:
            profiler.wait(timeout=120)
        await pbx.drain(timeout=300)
        settle = await wait_idle(listener.pid)
        drain_samples.cancel()
        cpu = cpu_seconds(listener.pid) - cpu0
        worker_cpu = tree_cpu_seconds(worker.pid) - worker_cpu0
        rss_end = rss_mib(listener.pid)
        await asyncio.sleep(args.idle_seconds)
        rss_idle = rss_mib(listener.pid)
        worker_backlog = await _queue_length(settings.redis_url)
        together = await round_trips(http_metrics, metrics_url)
        sent, by_mask, by_filter = pbx.sent, pbx.filtered, pbx.events_filtered
    finally:
        for process in reversed(processes):
            process.stop()
        await pbx.stop()
    at = {s["calls"]: s["rss_mib"] for s in samples if not s.get("draining")}
    near = lambda n: at[min(at, key=lambda c: abs(c - n))]  # noqa: E731
    first, last = near(args.calls * 0.2), near(args.calls)
    return {"benchmark": "listener_cost", "store": describe_store(env, args.store), "machine_start": start,
            "calls": args.calls, "rate": args.rate,
            "speed": args.speed, "groups": args.groups, "accounts": args.accounts, "offered_s": round(offered, 1),
            "generator_lag_max_ms": round(lag_max * 1000, 1), "ami_messages_sent": sent,
            "ami_messages_per_call": round(sent / args.calls, 1), "ami_filter": args.ami_filter,
            "ami_messages_kept_out": {"by_login_event_mask": by_mask, "by_event_filter": by_filter},
            "settle_s": round(settle, 1), "cpu_s": round(cpu, 1),
            "cpu_s_per_1000_calls": round(cpu / args.calls * 1000, 2),
            "worker_cpu_s_per_1000_calls": round(worker_cpu / args.calls * 1000, 2),
            "rss_mib": {"start": samples[0]["rss_mib"], "at_20pct": first, "at_end_under_load": last,
                        "after_drain": round(rss_end, 1), "idle": round(rss_idle, 1)},
            "rss_growth_20pct_to_end": round(last / first - 1, 4),
            "worker_backlog_at_end": worker_backlog, "round_trips": together, "samples": samples,
            "machine_end": machine(),
            **({"listener_profile": top_frames(profile_path)} if args.profile else {})}


async def listener_backlog(http: Any, url: str) -> dict[str, int]:
    """``callercard_listener_backlog`` by kind, from the listener's metrics port ({} when it does not answer)."""
    try:
        text = (await http.get(url)).text
    except Exception:  # noqa: BLE001  # a busy listener may not answer in time: the sample goes without
        return {}
    return {what: int(size) for what, size in by_what(text, "callercard_listener_backlog").items()}


async def sample_while_draining(samples: list[dict[str, Any]], pid: int, http: Any, url: str, *, cpu0: float,
                                t0: float, calls: int, every: float = 10.0) -> None:
    """After the last call is offered: what the listener still holds, every ``every`` s until it is idle."""
    while True:
        await asyncio.sleep(every)
        samples.append({"calls": calls, "draining": True, "rss_mib": round(rss_mib(pid), 1),
                        "cpu_s": round(cpu_seconds(pid) - cpu0, 2), "t": round(time.perf_counter() - t0, 1),
                        "backlog": await listener_backlog(http, url)})


async def _queue_length(redis_url: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        return int(await client.llen("callercard"))
    finally:
        await client.aclose()


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = [s for s in result["samples"] if not s.get("draining")]
    fig, rss = plt.subplots(figsize=(8, 4))
    rss.plot([s["calls"] for s in samples], [s["rss_mib"] for s in samples], color="tab:blue")
    rss.set_xlabel("calls replayed")
    rss.set_ylabel("listener RSS, MiB", color="tab:blue")
    rss.set_ylim(bottom=0)
    cpu = rss.twinx()
    cpu.plot([s["calls"] for s in samples], [s["cpu_s"] for s in samples], color="tab:red")
    cpu.set_ylabel("listener CPU, s (cumulative)", color="tab:red")
    fig.suptitle(f"Listener at {result['rate']:g} calls/s (×{result['speed']:g} speed): "
                 f"{result['cpu_s_per_1000_calls']} CPU s / 1000 calls")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.listener_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=150, help="new calls per second")
    parser.add_argument("--speed", type=float, default=10, help="replay speed factor of each call")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--every", type=int, default=1000, help="sample every N calls")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=5)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--name", default="listener_cost")
    parser.add_argument("--profile", action="store_true", help="py-spy the listener for the first half of the load")
    store_argument(parser)
    ami_filter_argument(parser)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    write_result(args.name, result, store=result.pop("store"))
    plot(result, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
