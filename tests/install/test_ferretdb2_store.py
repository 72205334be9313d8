"""The services script's ferretdb2 store: from the folder CALLERCARD_FERRETDB2_DIR names, checked against its
SHA256SUMS, unpacked once into the machine cache, started on the profile's Mongo port, covered by status and down;
asked for without what it needs, the script fails saying what is missing and how to get it.

The ``fresh`` profile (its own ports and state) with a binary cache of its own that has no ferretdb2 in it yet;
the Go binaries are linked from the machine's cache, so nothing is built here. The machine's PostgreSQL packages
and extensions are what the first ferretdb2 start installed (apt runs once per machine, not per test).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from tests.support.processes import ROOT

SERVICES = ROOT / "scripts" / "services.sh"
STATE = ROOT / "var" / "fresh"
TARBALL = "ferretdb2-documentdb-pg15-debian12-amd64.tar.gz"
FRESH_OFFSET = 3  # the fresh profile's place in the services script's port table
MONGO_PORT = 27027 + FRESH_OFFSET + int(os.environ.get("CALLERCARD_PORT_OFFSET", "0"))
POSTGRESQL_PORT = MONGO_PORT - 10000  # scripts/lib/ferretdb2.sh


def services(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SERVICES), "--profile", "fresh", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def without_ferretdb2(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("CALLERCARD_FERRETDB2_DIR", "CALLERCARD_STORE")}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def machine_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """This process's environment with a machine cache of its own, holding only the machine's Go binaries."""
    machine_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "callercard"
    cache = tmp_path_factory.mktemp("cache")
    (cache / "callercard").mkdir()
    (cache / "callercard" / "go-bin").symlink_to(machine_cache / "go-bin")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    services(without_ferretdb2(env), "down")
    shutil.rmtree(STATE, ignore_errors=True)
    yield env
    services(without_ferretdb2(env), "down")
    shutil.rmtree(STATE, ignore_errors=True)


@pytest.fixture(scope="module")
def ferretdb2_dir() -> Path:
    folder = os.environ.get("CALLERCARD_FERRETDB2_DIR")
    if not folder:
        pytest.skip("set CALLERCARD_FERRETDB2_DIR to the folder holding the ferretdb2 tarball (.ci/run sets it)")
    return Path(folder)


@pytest.mark.parametrize("asked_by", ["--store", "CALLERCARD_STORE"])
def test_ferretdb2_without_its_folder_fails_naming_the_variable_and_the_way_out(
        machine_env: dict[str, str], asked_by: str) -> None:
    env = without_ferretdb2(machine_env)
    if asked_by == "--store":
        result = services(env, "--store", "ferretdb2", "up")
    else:
        result = services({**env, "CALLERCARD_STORE": "ferretdb2"}, "up")
    assert result.returncode == 1
    assert "the ferretdb2 store needs CALLERCARD_FERRETDB2_DIR" in result.stderr
    assert TARBALL in result.stderr and "use the default store: --store sqlite" in result.stderr
    assert not listening(MONGO_PORT)


def test_a_folder_without_the_tarball_or_with_a_wrong_sum_is_refused(
        machine_env: dict[str, str], ferretdb2_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = services({**machine_env, "CALLERCARD_FERRETDB2_DIR": str(empty)}, "--store", "ferretdb2", "up")
    assert result.returncode == 1
    assert f"CALLERCARD_FERRETDB2_DIR={empty} does not hold {TARBALL} and SHA256SUMS" in result.stderr

    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / TARBALL).symlink_to(ferretdb2_dir / TARBALL)
    (tampered / "SHA256SUMS").write_text(f"{'0' * 64}  {TARBALL}\n")
    result = services({**machine_env, "CALLERCARD_FERRETDB2_DIR": str(tampered)}, "--store", "ferretdb2", "up")
    assert result.returncode == 1
    assert f"{tampered}/{TARBALL} does not match its SHA256SUMS" in result.stderr
    cache = Path(machine_env["XDG_CACHE_HOME"]) / "callercard"
    assert sorted(p.name for p in cache.iterdir()) == ["go-bin"], "nothing unpacked from an unverified tarball"


def test_ferretdb2_is_unpacked_once_started_on_the_profiles_port_and_covered_by_status_and_down(
        machine_env: dict[str, str], ferretdb2_dir: Path) -> None:
    env = {**machine_env, "CALLERCARD_FERRETDB2_DIR": str(ferretdb2_dir)}
    first = services(env, "--store", "ferretdb2", "up")
    assert first.returncode == 0, first.stderr
    assert "unpacking" in first.stderr and "ferretdb2 (FerretDB v2.5 + DocumentDB) is up" in first.stderr
    with MongoClient(f"mongodb://127.0.0.1:{MONGO_PORT}/", serverSelectionTimeoutMS=5000) as client:
        assert client.admin.command("buildInfo")["ferretdb"]["version"] == "v2.5.0"
        client["fresh_check"]["probe"].insert_one({"_id": "probe", "ok": True})
        assert client["fresh_check"]["probe"].find_one({"_id": "probe"}) == {"_id": "probe", "ok": True}
    assert (STATE / "ferretdb2" / "pg" / "PG_VERSION").is_file()  # its state under var/<profile>/
    assert "ferretdb2 (store ferretdb2: FerretDB v2.5 + DocumentDB): ok" in services(env, "status").stdout

    other = services(env, "--store", "sqlite", "up")
    assert other.returncode == 1
    assert f"profile fresh runs the ferretdb2 store on port {MONGO_PORT}" in other.stderr
    assert "scripts/services.sh --profile fresh down" in other.stderr

    again = services(env, "--store", "ferretdb2", "up")
    assert again.returncode == 0, again.stderr
    assert "unpacking" not in again.stderr and "ferretdb2 already up" in again.stderr

    down = services(without_ferretdb2(machine_env), "down")  # stopping needs no folder
    assert down.returncode == 0, down.stderr
    assert not listening(MONGO_PORT) and not listening(POSTGRESQL_PORT)
    status = services(env, "--store", "ferretdb2", "status")
    assert status.returncode == 1 and "ferretdb2 (store ferretdb2: FerretDB v2.5 + DocumentDB): fail" in status.stdout

    restarted = services(env, "--store", "ferretdb2", "up")  # the kept state: restarted, not created again
    assert restarted.returncode == 0, restarted.stderr
    with MongoClient(f"mongodb://127.0.0.1:{MONGO_PORT}/", serverSelectionTimeoutMS=5000) as client:
        assert client["fresh_check"]["probe"].find_one({"_id": "probe"}) == {"_id": "probe", "ok": True}

    # The same kept state under another port offset: PostgreSQL follows to its new port (its config was written
    # at initdb with the old one), and the data is there.
    assert services(without_ferretdb2(machine_env), "down").returncode == 0
    moved = {**env, "CALLERCARD_PORT_OFFSET": str(int(env.get("CALLERCARD_PORT_OFFSET", "0")) + 7)}
    try:
        result = services(moved, "--store", "ferretdb2", "up")
        assert result.returncode == 0, result.stderr
        assert listening(POSTGRESQL_PORT + 7) and not listening(POSTGRESQL_PORT)
        with MongoClient(f"mongodb://127.0.0.1:{MONGO_PORT + 7}/", serverSelectionTimeoutMS=5000) as client:
            assert client["fresh_check"]["probe"].find_one({"_id": "probe"}) == {"_id": "probe", "ok": True}
    finally:
        services(without_ferretdb2(moved), "down")
