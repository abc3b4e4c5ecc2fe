"""A time limit on a training function: an exception when time is up, an exit if it is ignored.

On the main thread (a Spark task's Python worker) the limit is a ``SIGALRM`` timer, which also
interrupts blocking calls such as ``time.sleep`` or a lock wait. On any other thread (in-process
workers) the exception is raised in that thread by the interpreter at its next bytecode, so
code blocked inside a C call notices it when the call returns.

`TrialTimeout` derives from `BaseException`, like `KeyboardInterrupt`, so an ``except
Exception`` in the training function does not swallow it. A function that still does not stop
(it catches everything, or is stuck in native code) gets ``grace`` more seconds; then
``on_stuck`` runs on a watchdog thread: a Spark task reports the trial and ends its Python
worker, the one way to take a thread back. Where even that thread cannot run (native code
holding the GIL), `faulthandler` ends the process a little later, if asked to.
"""

from __future__ import annotations

import ctypes
import faulthandler
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from autoablation._core.errors import TrialTimeout

T = TypeVar("T")
_BACKSTOP_S = 15.0
"""Seconds after ``on_stuck`` was due before `faulthandler` ends a process it could not."""


def grace_period(limit: float) -> float:
    """Seconds a timed-out function gets to stop before its process is ended."""
    return min(30.0, max(2.0, limit))


class Deadline:
    """Runs a function under a time limit; `expired` tells a real timeout from a user's raise.

    Args:
        limit: Seconds; None for no limit.
        on_stuck: Called from a watchdog thread if the function still runs `grace_period`
            seconds after the exception was raised.
        backstop: Also arm `faulthandler` to end the process if ``on_stuck`` cannot run.
    """

    def __init__(
        self,
        limit: float | None,
        *,
        on_stuck: Callable[[], None] | None = None,
        backstop: bool = False,
    ) -> None:
        self.limit = limit
        self._on_stuck = on_stuck
        self._backstop = backstop
        self._lock = threading.Lock()
        self._armed = False
        self.expired = False
        self._finished = threading.Lock()

    def _fire(self) -> bool:
        """Claim the one delivery of the exception; False once disarmed or fired."""
        with self._lock:
            if not self._armed:
                return False
            self._armed, self.expired = False, True
            return True

    def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """``fn(**kwargs)``, raising `TrialTimeout` in it if it runs past the limit."""
        if self.limit is None:
            return fn(**kwargs)
        limit = self.limit
        thread = threading.current_thread()
        on_main = thread is threading.main_thread()
        previous: Any = None
        outer = (0.0, 0.0)  # another SIGALRM timer that was running (a test runner's)
        began = time.monotonic()
        timer: threading.Timer | None = None
        watchdog: threading.Timer | None = None
        self._armed = True
        try:
            if on_main:

                def on_alarm(signum: int, frame: FrameType | None) -> None:
                    if self._fire():
                        raise TrialTimeout(f"the training function ran past {limit:g}s")

                previous = signal.signal(signal.SIGALRM, on_alarm)
                outer = signal.setitimer(signal.ITIMER_REAL, limit)
            else:
                timer = threading.Timer(limit, self._raise_in, args=(thread,))
                timer.daemon = True
                timer.start()
            if self._on_stuck is not None:
                stuck_after = limit + grace_period(limit)
                watchdog = threading.Timer(stuck_after, self._still_stuck)
                watchdog.daemon = True
                watchdog.start()
                if self._backstop:
                    faulthandler.dump_traceback_later(stuck_after + _BACKSTOP_S, exit=True)
            return fn(**kwargs)
        finally:
            try:
                with self._lock:  # from here on nothing is raised in this thread
                    self._armed = False
            finally:
                self._finished.acquire()  # waits while on_stuck runs; keeps it from starting
                if on_main:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
                    if outer[0] > 0:  # put the other timer back, minus the time that passed
                        left = max(0.001, outer[0] - (time.monotonic() - began))
                        signal.setitimer(signal.ITIMER_REAL, left, outer[1])
                if timer is not None:
                    timer.cancel()
                    if self.expired and thread.ident is not None:  # not delivered yet: drop it
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(thread.ident), None
                        )
                if watchdog is not None:
                    watchdog.cancel()
                    if self._backstop:
                        faulthandler.cancel_dump_traceback_later()
                self._finished.release()

    def _raise_in(self, thread: threading.Thread) -> None:
        with self._lock:  # atomic with disarming: never raised after the call ended
            if not self._armed or thread.ident is None:
                return
            self._armed, self.expired = False, True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread.ident), ctypes.py_object(TrialTimeout)
            )

    def _still_stuck(self) -> None:
        if self._on_stuck is not None and self._finished.acquire(blocking=False):
            try:  # the call cannot end while this runs
                self._on_stuck()
            finally:
                self._finished.release()
