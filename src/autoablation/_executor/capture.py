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

from autoablation._executor.reporter import Reporter


class _Router(io.TextIOBase):
    """A text stream that hands each thread's complete lines to that thread's reporter.

    A carriage return redraws the current line (progress bars), so only the last drawing of
    a line is kept. Anything else a program asks of the stream (``buffer``, ``reconfigure``,
    ``fileno``) is the original stream's.
    """

    def __init__(self, original: Any) -> None:
        super().__init__()
        self.original = original
        self._targets: dict[int, tuple[Reporter, list[str]]] = {}
        self._lock = threading.Lock()

    def route(self, reporter: Reporter) -> None:
        with self._lock:
            self._targets[threading.get_ident()] = (reporter, [])

    @property
    def idle(self) -> bool:
        """Whether no thread is routed."""
        with self._lock:
            return not self._targets

    def unroute(self) -> bool:
        """Stop routing this thread; True when no thread is routed any more."""
        with self._lock:
            target = self._targets.pop(threading.get_ident(), None)
            idle = not self._targets
        if target is not None and target[1]:
            line = "".join(target[1]).rsplit("\r", 1)[-1]
            if line:
                target[0].log(line)
        return idle

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            target = self._targets.get(threading.get_ident())
        if target is None:
            return int(self.original.write(text))
        reporter, pending = target
        pending.append(text)
        if "\n" in text:
            complete, _, rest = "".join(pending).rpartition("\n")
            pending[:] = [rest] if rest else []
            lines = [line.rsplit("\r", 1)[-1] for line in complete.split("\n")]
            reporter.log("\n".join(lines))
        elif "\r" in text and len(pending) > 64:  # a redrawn line: keep its last drawing
            pending[:] = ["".join(pending).rsplit("\r", 1)[-1]]
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

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_install_lock = threading.Lock()
_holders = 0
"""Callers of `held_routers`: while any, idle routers stay installed."""


def _route(name: str, reporter: Reporter) -> None:
    with _install_lock:
        stream = getattr(sys, name)
        if not isinstance(stream, _Router):
            stream = _Router(stream)
            setattr(sys, name, stream)
        stream.route(reporter)


def _unroute(name: str) -> None:
    with _install_lock:
        stream = getattr(sys, name)
        if isinstance(stream, _Router) and stream.unroute() and not _holders:
            setattr(sys, name, stream.original)  # no trial left: the process's own stream


@contextlib.contextmanager
def held_routers() -> Iterator[None]:
    """Keep the routers installed between trials (a worker loop), instead of once per trial."""
    global _holders
    with _install_lock:
        _holders += 1
    try:
        yield
    finally:
        with _install_lock:
            _holders -= 1
            for name in () if _holders else ("stdout", "stderr"):
                stream = getattr(sys, name)
                if isinstance(stream, _Router) and stream.idle:
                    setattr(sys, name, stream.original)


@contextlib.contextmanager
def captured_output(reporter: Reporter) -> Iterator[None]:
    """Send this thread's ``print`` output (stdout and stderr) to ``reporter.log``."""
    _route("stdout", reporter)
    _route("stderr", reporter)
    try:
        yield
    finally:
        _unroute("stdout")
        _unroute("stderr")
