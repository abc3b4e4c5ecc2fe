"""The trial time limit: on the main thread (as in a Spark task) and on other threads."""

from __future__ import annotations

import contextlib
import signal
import threading

import pytest

from autoablation import TrialTimeout
from autoablation._executor.deadline import Deadline, grace_period


def test_a_blocking_call_on_the_main_thread_is_interrupted() -> None:
    assert threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGALRM)
    limit = Deadline(0.2)
    with pytest.raises(TrialTimeout, match=r"ran past 0\.2s"):
        limit.call(threading.Event().wait, timeout=30)  # a lock wait: only a signal ends it
    assert limit.expired
    assert signal.getsignal(signal.SIGALRM) is before


def test_another_sigalrm_timer_is_put_back() -> None:
    before = signal.getsignal(signal.SIGALRM)
    fired: list[int] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        Deadline(5.0).call(lambda: None)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90.0 < left <= 100.0  # still running, minus the time that passed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert fired == []


def test_except_exception_in_user_code_does_not_swallow_it() -> None:
    swallowed: list[Exception] = []

    def careless() -> None:
        while True:
            try:
                threading.Event().wait(0.05)
            except Exception as exc:  # what careless training code does
                swallowed.append(exc)

    with pytest.raises(TrialTimeout):
        Deadline(0.2).call(careless)
    assert swallowed == []


def test_a_function_that_finishes_in_time_is_left_alone() -> None:
    limit = Deadline(5.0)
    assert limit.call(lambda: 499500) == 499500
    assert not limit.expired
    assert Deadline(None).call(lambda: 1) == 1


def test_a_timeout_the_user_raises_is_not_taken_for_an_expired_limit() -> None:
    def raises() -> None:
        raise TrialTimeout("mine")

    limit = Deadline(5.0)
    with pytest.raises(TrialTimeout, match="mine"):
        limit.call(raises)
    assert not limit.expired


def test_a_worker_thread_gets_the_exception_at_its_next_bytecode() -> None:
    outcome: list[bool] = []

    def spin() -> None:
        while True:
            threading.Event().wait(0.01)

    def run() -> None:
        limit = Deadline(0.2)
        try:
            limit.call(spin)
        except TrialTimeout:
            outcome.append(limit.expired)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert outcome == [True]


def test_a_limit_reached_just_as_the_function_returns_never_escapes_the_call() -> None:
    """Many calls ending right at their limit: each either returns or raises inside call()."""
    escaped: list[BaseException] = []
    before = signal.getsignal(signal.SIGALRM)

    def run() -> None:
        for _ in range(300):
            try:
                with contextlib.suppress(TrialTimeout):
                    Deadline(0.001).call(threading.Event().wait, timeout=0.001)
                sum(range(100))  # bytecodes after the call, where a late exception would land
            except BaseException as exc:
                escaped.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]  # async exceptions
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    run()  # the main thread, with SIGALRM
    assert escaped == []
    assert signal.getsignal(signal.SIGALRM) is before


def test_a_function_that_ignores_the_timeout_is_reported_stuck() -> None:
    stuck = threading.Event()
    release = threading.Event()
    returned: list[bool] = []

    def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(BaseException):  # swallows even TrialTimeout
                threading.Event().wait(0.01)

    def run() -> None:
        Deadline(0.1, on_stuck=stuck.set).call(stubborn)
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
