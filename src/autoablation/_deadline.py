"""A time limit on a training function: an exception when time is up, an exit if it is ignored.

On the main thread (a Spark task's Python worker) the limit is a ``SIGALRM`` timer, which also
interrupts blocking calls such as ``time.sleep`` or a lock wait. On any other thread (in-process
workers) the exception is raised in that thread by the interpreter at its next bytecode, so
code blocked inside a C call notices it when the call returns.

`TrialTimeout` derives from `BaseException`, like `KeyboardInterrupt`, so an ``except
Exception`` in the training function does not swallow it. A function that still does not stop
(it catches everything, or is stuck in native code) gets ``grace`` more seconds; then
``on_stuck`` runs on a watchdog thread: a Spark task reports the trial and ends its Python
worker, the one way to take a thread back.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

logger = logging.getLogger("autoablation.worker")


class TrialTimeout(BaseException):
    """Raised inside a training function that ran past ``trial_timeout``."""


def grace_period(limit: float) -> float:
    """Seconds a timed-out function gets to stop before its process is ended."""
    return min(30.0, max(2.0, limit))


class _Alarm:
    """Delivers `TrialTimeout` once to one thread, unless disarmed first."""

    def __init__(self, limit: float, thread: threading.Thread) -> None:
        self._limit = limit
        self._thread = thread
        self._lock = threading.Lock()
        self._armed = True

    def message(self) -> str:
        return f"the training function ran past trial_timeout={self._limit:g}s"

    def fire(self) -> bool:
        """Claim the one delivery; False once disarmed or fired."""
        with self._lock:
            fired, self._armed = self._armed, False
            return fired

    def disarm(self) -> None:
        with self._lock:
            self._armed = False

    def raise_in_thread(self) -> None:
        if not self.fire() or self._thread.ident is None:
            return
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self._thread.ident), ctypes.py_object(TrialTimeout)
        )


@contextmanager
def deadline(
    limit: float | None,
    *,
    on_stuck: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Raise `TrialTimeout` in this thread if the block runs longer than ``limit`` seconds.

    Args:
        limit: Seconds; None for no limit.
        on_stuck: Called from a watchdog thread if the block still runs `grace_period` seconds
            after the exception was raised.
    """
    if limit is None:
        yield
        return
    thread = threading.current_thread()
    alarm = _Alarm(limit, thread)
    on_main = thread is threading.main_thread()
    timer: threading.Timer | None = None
    previous: Callable[[int, FrameType | None], object] | int | None = None
    if on_main:

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            if alarm.fire():
                raise TrialTimeout(alarm.message())

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
    else:
        timer = threading.Timer(limit, alarm.raise_in_thread)
        timer.daemon = True
        timer.start()
    watchdog: threading.Timer | None = None
    finished = threading.Lock()
    if on_stuck is not None:

        def still_stuck() -> None:
            if finished.acquire(blocking=False):  # the block cannot end while this runs
                try:
                    on_stuck()
                finally:
                    finished.release()

        watchdog = threading.Timer(limit + grace_period(limit), still_stuck)
        watchdog.daemon = True
        watchdog.start()
    try:
        yield
    finally:
        finished.acquire()  # waits while on_stuck runs; keeps it from starting later
        if on_main:
            signal.setitimer(signal.ITIMER_REAL, 0)
        alarm.disarm()
        if timer is not None:
            timer.cancel()
        if watchdog is not None:
            watchdog.cancel()
        if on_main:
            signal.signal(signal.SIGALRM, previous)
