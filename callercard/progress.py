"""A terminal progress bar with rate and ETA, for long imports."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, *, total: int | None, label: str, stream: TextIO | None = None,
                 min_interval: float = 0.2) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._min_interval = min_interval

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last_draw >= self._min_interval:
            self._last_draw = now
            self._draw(final=False)

    def finish(self) -> None:
        self._draw(final=True)

    def _draw(self, *, final: bool) -> None:
        rate = self.rate
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            remaining = (self.total - self.done) / rate if rate > 0 else 0.0
            text = (f"{self.label} [{bar:<30}] {self.done}/{self.total} {share:4.0%} "
                    f"{rate:,.0f} rows/s ETA {remaining:,.0f}s")
        else:
            text = f"{self.label} {self.done} rows {rate:,.0f} rows/s"
        end = "\n" if final else ""
        self.stream.write(f"\r{text}{end}")
        self.stream.flush()
