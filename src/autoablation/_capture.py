"""Capture what a trial prints, so it reaches the driver prefixed by the trial.

While a trial runs, ``sys.stdout`` and ``sys.stderr`` writes from the thread that runs it go,
line by line, to the trial's reporter (and from there with the next heartbeat to the driver's
console and the trial's ``output.log``). Writes from other threads go to the original stream,
so in-process workers on threads keep their output apart.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from typing import Any

from autoablation._reporter import Reporter


class _Router(io.TextIOBase):
    """A text stream that hands each thread's complete lines to that thread's reporter."""

    def __init__(self, original: Any) -> None:
        super().__init__()
        self.original = original
        self._targets: dict[int, tuple[Reporter, list[str]]] = {}
        self._lock = threading.Lock()

    def route(self, reporter: Reporter) -> None:
        with self._lock:
            self._targets[threading.get_ident()] = (reporter, [])

    def unroute(self) -> None:
        with self._lock:
            target = self._targets.pop(threading.get_ident(), None)
        if target is not None and target[1]:
            target[0].log("".join(target[1]))

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            target = self._targets.get(threading.get_ident())
        if target is None:
            return int(self.original.write(text))
        reporter, pending = target
        pending.append(text)
        if "\n" in text:
            joined = "".join(pending)
            complete, _, rest = joined.rpartition("\n")
            pending[:] = [rest] if rest else []
            reporter.log(complete)
        return len(text)

    def flush(self) -> None:
        self.original.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.original, "encoding", "utf-8"))

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return int(self.original.fileno())


_install_lock = threading.Lock()


def _router(name: str) -> _Router:
    with _install_lock:
        stream = getattr(sys, name)
        if not isinstance(stream, _Router):
            stream = _Router(stream)
            setattr(sys, name, stream)
        return stream


@contextlib.contextmanager
def captured_output(reporter: Reporter) -> Iterator[None]:
    """Send this thread's ``print`` output (stdout and stderr) to ``reporter.log``."""
    routers = [_router("stdout"), _router("stderr")]
    for router in routers:
        router.route(reporter)
    try:
        yield
    finally:
        for router in routers:
            router.unroute()
