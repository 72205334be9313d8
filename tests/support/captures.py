"""Where the recorded Asterisk sessions live: ``shared/ami-captures`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.processes import ROOT

CAPTURES_DIR = Path(os.environ.get("CALLERCARD_CAPTURES_DIR", ROOT.parent / "shared" / "ami-captures"))


def capture_path(name: str) -> Path:
    path = CAPTURES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the recorded captures are expected in shared/ami-captures beside the "
                                "repository, or set CALLERCARD_CAPTURES_DIR")
    return path
