"""A journal whose disk is full or read-only for a moment, or whose driver dies mid-line.

`FlakyJournal` is what the private seam ``autoablation._driver.seams.journal_appender`` makes
in a chaos driver: it replaces one ``write`` call of the real appender. The sandbox runs as
root (``chmod`` stops nothing) and may not mount a small tmpfs, so the failures are those a
full or read-only filesystem gives: a short write followed by ``ENOSPC``, or ``EROFS``.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from autoablation._driver.appender import LineAppender
from tests.chaos.faults import FaultLog


@dataclass(frozen=True)
class DiskPlan:
    """How often the journal's disk fails, and whether the driver dies in a write."""

    seed: int
    episodes: int = 0
    """Moments when the disk is full or read-only."""
    rate: float = 0.2
    """The chance that a write starts such a moment, while some are left."""
    longest_s: float = 1.0
    """The longest moment: each lasts a random time up to this."""
    kill_at: int | None = None
    """The write (counted from 1) in the middle of which the driver is killed, if any."""


class FlakyJournal(LineAppender):
    """The journal's appender, on a disk that fails now and then."""

    def __init__(self, path: Path, plan: DiskPlan, log: FaultLog) -> None:
        super().__init__(path)
        self._plan = plan
        self._log = log
        self._rng = random.Random(plan.seed)
        self._left = plan.episodes
        self._writes = 0
        self._until = 0.0  # the monotonic time when this episode ends
        self._code = errno.ENOSPC

    def _write(self, data: memoryview) -> int:
        self._writes += 1
        if self._writes == self._plan.kill_at and len(data) > 1:
            self._log.note("driver-killed-mid-write", bytes=len(data))
            super()._write(data[: len(data) // 2])  # half a line reaches the file...
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the driver dies
        now = time.monotonic()
        if now < self._until:
            raise OSError(self._code, os.strerror(self._code))
        if self._left and self._rng.random() < self._plan.rate:
            self._left -= 1
            full = self._rng.random() < 0.5
            self._code = errno.ENOSPC if full else errno.EROFS
            lasts = self._rng.uniform(0.05, self._plan.longest_s)
            self._until = now + lasts
            self._log.note("disk-full" if full else "disk-read-only", seconds=round(lasts, 3))
            if full and len(data) > 1:
                return super()._write(data[: len(data) // 2])  # a short write, then ENOSPC
            raise OSError(self._code, os.strerror(self._code))
        return super()._write(data)
