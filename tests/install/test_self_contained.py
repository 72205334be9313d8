"""A clone is all a newcomer has: nothing in the repository may read files from beside it."""

from __future__ import annotations

import subprocess

from tests.support.processes import ROOT

OUTSIDE = "../" + "shared"  # spelled apart so this file does not match itself


def test_no_tracked_file_outside_ci_and_docs_reads_the_folder_beside_the_clone() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    readers = []
    for name in tracked.decode().split("\0"):
        if not name or name.startswith((".ci/", "docs/")) or name.endswith(".md"):
            continue
        path = ROOT / name
        if path.is_file() and OUTSIDE in path.read_text(errors="replace"):
            readers.append(name)
    assert readers == []


def test_the_recorded_captures_are_in_the_repository() -> None:
    captures = ROOT / "tests" / "captures"
    tracked = subprocess.run(["git", "ls-files", "tests/captures"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert "tests/captures/README.md" in tracked and "tests/captures/asterisk-conf/queues.conf" in tracked
    assert len([name for name in tracked if name.endswith(".jsonl")]) == len(list(captures.glob("*.jsonl"))) >= 16
