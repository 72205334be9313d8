"""Garbage in: property-based requests to every API operation, malformed AMI traffic, import files with broken rows."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from amisim import AmiSimulator, load_capture
from callercard.keys import store as keys_store
from callercard.settings import Settings
from tests.faults.conftest import events_by_call, wait_http, wait_no_open_popups, wait_records
from tests.support.agents import AgentPage
from tests.support.captures import capture_path
from tests.support.faults import call_ids, free_port, report
from tests.support.processes import Process, run_cli
from tests.support.scenarios import SCENARIOS

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
MAX_EXAMPLES = 6  # per operation and phase: about 1,000 requests and 6-10 s per credential kind here


def rss_kib(process: Process) -> int:
    assert process.popen is not None
    status = Path(f"/proc/{process.popen.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


@pytest.fixture
async def api_with_pbx(settings: Settings, fault_env: dict[str, str], start) -> str:  # type: ignore[no-untyped-def]
    """An API process whose PBX is a simulator (for queue and dial actions), with a listener logged in to it so
    ``/status`` is all ok; returns its URL."""
    simulator = AmiSimulator(load_capture(capture_path("member_login_logout.jsonl")), username=settings.ami_username,
                             secret=settings.ami_secret.get_secret_value(), speed=1.0)
    await simulator.start()
    start("listener", ami_port=simulator.port, redis_url=fault_env["CALLERCARD_REDIS_URL"])
    port = free_port()
    start("api", api_port=port, ami_port=simulator.port, redis_url=fault_env["CALLERCARD_REDIS_URL"])
    await simulator.wait_logins(1, timeout=30)
    await wait_http(f"http://127.0.0.1:{port}/status")
    yield f"http://127.0.0.1:{port}"
    await simulator.stop()


@pytest.mark.parametrize("credential", ["none", "pbx", "agent", "agent_token", "supervisor", "admin", "crm"])
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        credential: str, settings: Settings, db: AsyncDatabase, admin_api: httpx.AsyncClient, api_with_pbx: str,
        tmp_path: Path) -> None:
    api_url = api_with_pbx
    await admin_api.put("/api/v1/agents/anna", json={"name": "Anna Smirnova", "devices": ["PJSIP/201"]})
    keys = {"none": None, "pbx": settings.pbx_api_key.get_secret_value(),
            "admin": settings.admin_api_key.get_secret_value(),
            "agent": (await keys_store.create(db, role="agent", name="anna", agent_id="anna"))[1],
            "supervisor": (await keys_store.create(db, role="supervisor", name="olga"))[1],
            "crm": (await keys_store.create(db, role="crm", name="the CRM"))[1],
            # The widget's credential: the agent's API token from the token endpoint.
            "agent_token": (await admin_api.post("/api/v1/agents/anna/token")).json()["api_token"]}
    async with asyncio.timeout(20), httpx.AsyncClient(base_url=api_url) as client:  # the listener reports in
        while (await client.get("/status")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    command = [str(SCHEMATHESIS), "run", f"{api_url}/openapi.json", "--checks", CHECKS,
               "--max-examples", str(MAX_EXAMPLES), "--request-timeout", "10", "--workers", "1"]
    if keys[credential]:
        command += ["-H", f"Authorization: Bearer {keys[credential]}"]

    def run() -> subprocess.CompletedProcess[str]:
        # Its own directory: schemathesis leaves a .schemathesis/ cache where it runs.
        return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)

    result = await asyncio.to_thread(run)
    if result.returncode and "Traceback" in result.stdout and " ST" not in result.stdout:
        result = await asyncio.to_thread(run)  # schemathesis itself crashed (not a finding): once more
    summary = result.stdout[result.stdout.find("SUMMARY"):]
    generated = re.search(r"(\d+) generated", summary)
    report(f"schemathesis_{credential}", rc=result.returncode, cases=int(generated.group(1)) if generated else None)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def fuzz_frames(seed: int) -> list[bytes]:
    """Random and malformed AMI traffic: what a confused PBX, a proxy or line noise could send."""
    rng = random.Random(seed)
    frames = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))) for _ in range(300)]
    frames += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))) + b"\r\n\r\n" for _ in range(300)]
    frames += [b":\r\n\r\n", b"Event\r\n\r\n", b"Event:\r\n\r\n", b": : :\r\n\r\n", b"\r\n\r\n\r\n\r\n", b"\x00" * 512,
               b"Event: Hangup\r\nLinkedid: 1.1\r\nLinkedid: 2.2\r\nUniqueid: 1.1\r\n\r\n",  # a repeated header
               b"Event: Newchannel\r\nChannel: Local/201@agents-0000abcd;1\r\nUniqueid\r\nLinkedid\r\n\r\n",
               b"Response: Success\r\nActionID: not-ours\r\nMessage: who asked?\r\n\r\n",
               b"Response: Follows\r\nActionID: nobody\r\n\r\n",
               (b"Event: Newchannel\r\nCallerIDNum: \xff\xfe\xfd\xc3\x28\r\nContext: incoming\r\n"
                b"Uniqueid: 77.1\r\nLinkedid: 77.1\r\n\r\n"),  # invalid UTF-8
               b"Event: Hangup\r\nUniqueid: 77.1\r\nLinkedid: 77.1\r\nChannel: \xed\xa0\x80\r\n\r\n",
               b"Event: TotallyUnknownEvent\r\nFoo: bar\r\n\r\n",
               b"Event: QueueCallerJoin\r\nLinkedid: 88.1\r\nUniqueid: 88.1\r\nCallerIDNum: " + b"9" * 5000
               + b"\r\n\r\n",
               b"Event: Hangup\r\nLinkedid: 88.1\r\nUniqueid: 88.1\r\n\r\n",
               b"Event: Newchannel\r\nX-Big: " + b"A" * (1024 * 1024) + b"\r\nLinkedid: 99.1\r\n\r\n",  # 1 MB header
               # events for calls nobody announced, to phones that are no agent's
               b"Event: AgentConnect\r\nLinkedid: 12345.6\r\nDestChannel: Local/901@agents-00000001;1\r\n\r\n",
               b"Event: DialEnd\r\nLinkedid: 12345.7\r\nDestChannel: PJSIP/902-1;1\r\nDialStatus: ANSWER\r\n\r\n",
               b"Event: AgentCalled\r\nLinkedid: 12345.8\r\nDestChannel: PJSIP/903-1\r\nQueue: sales\r\n\r\n",
               b"Event: Hangup\r\nLinkedid: 12345.8\r\nUniqueid: 12345.8\r\nChannel: PJSIP/903-1\r\n\r\n",
               b"Event: BlindTransfer\r\n\r\n", b"Event: AttendedTransfer\r\nLinkedid: 5.5\r\n\r\n"]
    rng.shuffle(frames)
    return frames


def flood(count: int) -> bytes:
    """``count`` events of every kind the flow reads, for calls nobody knows, each call ending."""
    kinds = ["Newchannel", "DialBegin", "AgentCalled", "DialEnd", "AgentConnect", "BridgeEnter", "VarSet", "Hangup"]
    out = []
    for n in range(count):
        call = f"4242.{n // len(kinds)}"
        out.append(f"Event: {kinds[n % len(kinds)]}\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-{n:08x}\r\n"
                   f"Context: default\r\nUniqueid: {call}\r\nLinkedid: {call}\r\nDestChannel: PJSIP/999-{n:08x}\r\n"
                   f"DialStatus: ANSWER\r\nCallerIDNum: 8495{n % 10_000_000:07d}\r\n\r\n")
    return "".join(out).encode()


async def test_ami_garbage_leaves_the_listener_alive_with_bounded_memory_and_working(
        settings: Settings, api_process: Process, pages: dict[str, AgentPage], db: AsyncDatabase,
        start) -> None:  # type: ignore[no-untyped-def]
    scenario = "ringall_one_answers"
    capture = load_capture(capture_path(f"{scenario}.jsonl"))
    simulator = AmiSimulator(capture, username=settings.ami_username, secret=settings.ami_secret.get_secret_value(),
                             speed=2.0, shared_timeline=True)
    await simulator.start()
    start("worker")
    listener = start("listener", ami_port=simulator.port)
    try:
        await simulator.wait_logins(1, timeout=30)
        await asyncio.sleep(1)
        before = rss_kib(listener)
        for frame in fuzz_frames(seed=8):
            await simulator.broadcast(frame)
        await simulator.broadcast(b"\r\n\r\n")  # whatever half-message random bytes left open ends here
        middle = rss_kib(listener)
        for _ in range(3):  # 30,000 events in three floods: memory must level off, not grow with each
            await simulator.broadcast(flood(10_000))
            await asyncio.sleep(2)
        after = rss_kib(listener)
        assert listener.popen is not None and listener.popen.poll() is None, "the listener must not exit"
        assert len(simulator.login_times) == 1, "garbage within limits does not cost the link"
        simulator.start_timeline()  # then a real call: the listener still works
        await simulator.wait_finished(timeout=30)
        records = await wait_records(db, call_ids(capture), timeout=30)
        still_open = await wait_no_open_popups(pages, timeout=10)
    finally:
        await simulator.stop()
    expected, outcome, answered_by = (SCENARIOS[scenario].event_names, SCENARIOS[scenario].outcome,
                                     SCENARIOS[scenario].answered_by)
    [call] = call_ids(capture)
    assert {a: events_by_call(p).get(call, []) for a, p in pages.items()} == {a: expected.get(a, []) for a in pages}
    assert {a: [c for c in events_by_call(p) if c != call] for a, p in pages.items()} == {a: [] for a in pages}, \
        "no popup for garbage"
    assert still_open == {}
    assert (records[call]["outcome"], records[call]["answered_by"]) == (outcome, answered_by)
    report("ami_fuzz", frames=len(fuzz_frames(seed=8)), flood_events=30_000, rss_before_mib=before // 1024,
           rss_after_garbage_mib=middle // 1024, rss_after_floods_mib=after // 1024, link_drops=0)
    assert after - before < 64 * 1024, f"listener memory grew by {(after - before) // 1024} MiB"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_import_with_broken_rows_reports_them_and_imports_the_rest(
        suffix: str, tmp_path: Path, env: dict[str, str], settings: Settings) -> None:
    path = tmp_path / f"customers{suffix}"
    if suffix == ".csv":
        path.write_bytes(b"id,holder,status,contact_phone,tags\n"
                         b"B-1,Ivan Petrov,active,84951234567,vip\n"
                         b"B-2,,active,84957654321,\n"                          # no holder
                         b"B-3,Olga \xff\xfe Ivanova,active,84957654322,\n"     # invalid UTF-8: replaced, kept
                         b"B-4,Anna Orlova,active,12ab,\n"                      # bad phone
                         b"B-5,Too,many,fields,a,b,c,d\n"
                         b"B-6,Pavel Orlov,Not Valid!,84951112233,\n"         # bad status
                         b"B-7,Vera Kozlova,active,+7 903 111 22 33,\n")
        good, bad = {"B-1", "B-3", "B-7"}, {3, 5, 6, 7}
    else:
        path.write_bytes(b'{"id": "J-1", "holder": "Ivan Petrov", "phones": [{"number": "84951234567"}]}\n'
                         b'{"id": "J-2", "holder": \n'                                           # broken JSON
                         b'["not", "an", "object"]\n'
                         b'{"id": "J-4", "holder": "X", "phones": [{"number": "12ab"}]}\n'        # bad phone
                         b'{"id": "", "holder": "No Id"}\n'
                         b'\xff\xfe{"id": "J-6"}\n'                                              # invalid UTF-8
                         b'{"id": "J-7", "holder": "Vera Kozlova", "phones": [{"number": "+79031112233"}]}\n')
        good, bad = {"J-1", "J-7"}, {2, 3, 4, 5, 6}
    result = run_cli(env, "import", "customers", str(path))
    assert result.returncode == 0, result.stderr
    reported = {int(n) for n in re.findall(r"line (\d+):", result.stdout)}
    assert reported >= bad, result.stdout
    assert f"created {len(good)}," in result.stdout, result.stdout
    from pymongo import MongoClient

    with MongoClient(settings.mongo_url) as client:
        imported = {doc["_id"] for doc in client[settings.mongo_database]["accounts"].find({}, {"_id": 1})}
    assert imported == good
