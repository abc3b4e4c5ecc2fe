"""The executor side: a loop that asks for a trial, runs it, reports it, and asks again.

`run_worker` is all a Spark task does (see `autoablation._executor.task`), and tests run it on plain
threads against an in-process controller. A trial that raises or returns something unusable is
reported as ``failed`` with the reason, one past its time limit as ``timed_out``; only a broken
driver channel ends the loop early.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoablation._core.callables import TrainFunction, train_parameters
from autoablation._core.trial import TENSORFLOW_IMPORT, Trial, TrialStatus
from autoablation._executor import startup
from autoablation._executor.capture import captured_output, held_routers
from autoablation._executor.client import ControllerClient
from autoablation._executor.deadline import grace_period
from autoablation._executor.reporter import Reporter
from autoablation._executor.runner import failure_outcome, run_trial
from autoablation._executor.runtime import TrialPolicy, TrialRuntime
from autoablation._wire.messages import Heartbeat

logger = logging.getLogger("autoablation.worker")


class _Heartbeat:
    """One thread per worker that sends the running trial's reporter buffer every interval.

    The thread lives as long as the worker loop, so a trial costs no thread start. `track`
    points it at a trial's reporter; `untrack` waits for a heartbeat in flight, so nothing a
    heartbeat drained can arrive after the trial's result (the driver would drop it as late).

    A heartbeat that could not be delivered is sent again, as it was (same request id, so the
    driver takes it once even if the first copy arrived), before any newer one; one still
    undelivered when the trial ends gives its metrics and lines back to the reporter, for the
    result to carry.
    """

    def __init__(self, client: ControllerClient, worker_id: str, interval: float) -> None:
        self._client = client
        self._worker_id = worker_id
        self._interval = interval
        self._sending = threading.Lock()  # held while a heartbeat is drained and sent
        self._reporter: Reporter | None = None
        self._unsent: Heartbeat | None = None
        self._failures = 0  # heartbeats failed in a row: only the first one is a warning
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="autoablation-heartbeat", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def track(self, reporter: Reporter) -> None:
        """Send ``reporter``'s buffer from the next heartbeat on."""
        with self._sending:
            self._reporter = reporter

    def untrack(self) -> None:
        """Stop sending for the current trial, after any heartbeat in flight is delivered."""
        with self._sending:
            unsent, reporter = self._unsent, self._reporter
            if unsent is not None and reporter is not None and not self._deliver(unsent):
                reporter.restore(list(unsent.metrics), list(unsent.logs))  # the result has it
            self._unsent = self._reporter = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()

    def beat(self) -> None:
        """Send one heartbeat for the tracked trial, if any: the undelivered one first."""
        with self._sending:
            reporter = self._reporter
            if reporter is None:
                return
            if self._unsent is None:
                metrics, logs = reporter.drain()
                self._unsent = self._client.new_heartbeat(
                    self._worker_id, reporter.trial_id, metrics, logs
                )
            self._deliver(self._unsent)

    def _deliver(self, beat: Heartbeat) -> bool:
        """Send ``beat``; False (it stays unsent) when the driver could not be reached."""
        try:
            self._client.send_heartbeat(beat)
        except Exception as exc:  # best effort: the next heartbeat or the result has it
            self._failures += 1
            log = logger.warning if self._failures == 1 else logger.debug
            log("heartbeat for %s failed (%d in a row): %s", beat.trial, self._failures, exc)
            return False
        self._unsent, self._failures = None, 0
        return True


class _StuckTrial:
    """Reports a trial whose function ignored its timeout; ends the process if asked to."""

    def __init__(
        self, client: ControllerClient, worker_id: str, trial: Trial, policy: TrialPolicy
    ) -> None:
        self._client = client
        self._worker_id = worker_id
        self._trial = trial
        self._policy = policy
        self._started = time.time()
        self.reported = False

    def __call__(self) -> None:
        limit = self._policy.trial_timeout or 0.0
        ending = self._policy.exit_when_stuck
        error = (
            f"TrialTimeout: it ran past trial_timeout={limit:g}s and did not stop within "
            f"{grace_period(limit):g}s more"
            + ("; its Python worker process was ended to free the slot" if ending else "")
        )
        try:  # nothing before os._exit may wait on a lock the stuck thread holds
            outcome = failure_outcome(self._trial, TrialStatus.TIMED_OUT, error, self._started)
            self._client.report(outcome.report(self._worker_id, want_next=False))
            self.reported = True
            logger.error("trial %s: %s", self._trial.trial_id, error)
        except Exception as exc:  # the driver notices the lost worker instead
            logger.error("could not report the stuck trial %s: %s", self._trial.trial_id, exc)
        finally:
            if ending:  # no logging.shutdown(): the stuck thread may hold a handler's lock
                os._exit(70)  # EX_SOFTWARE: Spark sees the task's Python worker exit


@dataclass(frozen=True)
class WorkerSummary:
    """What one worker did, returned by its Spark task."""

    worker_id: str
    trials: tuple[str, ...]


def run_worker(
    client: ControllerClient,
    train_fn: TrainFunction,
    runtime: TrialRuntime,
    *,
    worker_id: str,
    info: Mapping[str, Any],
    optimization_key: str,
    policy: TrialPolicy = TrialPolicy(),
) -> WorkerSummary:
    """Register, then run trials until the controller says the study is done."""
    # dataset_function already shuffles (seeded per trial); Keras warns that fit() cannot.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    interval = client.register(worker_id, info).heartbeat_interval
    parameters = train_parameters(train_fn)
    ran: list[str] = []
    with _Heartbeat(client, worker_id, interval) as heartbeat, held_routers():
        trial = client.next_trial(worker_id)
        while trial is not None:
            reporter = Reporter(trial, tensorboard_root=runtime.tensorboard_root)
            stuck = _StuckTrial(client, worker_id, trial, policy)
            heartbeat.track(reporter)
            try:
                with captured_output(reporter):
                    outcome = run_trial(
                        train_fn,
                        trial,
                        runtime,
                        optimization_key=optimization_key,
                        reporter=reporter,
                        parameters=parameters,
                        policy=policy,
                        on_stuck=stuck if policy.trial_timeout is not None else None,
                    )
            finally:
                heartbeat.untrack()
            imported = startup.take()  # the first result of this process carries it
            if imported is not None:
                outputs = {**outcome.outputs, TENSORFLOW_IMPORT: round(imported, 3)}
                outcome = outcome._replace(outputs=outputs)
            metrics, logs = reporter.drain()
            ran.append(trial.trial_id)
            if stuck.reported:  # its verdict is in; a late result would count as a second run
                trial = client.next_trial(worker_id)
            else:
                number = client.new_request_id()  # numbered here: no copy of the result
                result = outcome.report(worker_id, metrics, logs, want_next=True, request_id=number)
                trial = client.report(result)
    return WorkerSummary(worker_id, tuple(ran))
