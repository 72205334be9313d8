"""Popup latency and card readiness under load: real listener, worker, Centrifugo and agents' clients.

The load PBX (``bench.loadpbx``) serves cloned recorded calls at ``--rates`` new calls per second for
``--seconds`` each, with recorded timing, to a real ``callercard listener``; a real ``callercard worker``
resolves cards; every agent (``--groups`` groups of Anna, Boris and Vera, each with their own devices)
is subscribed with a real centrifuge-python client on a token from ``POST /api/v1/agents/{id}/token``.
Callers are drawn without repetition from a generated base (``--accounts``), so every lookup is cold.

- popup latency: per ringing leg, the time from the load PBX writing the leg's first ``AgentCalled`` /
  ``DialBegin`` to the agent's client receiving ``ringing``;
- floor, in the same run and under the same load: a bare ``cent`` publish to a subscribed client on the
  same Centrifugo (``--floor-rate`` per second), from the publish call to the client's receipt;
- lost (a leg rung, no ``ringing``), misrouted (``ringing`` on a call that never rang that agent, or on
  another agent's page) and duplicated popups;
- card readiness: whether each call's first ``ringing`` carried a resolved card with the right holder,
  and the lookup's latency from call entry (the card cache entry's ``built_at`` minus the first AMI write).

    python -m bench.popup --rates 10 50 100 --seconds 60

Writes bench/results/popup.json and popup.png (``--profile`` adds a py-spy profile of the listener
during the ``--profile-rate`` phase: popup_listener_profile.txt, the top frames also in the JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
from cent import PublishRequest
from cent.exceptions import CentError
from centrifuge import PublicationContext
from pymongo import MongoClient

from amisim import load_capture
from bench import customers
from bench.common import (
    CAPTURES,
    RESULTS,
    VAR,
    Proc,
    ami_filter_argument,
    ami_filter_options,
    cpu_seconds,
    describe_store,
    fresh_state,
    gc_pauses,
    gc_pauses_since,
    histogram,
    machine,
    py_spy,
    round_trips,
    round_trips_since,
    rss_mib,
    services_up,
    start_api,
    start_worker,
    store_argument,
    summary_ms,
    top_frames,
    tree_cpu_seconds,
    within,
    write_result,
)
from bench.loadpbx import CallPlan, LoadPbx
from bench.lookup_api import ensure_base
from callercard import centrifugo
from callercard.settings import Settings
from tests.support.agents import AgentPage

# capture -> the caller number as recorded (replaced by a number of the base in the same format)
CAPTURE_CALLERS = {
    "answered_agent_hangs_up": "84951234567",
    "answered_caller_hangs_up": "+79161234567",
    "no_answer_then_next_agent": "84957654321",
    "no_answer_then_abandon": "+79161234567",
    "ringall_one_answers": "+74959876543",
    "abandon_while_ringing": "89031112233",
    "decline_then_next_agent": "84956667788",
    "blind_transfer": "84955556677",
}
AGENTS = {"201": ("anna", ["support", "sales"]), "202": ("boris", ["support", "sales"]), "203": ("vera", ["sales"])}
FLOOR_AGENT = "bench-floor"
COLLECTIONS = ("card_cache", "calls", "number_calls", "agents", "dnc", "accounts", "phone_index", "webhook_endpoints",
               "webhook_deliveries", "counters", "callback_claims", "heard_names")
WEBHOOK_KINDS = ["call.ringing", "call.answered", "call.missed", "call.ended", "callback.done", "dnc.changed"]
_KEPT = ("accounts", "phone_index")  # the base; everything else starts empty


def agent_id(extension: str, group: int) -> str:
    return f"{AGENTS[extension][0]}-g{group}"


async def put_agent_groups(http: httpx.AsyncClient, groups: int) -> None:
    """Anna, Boris and Vera ``groups`` times over, each group with its own devices (``Local/201g3@agents``)."""
    for group in range(groups):
        for ext, (name, lines) in AGENTS.items():
            body = {"name": f"{name} {group}", "devices": [f"Local/{ext}g{group}@agents"], "lines": lines}
            (await http.put(f"/api/v1/agents/{agent_id(ext, group)}", json=body)).raise_for_status()


class TimedPage(AgentPage):
    """An agent's page that notes when each publication arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[tuple[float, dict[str, Any]]] = []

    async def on_publication(self, ctx: PublicationContext) -> None:
        self.arrivals.append((time.perf_counter(), ctx.pub.data))


