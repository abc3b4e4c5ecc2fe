"""The trial time limit: on the main thread (as in a Spark task) and on other threads."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import pytest

from autoablation import TrialTimeout
from autoablation._deadline import deadline, grace_period


def test_a_blocking_call_on_the_main_thread_is_interrupted() -> None:
    assert threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(TrialTimeout, match=r"trial_timeout=0\.2s"), deadline(0.2):
        threading.Event().wait(30)  # a lock wait: only a signal can end it early
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_except_exception_in_user_code_does_not_swallow_it() -> None:
    swallowed = []
    with pytest.raises(TrialTimeout), deadline(0.2):
        while True:
            try:
                time.sleep(0.05)
            except Exception as exc:  # what careless training code does
                swallowed.append(exc)
    assert swallowed == []


def test_a_block_that_finishes_in_time_is_left_alone() -> None:
    with deadline(5.0):
        value = sum(range(1000))
    assert value == 499500
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with deadline(None):
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_worker_thread_gets_the_exception_at_its_next_bytecode() -> None:
    outcome: list[str] = []

    def run() -> None:
        try:
            with deadline(0.2):
                while True:
                    time.sleep(0.01)
        except TrialTimeout:
            outcome.append("timed out")

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert outcome == ["timed out"]


def test_a_function_that_ignores_the_timeout_is_reported_stuck() -> None:
    stuck = threading.Event()
    release = threading.Event()
    returned: list[bool] = []

    def run() -> None:
        with deadline(0.1, on_stuck=stuck.set):
            while not release.is_set():
                with contextlib.suppress(BaseException):  # swallows even TrialTimeout
                    time.sleep(0.01)
        returned.append(True)

    thread = threading.Thread(target=run)
    thread.start()
    assert stuck.wait(timeout=30)  # after the 0.1 s limit and its grace period
    release.set()
    thread.join(timeout=30)
    assert returned == [True]


@pytest.mark.parametrize(("limit", "grace"), [(0.1, 2.0), (10.0, 10.0), (3600.0, 30.0)])
def test_the_grace_period_scales_with_the_limit_within_bounds(limit: float, grace: float) -> None:
    assert grace_period(limit) == grace
