"""Active and standby listeners for one PBX: one publishes, the other takes over when it dies or freezes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.lease import active_holder
from callercard.pbxs import DEFAULT_PBX
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import burst, call_ids, call_spans, call_starts, free_port, kill_group, report
from tests.support.processes import Process, http_answers
from tests.support.scenarios import SCENARIOS

SCENARIO = "ringall_one_answers"
EXPECTED = SCENARIOS[SCENARIO].event_names
LEASE = 5.0  # the default
TAKEOVER_BOUND = 5.0  # the issue's: active within 5 s of the lease lapsing


class LeaseWatch:
    """Who holds the PBX's lease, polled every 20 ms: when it lapsed and when the standby took it."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self.changes: list[tuple[float, str | None]] = []

    async def run(self) -> None:
        while True:
            holder = await active_holder(self._client, DEFAULT_PBX)
            if not self.changes or self.changes[-1][1] != holder:
                self.changes.append((time.monotonic(), holder))
            await asyncio.sleep(0.02)

    def first(self, holder: str | None, after: float) -> float | None:
        return next((at for at, who in self.changes if who == holder and at >= after), None)

    async def wait_for(self, holder: str, timeout: float) -> float:
        async with asyncio.timeout(timeout):
            while not self.changes or self.changes[-1][1] != holder:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return self.changes[-1][0]


@asynccontextmanager
async def watching(settings: Settings) -> AsyncIterator[LeaseWatch]:
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    watch = LeaseWatch(client)
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        # Bounded: one CI run sat here for minutes after the test's last step (a Redis read that did not end on
        # cancellation, by all signs); the watch has told the test all it needed by then.
        await asyncio.wait([task], timeout=5)
        await asyncio.wait_for(client.aclose(), 5)


def simulator_for(settings: Settings, *, calls: int, spacing: float, speed: float) -> AmiSimulator:
    timeline = burst(load_capture(capture_path(f"{SCENARIO}.jsonl")), calls=calls, spacing=spacing)
    return AmiSimulator(timeline, username=settings.ami_username, secret=settings.ami_secret.get_secret_value(),
                        speed=speed, shared_timeline=True)


def duplicated(pages: dict[str, AgentPage]) -> dict[str, list[str]]:
    """Per agent, the calls for which some card event came twice (a popup shown twice, closed twice)."""
    return {agent: dups for agent, page in pages.items()
            if (dups := [call for call, events in events_by_call(page).items() if len(events) != len(set(events))])}


async def assert_logged_once(db: AsyncDatabase, calls: set[str]) -> None:
    records = await wait_records(db, calls, timeout=40)
    assert await db["calls"].count_documents({}) == len(calls), "exactly one record per call"
    assert {r["pbx"] for r in records.values()} == {DEFAULT_PBX}


