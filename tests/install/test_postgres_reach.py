"""A checkout where the postgres user cannot follow (under /root, under a ``mktemp -d`` folder) is told why and
how to fix it before PostgreSQL's initdb fails with only "Permission denied" in its log."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.processes import ROOT

POSTGRES = Path("/usr/lib/postgresql/15/bin/postgres")


@pytest.mark.skipif(os.geteuid() != 0 or not POSTGRES.exists(),
                    reason="PostgreSQL runs as another user only when the services run as root")
def test_a_checkout_the_postgres_user_cannot_enter_is_named_with_its_fix() -> None:
    closed = Path(tempfile.mkdtemp())  # mode 700, as mktemp -d makes it
    try:
        checkout = closed / "callercard"
        shutil.copytree(ROOT / "scripts", checkout / "scripts")
        run = subprocess.run(["bash", str(checkout / "scripts" / "postgres.sh"), "--profile", "test", "up"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "CALLERCARD_PORT_OFFSET": "97"})
        assert run.returncode == 1, run.stderr
        assert f"cannot enter {closed} on the way to {checkout}/var/test" in run.stderr, run.stderr
        assert f"chmod o+x {closed}" in run.stderr
        assert not (checkout / "var" / "test" / "postgres" / "PG_VERSION").exists()  # no half-made cluster
    finally:
        shutil.rmtree(closed)
