"""The install path a new machine takes: an empty binary cache, the services script builds FerretDB and
Centrifugo, starts each, and each answers.

This is the check that would have caught FerretDB v1.24.2 panicking at start on every machine that had no
older binary cached: CI ran where the caches lived and stayed green. Go's own module and build caches stay
warm (``GOCACHE`` is kept), so each build takes seconds; the binary cache (``XDG_CACHE_HOME``) starts empty.
The ``fresh`` profile has its own ports and state, so the suite's own services are not touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from pymongo import MongoClient

from tests.support.processes import ROOT

SERVICES = ROOT / "scripts" / "services.sh"
STATE = ROOT / "var" / "fresh"
FERRETDB, CENTRIFUGO = "v1.24.2", "v6.9.1"


def go_env(name: str) -> str:
    return subprocess.run(["go", "env", name], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # GOCACHE must be pinned first: Go puts its build cache under XDG_CACHE_HOME when that is set.
    env = {**os.environ, "GOCACHE": go_env("GOCACHE"), "GOMODCACHE": go_env("GOMODCACHE"),
           "XDG_CACHE_HOME": str(tmp_path_factory.mktemp("empty-cache")), "CALLERCARD_STORE": "sqlite"}
    services("down", env)
    shutil.rmtree(STATE, ignore_errors=True)
    yield env
    services("down", env)
    shutil.rmtree(STATE, ignore_errors=True)


def services(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SERVICES), "--profile", "fresh", command], env=env, capture_output=True, text=True,
                          timeout=900)


def binary(env: dict[str, str], name: str, version: str) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "callercard" / "go-bin" / f"{name}-{version}" / name


def generated_env() -> dict[str, str]:
    pairs = (line.partition("=") for line in (STATE / "callercard.env").read_text().splitlines())
    return {key: value for key, sep, value in pairs if sep}


def assert_every_service_answers() -> None:
    env = generated_env()
    with MongoClient(env["CALLERCARD_MONGO_URL"], serverSelectionTimeoutMS=5000) as client:
        collection = client["fresh_check"]["probe"]
        collection.insert_one({"_id": "probe", "ok": True})
        assert collection.find_one({"_id": "probe"}) == {"_id": "probe", "ok": True}
        client.drop_database("fresh_check")
    with redis.Redis.from_url(env["CALLERCARD_REDIS_URL"]) as client:
        assert client.ping()
    api = env["CALLERCARD_CENTRIFUGO_API_URL"]
    info = httpx.post(f"{api}/info", json={}, headers={"X-API-Key": env["CALLERCARD_CENTRIFUGO_API_KEY"]},
                      timeout=5).json()
    assert [node["version"] for node in info["result"]["nodes"]] == [f"{CENTRIFUGO.removeprefix('v')} OSS"]


def test_an_empty_binary_cache_builds_binaries_that_start_and_answer(fresh_env: dict[str, str]) -> None:
    result = services("up", fresh_env)
    assert result.returncode == 0, result.stderr
    assert f"building ferretdb {FERRETDB}" in result.stderr and f"building centrifugo {CENTRIFUGO}" in result.stderr
    ferretdb = binary(fresh_env, "ferretdb", FERRETDB)
    centrifugo = binary(fresh_env, "centrifugo", CENTRIFUGO)
    assert f"version: {FERRETDB}" in subprocess.run([ferretdb, "--version"], capture_output=True, text=True,
                                                     check=True).stdout
    assert CENTRIFUGO.removeprefix("v") in subprocess.run([centrifugo, "version"], capture_output=True, text=True,
                                                          check=True).stdout
    assert_every_service_answers()


def test_a_second_run_reuses_the_cached_binaries(fresh_env: dict[str, str]) -> None:
    assert services("down", fresh_env).returncode == 0
    result = services("up", fresh_env)
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr, result.stderr
    assert_every_service_answers()


def test_a_cached_binary_that_does_not_start_is_rebuilt_not_used(fresh_env: dict[str, str]) -> None:
    """What an older script left behind on many machines: a FerretDB that panics at start."""
    assert services("down", fresh_env).returncode == 0
    broken = binary(fresh_env, "ferretdb", FERRETDB)
    broken.write_text("#!/bin/sh\necho 'panic: Invalid build/version/version.txt file content.' >&2\nexit 2\n")
    result = services("up", fresh_env)
    assert result.returncode == 0, result.stderr
    assert f"does not start as {FERRETDB}; rebuilding it" in result.stderr
    assert f"building ferretdb {FERRETDB}" in result.stderr and "building centrifugo" not in result.stderr
    assert_every_service_answers()


def test_the_profile_running_refuses_a_second_start_with_another_port_offset(fresh_env: dict[str, str]) -> None:
    """Both would keep their data under var/fresh/: a second FerretDB on the same SQLite files, the environment
    file rewritten under the first one's users."""
    assert services("up", fresh_env).returncode == 0
    before = (STATE / "callercard.env").read_text()
    offset = int(fresh_env.get("CALLERCARD_PORT_OFFSET", "0")) + 7
    result = services("up", {**fresh_env, "CALLERCARD_PORT_OFFSET": str(offset)})
    assert result.returncode != 0
    assert "already runs" in result.stderr and "CALLERCARD_PORT_OFFSET" in result.stderr, result.stderr
    assert (STATE / "callercard.env").read_text() == before
    assert_every_service_answers()


def test_a_profile_started_again_with_another_port_offset_names_its_new_ports_and_keeps_its_secrets(
        fresh_env: dict[str, str]) -> None:
    assert services("up", fresh_env).returncode == 0
    before = generated_env()
    assert services("down", fresh_env).returncode == 0
    moved = {**fresh_env, "CALLERCARD_PORT_OFFSET": str(int(fresh_env.get("CALLERCARD_PORT_OFFSET", "0")) + 7)}
    try:
        result = services("up", moved)
        assert result.returncode == 0, result.stderr
        after = generated_env()
        secrets = [key for key in before if key.endswith(("_KEY", "_SECRET"))]
        assert secrets and {key: after[key] for key in secrets} == {key: before[key] for key in secrets}
        for key in ("CALLERCARD_REDIS_URL", "CALLERCARD_MONGO_URL", "CALLERCARD_CENTRIFUGO_API_URL"):
            old, new = urlsplit(before[key]).port, urlsplit(after[key]).port
            assert old is not None and new == old + 7, (key, before[key], after[key])
        assert_every_service_answers()
    finally:
        services("down", moved)
