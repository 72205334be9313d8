"""The listener's AMI link against the simulator: a wrong secret. (Broken links: tests/faults/test_ami_link.py.)"""

from __future__ import annotations

import asyncio

import httpx

from amisim import AmiSimulator, load_capture
from callercard.settings import Settings
from tests.support.captures import capture_path
from tests.support.processes import Process


async def test_a_wrong_secret_is_reported_in_status_and_retried_with_backoff(
        settings: Settings, service_env: dict[str, str], api_process: Process,
        admin_api: httpx.AsyncClient) -> None:
    simulator = AmiSimulator(load_capture(capture_path("answered_agent_hangs_up.jsonl")),
                             username=settings.ami_username, secret="the-pbx-has-another-secret", speed=1.0)
    await simulator.start()
    listener = Process("listener-login-failed", ["listener"],
                       {**service_env, "CALLERCARD_AMI_PORT": str(simulator.port)}).start()
    try:
        await asyncio.sleep(8)
        status = (await admin_api.get("/status")).json()
        logins = [a for a in simulator.received_actions if a.get("Action", "").lower() == "login"]
        assert listener.popen is not None and listener.popen.poll() is None, "the listener must not crash"
    finally:
        listener.stop()
        await simulator.stop()
    assert status["dependencies"]["ami"] == {"ok": False, "detail": "authentication failed: Authentication failed"}
    # Each refusal takes Asterisk 1 s; backoff waits 1, 2, 4 s between tries: 3 tries in 8 s, not a crash loop.
    assert len(logins) == 3, [a.get("ActionID") for a in logins]
