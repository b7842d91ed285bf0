"""``sagan-edit edit --verbose``: where the time went, stage by stage, in one line on stderr."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

STAGES = ("imports", "model load", "read", "detect/align", "edit", "paste-back", "write")
"""The stages ``--verbose`` times after the start-up, in order; several files add up."""


class Timings:
    """Seconds spent in each stage of the command, added up over the inputs (``--verbose``)."""

    def __init__(self) -> None:
        self.entered = time.perf_counter()
        self.startup = seconds_since_process_start()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time the block takes to stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def line(self, images: int, faces: int) -> str:
        """One line: ``time: start-up 0.40 s, imports 1.62 s, ... total 2.31 s (1 image...)``."""
        stages = {"start-up": self.startup, **{s: self.seconds.get(s, 0.0) for s in STAGES}}
        parts = [f"{name} {_seconds(value)}" for name, value in stages.items()]
        total = time.perf_counter() - self.entered + (self.startup or 0.0)
        since = "" if self.startup is not None else " since the command started"
        return (
            f"time: {', '.join(parts)}; total {_seconds(total)}{since} "
            f"({images} image(s) written, {faces} face(s) edited)"
        )


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3f} s"


def seconds_since_process_start() -> float | None:
    """How long this process has been running, from the kernel's record of its start (Linux).

    Python keeps no timestamp of the interpreter's start; ``/proc/self/stat`` gives the
    process's start in clock ticks (1/100 s) since boot, on the clock ``CLOCK_BOOTTIME`` reads.
    None where that is not available (other systems).
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
