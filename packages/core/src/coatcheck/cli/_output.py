"""Output for people: a progress bar on stderr, tables, durations and sizes, percentiles.

(``--json`` output needs none of this: commands dump their data as it is.)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import TextIO


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, enabled: bool, label: str, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.total: int | None = None
        self._drawn = 0.0
        self._shown = -1

    def advance(self, count: int = 1, total: int | None = None) -> None:
        self.done += count
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.enabled and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        self._shown = self.done
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            line = f"{self.label} [{bar:<30}] {share:4.0%} {self.done}/{self.total}"
        else:
            line = f"{self.label} {self.done}"
        self.stream.write("\r" + line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            if self._shown != self.done:
                self._draw()
            self.stream.write("\n")
            self.stream.flush()


def duration(seconds: float | None) -> str:
    """``3d 4h``, ``59m 12s``: two units, for people."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "expired"
    total = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def size_text(size: float) -> str:
    if size < 1024:
        return f"{int(size)} B"
    return f"{size / 1024:.1f} KiB"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Left-aligned columns separated by two spaces; numbers are pre-formatted by callers."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    for row in (headers, *rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")


def percentile(sorted_values: Sequence[int], share: float) -> int:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]
