"""The garbage collector in a long-running process: what the process keeps for its life frozen, pauses measured.

CPython's full (generation 2) collection walks every tracked object the process holds, the imported modules'
included (pydantic's, Celery's, pymongo's: most of a listener's heap). In the listener at 50 calls/s such a
collection paused the event loop 63-95 ms, five times in 30 s, and every popup due in that moment waited for it
(issue 20). Once a process has built what it keeps (modules, clients, settings), ``settle``
moves all of it to the permanent generation, which no collection walks: collections then walk only what the
calls made since. Each pause is measured (``callercard_gc_pause_seconds{generation}``) so an operator sees them.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from callercard import metrics

_started: list[float] = []


def _timed(phase: str, info: dict[str, Any]) -> None:
    # Collections run one at a time in a process (a second one waits for the GIL and the first's end).
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        metrics.GC_PAUSE_SECONDS.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - _started.pop())


def measure() -> None:
    """Measure each collection's pause from now on (idempotent)."""
    if _timed not in gc.callbacks:
        gc.callbacks.append(_timed)


def settle() -> None:
    """Freeze what the process holds now (call it once the process is built, before it serves) and measure pauses
    from here. Calling it again also freezes what was built in between."""
    gc.collect()
    gc.freeze()
    measure()
