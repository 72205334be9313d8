"""Starting the real backing services and callercard's own processes for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def services_up(profile: str = "test", *, store: str | None = None) -> dict[str, str]:
    """Start (or reuse) Redis, the store (the script's default, or ``store``) and Centrifugo; return the generated
    CALLERCARD_* environment."""
    chosen = ["--store", store] if store else []
    subprocess.run([str(ROOT / "scripts" / "services.sh"), "--profile", profile, *chosen, "up"], check=True)
    env_file = ROOT / "var" / profile / "callercard.env"
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("CALLERCARD_"):
            values[key] = value
    return values


def settings_kwargs(env: Mapping[str, str]) -> dict[str, str]:
    return {key.removeprefix("CALLERCARD_").lower(): value for key, value in env.items()}


class Process:
    """A callercard subprocess with its output in test-artifacts/<name>.log."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], *, new_session: bool = False) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.new_session = new_session  # its own process group, so a test can kill it with its children
        self.name = name
        self.args = args
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = ARTIFACTS / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        # A restarted process's log follows its predecessor's; a first start begins a fresh one.
        with self.log_path.open("ab" if self.popen is not None else "wb") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "callercard.cli", *self.args], env=self.env,
                                          stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                          start_new_session=self.new_session)
        return self

    def stop(self, sig_timeout: float = 10) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(sig_timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            if ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")


def run_cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``callercard ARGS`` as an admin runs it from a shell, with ``env``; the caller checks the outcome."""
    return subprocess.run([sys.executable, "-m", "callercard.cli", *args], env={**env, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def http_answers(url: str) -> Callable[[], bool]:
    """True once callercard's API answers at ``url``. Another server on that port (another checkout's
    Centrifugo, whose ports can meet the API's under some port offsets) fails at once, naming it: otherwise
    every test after would talk to the wrong server, and the API, unable to bind, would exit unnoticed."""
    def check() -> bool:
        try:
            response = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return False
        server = response.headers.get("server", "")
        if server != "uvicorn":
            raise RuntimeError(f"{url} is answered by another server ({server or 'no Server header'}, "
                               f"HTTP {response.status_code}), not callercard's API: is the port taken?")
        return True

    return check
