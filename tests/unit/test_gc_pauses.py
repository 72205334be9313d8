"""The process heap frozen once built, and each collection's pause measured (callercard.gc_pauses)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from callercard import gc_pauses


def _collections(generation: str) -> float:
    return REGISTRY.get_sample_value("callercard_gc_pause_seconds_count", {"generation": generation}) or 0.0


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session's heap is collected as before
    gc.callbacks.remove(gc_pauses._timed)


def test_settle_freezes_what_the_process_holds_and_collections_then_skip_it(unfrozen: None) -> None:
    kept = [{"n": i} for i in range(1000)]
    frozen_before = gc.get_freeze_count()
    gc_pauses.settle()
    assert gc.get_freeze_count() >= frozen_before + len(kept)
    after = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == after  # a full collection leaves the frozen heap where it is
    assert not any(held is kept for held in gc.get_objects(generation=2))  # nor does it walk it


def test_each_collection_is_measured_once_by_generation(unfrozen: None) -> None:
    gc_pauses.settle()
    gc_pauses.measure()  # again: still one callback
    assert gc.callbacks.count(gc_pauses._timed) == 1
    before = {generation: _collections(generation) for generation in ("0", "2")}
    gc.collect(0)
    gc.collect(2)
    assert _collections("0") == before["0"] + 1
    assert _collections("2") == before["2"] + 1
