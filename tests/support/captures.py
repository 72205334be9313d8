"""Where the recorded Asterisk sessions live: ``tests/captures`` in this repository (real bytes, see its README)."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import ROOT

CAPTURES_DIR = ROOT / "tests" / "captures"


def capture_path(name: str) -> Path:
    path = CAPTURES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recorded capture (tests/captures/README.md lists them)")
    return path
