"""The fault log, and finding the processes a fault may kill, safely.

Every process that injects a fault (the harness, the proxy and the flaky disk inside the driver)
appends one JSON line per fault to the same file. A process is killed only once its command
line and its ancestry show that it belongs to the study the harness started: a Python worker
must descend from the harness's driver process (local mode) or from a worker daemon of the
harness's own cluster; an executor JVM must run in that cluster's work directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections import Counter
from collections.abc import Collection
from pathlib import Path

from tests.chaos.training import record


class FaultLog:
    """Appends a line per injected fault; reads them back."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def note(self, kind: str, **details: object) -> None:
        """Record one fault that landed."""
        record(self.path, kind, **details)

    def counts(self) -> Counter[str]:
        """Faults by kind."""
        if not os.path.exists(self.path):
            return Counter()
        with open(self.path, encoding="utf-8") as handle:
            return Counter(json.loads(line)["event"] for line in handle if line.strip())


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def parent(pid: int) -> int | None:
    """The parent of ``pid``, or None when it is gone."""
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def command_line(pid: int) -> str:
    """The process's command line ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descends_from(pid: int, ancestors: Collection[int]) -> bool:
    """Whether one of ``ancestors`` is ``pid``'s parent, grandparent...."""
    seen = 0
    current: int | None = pid
    while current and current > 1 and seen < 64:
        current = parent(current)
        if current in ancestors:
            return True
        seen += 1
    return False


def kill_python_worker(pid: int, ancestors: Collection[int]) -> bool:
    """SIGKILL a ``pyspark.worker`` process of ours; whether it was there to kill."""
    if "pyspark" not in command_line(pid) or not descends_from(pid, ancestors):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def executor_of(pid: int, work_root: Path) -> int | None:
    """The executor JVM that ``pid`` (a Python worker) runs under, in a cluster of ours."""
    current: int | None = pid
    for _ in range(8):
        current = parent(current) if current else None
        if current is None or current <= 1:
            return None
        if "CoarseGrainedExecutorBackend" in command_line(current):
            with contextlib.suppress(OSError):
                if Path(os.readlink(f"/proc/{current}/cwd")).is_relative_to(work_root):
                    return current
            return None
    return None


def kill(pid: int) -> bool:
    """SIGKILL ``pid``; whether it was there to kill."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True