async def open_pages(api: httpx.AsyncClient, ids: list[str]) -> dict[str, TimedPage]:
    pages: dict[str, TimedPage] = {}
    for agent in ids:
        body = (await api.post(f"/api/v1/agents/{agent}/token")).raise_for_status().json()
        page = TimedPage(agent_id=agent, token=body["token"], websocket_url=body["websocket_url"],
                         channel=body["channel"])
        await page.open()
        pages[agent] = page
    return pages


async def floor_loop(cent: Any, page: TimedPage, rate: float, stop: asyncio.Event,
                     sent: dict[int, float], errors: list[str]) -> None:
    """Bare publishes at ``rate``; a failed one (e.g. the cent client's timeout under load) is noted."""
    channel = centrifugo.agent_channel(FLOOR_AGENT)
    seq = len(sent)
    while not stop.is_set():
        seq += 1
        sent[seq] = time.perf_counter()
        try:
            await cent.publish(PublishRequest(channel=channel, data={"floor": seq}))
        except CentError as error:
            errors.append(f"{type(error).__name__}: {error}")
        await asyncio.sleep(1 / rate)


async def settle(pages: dict[str, TimedPage], *, quiet: float, timeout: float) -> float:
    """After the last call: wait until no page has received anything for ``quiet`` seconds (a late popup
    is late, not lost), at most ``timeout`` seconds. Returns the seconds waited."""
    started = time.perf_counter()
    count, last_change = -1, started
    while time.perf_counter() - started < timeout:
        now_count = sum(len(p.arrivals) for p in pages.values() if p.agent_id != FLOOR_AGENT)
        if now_count != count:
            count, last_change = now_count, time.perf_counter()
        elif time.perf_counter() - last_change >= quiet:
            break
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


def floor_latencies(page: TimedPage, sent: dict[int, float], seqs: range) -> list[float]:
    arrived = {data["floor"]: at for at, data in page.arrivals if "floor" in data}
    return [(arrived[s] - sent[s]) * 1000 for s in seqs if s in arrived]


