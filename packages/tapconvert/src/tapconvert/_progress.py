"""A one-line progress display on stderr, shown only on a terminal and for large files."""

from __future__ import annotations

import sys
import time

# Below this size a conversion is over before a progress line would help.
_LARGE = 1 << 20


class Progress:
    """Shows the phase of a conversion (reading, decoding, encoding, writing) and the time."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.size = 0
        self.steps = ("reading", "decoding", "encoding", "writing")

    def start(self, size: int) -> None:
        self.size = size
        self.enabled = self.enabled and size >= _LARGE

    def phase(self, name: str) -> None:
        if not self.enabled:
            return
        index = next((i for i, s in enumerate(self.steps) if name.startswith(s)), 0)
        filled = "#" * (index + 1) * 5
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r[{filled:<20}] {name} {self.size / 1e6:.1f} MB, {elapsed:.1f} s\x1b[K")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"\r[{'#' * 20}] done in {elapsed:.1f} s\x1b[K\n")
            sys.stderr.flush()