async def test_two_listeners_for_one_pbx_give_every_agent_exactly_one_listeners_popups(
        settings: Settings, env: dict[str, str], api_process: Process, pages: dict[str, AgentPage],
        db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    simulator = simulator_for(settings, calls=6, spacing=1.0, speed=2.0)
    await simulator.start()
    api_port = free_port()
    api = start("api", api_port=api_port)
    start("worker")
    start("listener", "a", ami_port=simulator.port, listener_id="lst-a")
    try:
        await simulator.wait_logins(1, timeout=30)
        standby = start("listener", "b", ami_port=simulator.port, listener_id="lst-b")
        standby.wait_until(lambda: "standby for PBX default" in standby.log_path.read_text())
        api.wait_until(http_answers(f"http://127.0.0.1:{api_port}/status"))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
            async with asyncio.timeout(20):
                while (link := (await client.get("/status")).json()["pbxs"][DEFAULT_PBX]) \
                        .get("standby_listeners") != ["lst-b"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        assert {k: link[k] for k in ("ok", "link", "active_listener", "standby_listeners")} == \
            {"ok": True, "link": "up", "active_listener": "lst-a", "standby_listeners": ["lst-b"]}
        simulator.start_timeline()
        await simulator.wait_finished(timeout=60)
        calls = call_ids(simulator.capture)
        await assert_logged_once(db, calls)
        assert await wait_no_open_popups(pages, timeout=10) == {}
    finally:
        async with asyncio.timeout(20):  # a hang here fails the test instead of the suite
            await simulator.stop()
    assert {agent: events_by_call(page) for agent, page in pages.items()} == \
        {agent: dict.fromkeys(calls, EXPECTED[agent]) for agent in pages}
    assert len(simulator.login_times) == 1, "the standby never logged in to the PBX"


async def test_the_standby_takes_over_when_the_active_listener_is_killed_mid_calls(
        settings: Settings, env: dict[str, str], api_process: Process, pages: dict[str, AgentPage],
        db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    # At 0.4 of the recorded pace a call lasts 8 s, longer than the takeover: no call begins and ends unseen.
    speed = 0.4
    simulator = simulator_for(settings, calls=10, spacing=2.0, speed=speed)
    await simulator.start()
    start("worker")
    active = start("listener", "a", ami_port=simulator.port, listener_id="lst-a")
    async with watching(settings) as lease:
        try:
            await simulator.wait_logins(1, timeout=30)
            standby = start("listener", "b", ami_port=simulator.port, listener_id="lst-b")
            standby.wait_until(lambda: "standby for PBX default" in standby.log_path.read_text())
            simulator.start_timeline()
            started = simulator.timeline_started
            await pages["vera"].wait_for(5, timeout=60)  # calls answered, more ringing
            kill_group(active)  # SIGKILL: no hand-over, the lease simply stops being renewed
            killed = time.monotonic()
            took = await lease.wait_for("lst-b", timeout=LEASE + 10)
            lapsed = lease.first(None, after=killed) or took
            logged_in = await simulator.wait_logins(2, timeout=15)
            await simulator.wait_finished(timeout=90)
            calls = call_ids(simulator.capture)
            await assert_logged_once(db, calls)
            still_open = await wait_no_open_popups(pages, timeout=10)
        finally:
            async with asyncio.timeout(20):  # a hang here fails the test instead of the suite
                await simulator.stop()
    unseen = [c for c, (first, last) in call_spans(simulator.capture, speed).items()
              if killed < started + first and started + last < logged_in]
    assert not unseen, f"calls {unseen} began and ended while no listener was active"
    assert still_open == {}, "popups of calls that ended during the takeover are closed"
    assert duplicated(pages) == {}
    later = {c for c, at in call_starts(simulator.capture, speed).items() if started + at > logged_in}
    assert later, "no call began after the takeover: the test proved nothing"
    assert all(events_by_call(page).get(c) == EXPECTED[a] for c in later for a, page in pages.items())
    log = standby.log_path.read_text()
    ended = [int(n) for n in re.findall(r"live channels, (\d+) stale calls ended", log)]
    assert "took over" in log and ended and ended[0] >= 1, "no call ended during the takeover: nothing to close"
    assert logged_in - lapsed < TAKEOVER_BOUND
    report("listener_sigkill_takeover", lease_s=LEASE, lapsed_after_kill_s=round(lapsed - killed, 2),
           active_after_lapse_s=round(took - lapsed, 2), logged_in_after_lapse_s=round(logged_in - lapsed, 2),
           logged_in_after_kill_s=round(logged_in - killed, 2), calls=len(calls), ended_meanwhile=ended[0],
           records_lost=0, duplicated_popups=0)


class CountingProxy:
    """Forwards to Centrifugo's server API and counts what the client sent (its publishes), from ``mark()`` on.

    Only requests that begin after the mark count: a frozen process may have been stopped in the middle of
    writing a publish it decided while still active, and writes its rest on waking (``in_flight_since_mark``).
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        assert parts.hostname and parts.port
        self.target = (parts.hostname, parts.port)
        self.port = free_port()
        self.sent_since_mark = 0
        self.in_flight_since_mark = 0
        self._marks = 0
        self._server: asyncio.Server | None = None

    def url(self, original: str) -> str:
        return urlsplit(original)._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    def mark(self) -> None:
        self.sent_since_mark = 0
        self.in_flight_since_mark = 0
        self._marks += 1

    async def start(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, counted: bool) -> None:
            begun_at_mark = self._marks  # the mark current when this connection's latest request began
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    if counted and data.startswith((b"POST ", b"GET ")):
                        begun_at_mark = self._marks
                    if counted and begun_at_mark == self._marks:
                        self.sent_since_mark += len(data)
                    elif counted:
                        self.in_flight_since_mark += len(data)
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer, counted=True), pump(up_reader, writer, counted=False))


async def test_a_frozen_ex_leader_that_wakes_after_the_takeover_publishes_and_writes_nothing(
        settings: Settings, env: dict[str, str], api_process: Process, pages: dict[str, AgentPage],
        db: AsyncDatabase, start) -> None:  # type: ignore[no-untyped-def]
    speed = 0.5
    simulator = simulator_for(settings, calls=8, spacing=2.0, speed=speed)
    await simulator.start()
    start("worker")
    api_url = str(settings.centrifugo_api_url)
    centrifugo_api = await CountingProxy(api_url).start()
    active = start("listener", "a", ami_port=simulator.port, listener_id="lst-a",
                   centrifugo_api_url=centrifugo_api.url(api_url))
    async with watching(settings) as lease:
        try:
            await simulator.wait_logins(1, timeout=30)
            standby = start("listener", "b", ami_port=simulator.port, listener_id="lst-b")
            standby.wait_until(lambda: "standby for PBX default" in standby.log_path.read_text())
            simulator.start_timeline()
            await pages["vera"].wait_for(2, timeout=60)
            assert active.popen is not None and centrifugo_api.sent_since_mark > 0, "the active one published"
            os.kill(active.popen.pid, signal.SIGSTOP)  # frozen: its AMI socket stays open and fills with events
            stopped = time.monotonic()
            took = await lease.wait_for("lst-b", timeout=LEASE + 10)
            await simulator.wait_logins(2, timeout=15)
            await asyncio.sleep(3)  # more events for the frozen one, which it reads at once on waking
            centrifugo_api.mark()
            os.kill(active.popen.pid, signal.SIGCONT)
            active.wait_until(lambda: "back to standby" in active.log_path.read_text(), timeout=20)
            await simulator.wait_finished(timeout=90)
            calls = call_ids(simulator.capture)
            await assert_logged_once(db, calls)
            records = await wait_records(db, calls, timeout=10)
            still_open = await wait_no_open_popups(pages, timeout=10)
            sent_after_waking = centrifugo_api.sent_since_mark
            finished_after_waking = centrifugo_api.in_flight_since_mark
        finally:
            async with asyncio.timeout(20):  # a hang here fails the test instead of the suite
                await simulator.stop()
            await centrifugo_api.stop()
    log = active.log_path.read_text()
    assert sent_after_waking == 0, f"the ex-leader sent Centrifugo {sent_after_waking} bytes after waking"
    assert "not published: this listener is not the active one" in log, "the ex-leader had nothing to publish"
    assert "lost the lease of PBX default" in log
    assert still_open == {} and duplicated(pages) == {}
    scenario = SCENARIOS[SCENARIO]
    assert {(r["outcome"], tuple(r["answered_by"])) for r in records.values()} == \
        {(scenario.outcome, tuple(scenario.answered_by))}, "no record overwritten by the ex-leader's stale view"
    report("listener_sigstop_ex_leader", frozen_until_takeover_s=round(took - stopped, 2),
           bytes_to_centrifugo_after_waking=sent_after_waking,
           bytes_of_a_request_begun_before_the_freeze=finished_after_waking, calls=len(calls), records_lost=0)