def analyse(plans: list[CallPlan], pages: dict[str, TimedPage], device_agent: dict[str, str],
            built_at: dict[str, float]) -> dict[str, Any]:
    """Match every ringing leg the PBX wrote with the ringing the agents received."""
    calls = {p.call_id: p for p in plans}
    expected: dict[tuple[str, str], list[float]] = defaultdict(list)
    for plan in plans:
        for device, at in sorted(plan.rings.values(), key=lambda x: x[1]):
            if device in device_agent:
                expected[(plan.call_id, device_agent[device])].append(at)
    received: dict[tuple[str, str], list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    misrouted = 0
    for agent, page in pages.items():
        for at, data in page.arrivals:
            if data.get("event") != "ringing" or data.get("call_id") not in calls:
                continue
            if data.get("agent_id") != agent:
                misrouted += 1
                continue
            received[(data["call_id"], agent)].append((at, data))
    latencies, lost, duplicated = [], 0, 0
    for key, written in expected.items():
        got = sorted(received.get(key, []), key=lambda x: x[0])
        lost += max(0, len(written) - len(got))
        duplicated += max(0, len(got) - len(written))
        latencies += [(g[0] - w) * 1000 for w, g in zip(written, got, strict=False)]
    misrouted += sum(len(v) for k, v in received.items() if k not in expected)
    # card readiness: the call's first ringing
    first: dict[str, tuple[float, dict[str, Any]]] = {}
    for (call_id, _), got in received.items():
        for at, data in got:
            if call_id not in first or at < first[call_id][0]:
                first[call_id] = (at, data)
    states: Counter[str] = Counter()
    for call_id, (_, data) in first.items():
        card = data.get("card") or {}
        if not card:
            states["no card"] += 1
        elif card.get("pending"):
            states["pending"] += 1
        elif card.get("degraded"):
            states["degraded"] += 1
        elif card.get("kind") == "known" and card.get("display_name") == calls[call_id].holder:
            states["resolved"] += 1
        else:
            states["wrong card"] += 1
    lookup_ms = [(built_at[customers_e164(p.number)] - p.entered_wall) * 1000 for p in plans
                 if customers_e164(p.number) in built_at]
    agent_rings = {p.call_id: [at for device, at in p.rings.values() if device in device_agent] for p in plans}
    entry_to_ring = [(min(agent_rings[p.call_id]) - p.entered) * 1000 for p in plans if agent_rings[p.call_id]]
    rung_calls = len({c for c, _ in expected})
    return {"calls": len(plans), "ringing_legs": sum(len(v) for v in expected.values()), "latency_ms":
            summary_ms(latencies), "lost": lost, "misrouted": misrouted, "duplicated": duplicated,
            "cards": {"calls_rung": rung_calls, "first_ringing": dict(states),
                      "resolved_share": round(states["resolved"] / rung_calls, 4) if rung_calls else None,
                      "lookup_from_entry_ms": summary_ms(lookup_ms),
                      "entry_to_first_ring_ms": summary_ms(entry_to_ring)},
            "_latencies": latencies}


async def failing_endpoint(how: str) -> tuple[asyncio.Server, str]:
    """A webhook receiver that fails every delivery: ``failing`` answers 500 at once, ``hanging`` takes the request
    and never answers (each attempt waits for the sender's timeout)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if how == "hanging":
            await asyncio.sleep(3600)
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"


async def ringing_published(http: httpx.AsyncClient, url: str) -> dict[str, float]:
    """The listener's own part of the popup latency (``callercard_popup_publish_seconds``: the AMI event read to
    Centrifugo's acceptance) for ``ringing``, as cumulative bucket counts."""
    try:
        return histogram((await http.get(url)).text, "callercard_popup_publish_seconds", 'event="ringing"')
    except httpx.HTTPError:  # reported as unknown rather than failing the run
        return {}


async def listener_gc(http: httpx.AsyncClient, url: str) -> dict[str, dict[str, float]]:
    """The listener's garbage collections so far (``callercard_gc_pause_seconds``), per generation."""
    try:
        return gc_pauses((await http.get(url)).text)
    except httpx.HTTPError:  # reported as unknown rather than failing the run
        return {}


def customers_e164(number: str) -> str:
    return "+7" + number[1:] if number.startswith("8") else number


def card_build_times(env: dict[str, str], numbers: list[str]) -> dict[str, float]:
    with MongoClient(env["CALLERCARD_MONGO_URL"], tz_aware=True) as client:
        cache = client[env["CALLERCARD_MONGO_DATABASE"]].card_cache
        found: dict[str, float] = {}
        for start in range(0, len(numbers), 5000):
            for doc in cache.find({"_id": {"$in": numbers[start:start + 5000]}}, {"built_at": 1}):
                found[doc["_id"]] = doc["built_at"].astimezone(UTC).timestamp()
        return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    services = services_up(args.store)
    database = "bench_popup"
    env = {**services, "CALLERCARD_MONGO_DATABASE": database, "CALLERCARD_LOG_LEVEL": args.log_level,
           "CALLERCARD_WEBHOOK_ALLOW_HTTP": "true"}
    settings = Settings(**{k.removeprefix("CALLERCARD_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    start = machine()
    ensure_base(env, args.accounts)
    fresh_state(env, [c for c in COLLECTIONS if c not in _KEPT])
    captures = [load_capture(CAPTURES / f"{name}.jsonl") for name in args.captures]
    pbx = LoadPbx(captures[0], username=settings.ami_username, secret=settings.ami_secret.get_secret_value(),
                  port=settings.ami_port, **ami_filter_options(args.ami_filter))
    await pbx.start()
    processes: list[Proc] = []
    pages: dict[str, TimedPage] = {}
    metrics_http = httpx.AsyncClient(timeout=2)
    receiver, receiver_url = await failing_endpoint(args.webhook) if args.webhook != "none" else (None, "")
    device_agent = {f"Local/{ext}g{g}@agents": agent_id(ext, g) for ext in AGENTS for g in range(args.groups)}
    try:
        api = start_api(env, name="api-popup")
        processes.append(api)
        admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", headers=admin,
                                     timeout=10) as http:
            await put_agent_groups(http, args.groups)
            (await http.put(f"/api/v1/agents/{FLOOR_AGENT}", json={"name": "floor", "devices": [],
                                                                   "lines": []})).raise_for_status()
            pages = await open_pages(http, [*device_agent.values(), FLOOR_AGENT])
            if receiver is not None:  # every event kind, to an endpoint that fails them all
                (await http.post("/api/v1/webhooks", json={"url": receiver_url, "events": WEBHOOK_KINDS,
                                                           "description": f"bench: {args.webhook}"})).raise_for_status()
        worker = start_worker(env, args.worker_concurrency)
        processes.append(worker)
        # What went together (callercard.together), read from the listener's metrics port per phase.
        env["CALLERCARD_LISTENER_METRICS_PORT"] = str(int(env["CALLERCARD_API_PORT"]) + 1000)
        metrics_url = f"http://127.0.0.1:{env['CALLERCARD_LISTENER_METRICS_PORT']}/metrics"
        listener = Proc("listener", ["listener"], env).start()
        processes.append(listener)
        await asyncio.wait_for(pbx.attached.wait(), 60)
        await asyncio.sleep(1)  # the listener's CoreShowChannels after login
        cent = centrifugo.connect(settings)
        floor_page, floor_sent = pages[FLOOR_AGENT], {}
        idle_stop, idle_errors = asyncio.Event(), []
        idle = asyncio.create_task(floor_loop(cent, floor_page, args.floor_rate, idle_stop, floor_sent, idle_errors))
        await asyncio.sleep(args.idle_floor_seconds)
        idle_stop.set()
        await idle
        await asyncio.sleep(0.5)
        result: dict[str, Any] = {"benchmark": "popup", "store": describe_store(env, args.store),
                                  "machine_start": start, "accounts": args.accounts,
                                  "groups": args.groups, "captures": args.captures, "seconds": args.seconds,
                                  "worker_concurrency": args.worker_concurrency, "webhook": args.webhook,
                                  "ami_filter": args.ami_filter,
                                  "idle_floor_ms": summary_ms(floor_latencies(floor_page, floor_sent,
                                                                              range(1, len(floor_sent) + 1))),
                                  "phases": []}
        rng = random.Random(11)
        draws = iter(rng.sample(range(args.accounts), args.accounts))
        for rate in args.rates:
            plans: list[CallPlan] = []
            stop, floor_errors = asyncio.Event(), []
            first_seq = len(floor_sent) + 1
            floor = asyncio.create_task(floor_loop(cent, floor_page, args.floor_rate, stop, floor_sent, floor_errors))
            trips0 = await round_trips(metrics_http, metrics_url)
            published0 = await ringing_published(metrics_http, metrics_url)
            collected0 = await listener_gc(metrics_http, metrics_url)
            cpu0, t0, sent0 = cpu_seconds(listener.pid), time.perf_counter(), pbx.sent
            worker_cpu0 = tree_cpu_seconds(worker.pid)
            profiler = None
            if args.profile and rate == args.profile_rate:
                profile_path = RESULTS / f"{args.name}_listener_profile.txt"
                profiler = py_spy(listener.pid, args.seconds, profile_path)
            total = int(rate * args.seconds)
            lag_max = 0.0
            for k in range(total):
                due = t0 + k / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:  # behind: still let the load PBX's sessions write and answer Pings
                    lag_max = max(lag_max, -delay)
                    await asyncio.sleep(0)
                index = next(draws)
                capture = captures[k % len(captures)]
                caller = CAPTURE_CALLERS[capture.name]
                raw = customers.contact_number(index) if k % 2 else customers.sms_number(index)
                number = raw if caller.startswith("+") else "8" + raw[2:]
                plans.append(pbx.start_call(capture, caller=caller, number=number, holder=customers.holder(index),
                                            group=k % args.groups))
            offered = time.perf_counter() - t0
            await pbx.drain(timeout=120)
            settled = await settle(pages, quiet=args.settle_seconds, timeout=args.late_seconds)
            stop.set()
            await floor
            cpu = cpu_seconds(listener.pid) - cpu0
            worker_cpu = tree_cpu_seconds(worker.pid) - worker_cpu0
            trips = round_trips_since(trips0, await round_trips(metrics_http, metrics_url))
            published = within(published0, await ringing_published(metrics_http, metrics_url))
            collected = gc_pauses_since(collected0, await listener_gc(metrics_http, metrics_url))
            if profiler is not None:
                profiler.wait(timeout=60)
            built = card_build_times(env, [customers_e164(p.number) for p in plans])
            stats = analyse(plans, pages, device_agent, built)
            latencies = stats.pop("_latencies")
            floor_ms = floor_latencies(floor_page, floor_sent, range(first_seq, len(floor_sent) + 1))
            floor_stats = summary_ms(floor_ms)
            lat = stats["latency_ms"]
            if receiver is not None:
                with MongoClient(env["CALLERCARD_MONGO_URL"]) as mongo_client:
                    deliveries = mongo_client[database].webhook_deliveries
                    webhook_state = {status: deliveries.count_documents({"status": status})
                                     for status in ("pending", "retrying", "delivered", "failed")}
            phase = {"rate": rate, "offered_s": round(offered, 2), "settled_s": round(settled, 1),
                     **({"webhook_deliveries": webhook_state} if receiver is not None else {}),
                     "generator_lag_max_ms": round(lag_max * 1000, 1),
                     **stats, "floor_ms": floor_stats, "floor_publish_errors": len(floor_errors),
                     "ratio_to_floor": {q: round(lat[q] / floor_stats[q], 2) for q in ("p50", "p95", "p99", "max")
                                        if lat.get(q) and floor_stats.get(q)},
                     "listener_cpu_s": round(cpu, 2),
                     "ami_messages_per_call": round((pbx.sent - sent0) / len(plans), 1),
                     "listener_cpu_s_per_1000_calls": round(cpu / len(plans) * 1000, 2),
                     "worker_cpu_s_per_1000_calls": round(worker_cpu / len(plans) * 1000, 2),
                     "listener_rss_mib": round(rss_mib(listener.pid), 1), "round_trips": trips,
                     "listener_ringing_published_within_ms": published, "listener_gc_pauses": collected,
                     "machine_end": machine()}
            if profiler is not None:
                phase["listener_profile"] = top_frames(profile_path)
            result["phases"].append(phase)
            result.setdefault("_samples", {})[str(rate)] = {"popup": latencies, "floor": floor_ms}
            (VAR / f"{args.name}.partial.json").write_text(json.dumps({**result, "_samples": None}, indent=2))
            print(f"rate {rate}/s: popup {lat} floor {floor_stats} lost {stats['lost']} misrouted "
                  f"{stats['misrouted']} cards {stats['cards']['first_ringing']}", flush=True)
        await cent.close()
        return result
    finally:
        for page in pages.values():
            await page.close()
        for process in reversed(processes):
            process.stop()
        await pbx.stop()
        await metrics_http.aclose()
        if receiver is not None:
            receiver.close()


def plot(result: dict[str, Any], samples: dict[str, dict[str, list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for rate, series in samples.items():
        for kind, style in (("popup", "-"), ("floor", ":")):
            values = sorted(series[kind])
            if values:
                ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], style,
                        label=f"{kind} at {rate} calls/s")
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (AgentCalled written → ringing received; floor: publish → received)")
    ax.set_ylabel("share of events")
    ax.axvline(50, color="grey", linewidth=0.8)
    ax.legend(fontsize=8)
    ax.set_title("Popup latency vs bare-publish floor (CDF)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.popup", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 100], help="new calls per second")
    parser.add_argument("--seconds", type=int, default=60, help="per rate")
    parser.add_argument("--accounts", type=int, default=10_000, help="customer base size")
    parser.add_argument("--groups", type=int, default=20, help="agent groups (3 agents each)")
    parser.add_argument("--captures", nargs="+", default=list(CAPTURE_CALLERS), choices=list(CAPTURE_CALLERS))
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--floor-rate", type=float, default=20, help="bare publishes per second")
    parser.add_argument("--idle-floor-seconds", type=float, default=5)
    parser.add_argument("--settle-seconds", type=float, default=3, help="quiet time that ends a phase")
    parser.add_argument("--late-seconds", type=float, default=120, help="a popup later than this is lost")
    store_argument(parser)
    parser.add_argument("--webhook", choices=["none", "failing", "hanging"], default="none",
                        help="a webhook endpoint for every event kind that answers 500 (failing) or never (hanging)")
    ami_filter_argument(parser)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", action="store_true", help="py-spy the listener during --profile-rate")
    parser.add_argument("--profile-rate", type=float, default=50)
    parser.add_argument("--name", default="popup", help="result file name")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    samples = result.pop("_samples", {})
    result["machine_end"] = machine()
    write_result(args.name, result, store=result.pop("store"))
    plot(result, samples, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
