"""The trial ledger: every trial's lifecycle, as a synchronous state machine.

No threads, no locks, no clock: the controller thread calls it, one operation at a time, and
each lifecycle arrow below is a plain method call a unit test can make. What happened is
appended as events (`autoablation._driver.events`) to an outbox that the caller takes with
`drain` and delivers once the change is complete, so no listener ever sees the ledger
half-changed.

Lifecycle::

    pending --assign--> running --report--> ok | failed | timed_out
                           |         |
                           |         +--failed/timed_out--> pending (up to max_trial_retries)
                           +--lose--> pending (again, up to max_attempts) | lost
    pending/running --abort--> cancelled

Two kinds of failure have their own policy: a lost worker (infrastructure) is retried up to
``max_attempts``; an error from the user's code only up to ``max_trial_retries``. The study
halts, cancelling what is left, when more than ``max_failures`` trials end without a metric,
or at once when a trial reports an error marked fatal; `halted` then says why.

A worker presumed lost keeps its hand-out as an *orphan*: if its genuine result arrives after
all, it counts (with the worker's own metrics history), also over a ``lost`` verdict. A loss
counts against a trial only as far as the evidence points at it (`autoablation._driver.losses`):
when Spark fails a job it kills the job's other tasks, and `job_failed` names the task that
failed; a worker presumed lost that is heard from again (`heard_from`) did not die; and in a
storm of losses a trial is ``lost`` only once its losses stand out from the others'. A trial
lifted that way from a ``lost`` verdict runs again. A trial put back after a loss waits behind
one trial for each other worker still running, so it is not the first exposed to whatever took
its worker.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver.events import (
    TrialEvent,
    TrialFinished,
    TrialLogs,
    TrialMetrics,
    TrialRequeued,
    TrialsAdded,
    TrialStarted,
)
from autoablation._driver.finals import FAILURES, FinalResults, ResultsView
from autoablation._driver.losses import LossBook, LossHistory
from autoablation._driver.schedule import LongestFirst
from autoablation._wire.messages import Result

logger = logging.getLogger("autoablation.controller")


@dataclass
class Handout:
    """One hand-out of a trial to a worker, and what that worker reported so far."""

    trial: Trial
    worker: str
    attempt: int
    generation: int = 0
    partition: int = -1
    history: list[tuple[int, float]] = field(default_factory=list)


class LedgerSnapshot(NamedTuple):
    """The ledger at one moment: trial counts, the halt reason and the final results.

    A tuple: immutable, and cheap enough to make after every change.
    """

    total: int
    pending: int
    running: int
    halted: str | None
    results: ResultsView


class TrialLedger:
    """Every trial's state: what waits, what runs where, what is final, and why.

    Args:
        trials: Every trial of the study, in the order they are offered.
        max_attempts: Lost workers a trial may survive; the last loss makes it ``lost``.
            Losses caused by Spark killing the other tasks of a failed job, or of workers
            heard from again, are not counted; in a storm of losses a trial needs more
            (`autoablation._driver.losses.LossBook.convicted`).
        max_trial_retries: Times a trial that failed or timed out runs again.
        max_failures: Trials that may end without a metric before the study halts; None for
            no limit.
        scheduler: Orders pending trials (longest expected first) and learns from finished
            ones; None keeps submission order.
        history: The hand-outs and losses of the study's earlier runs (a resume), so that
            a storm's background rate of losses outlives a killed driver.

    Raises:
        ValueError: Two trials share an id.
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        *,
        max_attempts: int = 3,
        max_trial_retries: int = 0,
        max_failures: int | None = None,
        scheduler: LongestFirst | None = None,
        history: LossHistory | None = None,
    ) -> None:
        self._trials = {t.trial_id: t for t in trials}
        if len(self._trials) != len(trials):
            raise ValueError("trial ids must be unique")
        self.max_attempts = max_attempts
        self.max_trial_retries = max_trial_retries
        self.max_failures = max_failures
        self._scheduler = scheduler
        order = scheduler.order(trials) if scheduler is not None else trials
        self._pending: deque[str] = deque(t.trial_id for t in order)
        self._running: dict[str, Handout] = {}
        self._held: dict[str, str] = {}  # worker -> the trial it runs, mirrors _running
        self._orphans: dict[tuple[str, str], Handout] = {}
        self._results = FinalResults(tuple(self._trials))
        self._attempts = dict.fromkeys(self._trials, 0)
        self._retries = dict.fromkeys(self._trials, 0)
        self._losses = LossBook(history)
        self._aborted: str | None = None
        self._halted: str | None = None
        self._outbox: list[TrialEvent] = []

    # ------------------------------------------------------------------------------ queries
    def knows(self, trial_id: str) -> bool:
        """Whether ``trial_id`` is a trial of this study."""
        return trial_id in self._trials

    def held_by(self, worker: str) -> Handout | None:
        """The hand-out ``worker`` runs now, if any."""
        trial_id = self._held.get(worker)
        return None if trial_id is None else self._running[trial_id]

    def suspects(self, worker: str) -> bool:
        """Whether ``worker`` is presumed lost with a charge that `heard_from` would lift."""
        return self._losses.suspects(worker)

    def holders(self) -> Collection[str]:
        """The workers running a trial now (a live view; copy it before changing the ledger)."""
        return self._held.keys()

    @property
    def can_assign(self) -> bool:
        """Whether `assign` would hand out a trial."""
        return bool(self._pending) and self._aborted is None

    @property
    def running(self) -> int:
        """Trials running now."""
        return len(self._running)

    @property
    def finished(self) -> bool:
        """Whether every trial is final: nothing waits, nothing runs."""
        return not self._pending and not self._running

    @property
    def halted(self) -> str | None:
        """Why the ledger halted the study itself (failure budget, fatal error), or None."""
        return self._halted

    def result(self, trial_id: str) -> TrialResult | None:
        """The trial's final result so far, or None."""
        return self._results.get(trial_id)

    def results(self) -> list[TrialResult]:
        """The final results so far, in trial order."""
        return self._results.in_order()

    def snapshot(self) -> LedgerSnapshot:
        """An immutable view of the ledger now."""
        return LedgerSnapshot(
            len(self._trials),
            len(self._pending),
            len(self._running),
            self._halted,
            self._results.view(),
        )

    def drain(self) -> list[TrialEvent]:
        """Take the events recorded since the last drain, in order."""
        events, self._outbox = self._outbox, []
        return events

    # -------------------------------------------------------------------------- transitions
    def assign(self, worker: str, *, generation: int = 0, partition: int = -1) -> Handout | None:
        """Hand the next pending trial to ``worker``; None when none can be handed out.

        ``generation`` and ``partition`` place the worker's task in the launch's Spark jobs,
        so that a later `job_failed` can tell its loss apart from the failed task's.

        Raises:
            ValueError: ``worker`` runs a trial already.
        """
        if worker in self._held:
            raise ValueError(f"worker {worker!r} runs trial {self._held[worker]} already")
        if not self._pending or self._aborted is not None:
            return None
        trial_id = self._pending.popleft()
        self._attempts[trial_id] += 1
        handout = Handout(
            self._trials[trial_id], worker, self._attempts[trial_id], generation, partition
        )
        self._running[trial_id] = handout
        self._held[worker] = trial_id
        self._outbox.append(TrialStarted(handout.trial, worker, handout.attempt))
        return handout

    def add(self, trials: Sequence[Trial]) -> None:
        """Queue more trials (a sequential study's next looks); ignored once aborted.

        Trials the ledger knows already are left as they are.

        Raises:
            ValueError: Two of ``trials`` share an id.
        """
        new = [t for t in trials if t.trial_id not in self._trials]
        if not new or self._aborted is not None:
            return
        if len({t.trial_id for t in new}) != len(new):
            raise ValueError("trial ids must be unique")
        for trial in new:
            self._trials[trial.trial_id] = trial
            self._attempts[trial.trial_id] = 0
            self._retries[trial.trial_id] = 0
        self._results.extend(tuple(t.trial_id for t in new))
        waiting = [*(self._trials[t] for t in self._pending), *new]
        order = self._scheduler.order(waiting) if self._scheduler is not None else waiting
        self._pending = deque(t.trial_id for t in order)
        self._outbox.append(TrialsAdded(tuple(new)))

    def record(
        self,
        worker: str,
        trial_id: str,
        metrics: Sequence[tuple[int, float]] = (),
        logs: Sequence[str] = (),
    ) -> None:
        """Keep a heartbeat's metrics and log lines; ignored unless ``worker`` runs the trial."""
        handout = self._running.get(trial_id)
        if handout is not None and handout.worker == worker:
            self._record(handout, metrics, logs)

    def report(self, result: Result) -> None:
        """Take a worker's result for a trial.

        The first final result wins: a duplicate is ignored, a failure with retries left goes
        back to the queue, and a worker presumed lost still counts with its own record.

        Raises:
            KeyError: The result names no trial of this study (see `knows`).
        """
        trial_id, worker = result.trial, result.worker
        trial = self._trials[trial_id]
        previous = self._results.get(trial_id)
        if previous is not None and previous.status is not TrialStatus.LOST:
            logger.info("ignoring a second result for trial %s from %s", trial_id, worker)
            self._orphans.pop((trial_id, worker), None)
            return
        handout = self._running.get(trial_id)
        if handout is not None and handout.worker == worker:
            self._release(trial_id)
        else:
            # A result from a worker presumed lost: use its own record. If another worker
            # runs the trial again meanwhile, that run is moot now.
            if handout is not None:
                self._release(trial_id)
            handout = self._orphans.get((trial_id, worker)) or Handout(
                trial, worker, max(1, self._attempts[trial_id])
            )
            if trial_id in self._pending:  # requeued when the worker was presumed lost
                self._pending.remove(trial_id)
        self._record(handout, result.metrics, result.logs)
        self._losses.ended(trial_id)
        final = TrialResult(
            trial=trial,
            status=result.status,
            metric=result.metric,
            error=result.error,
            started_at=result.started_at,
            finished_at=result.finished_at,
            worker=worker,
            attempts=handout.attempt,
            outputs=result.outputs,
            history=tuple(handout.history),
        )
        if result.status is not TrialStatus.OK and not result.fatal and self._retry(trial_id):
            if previous is not None:  # a lost verdict: the trial is no longer final
                self._results.withdraw(trial_id)
            self._requeue(
                trial,
                worker,
                f"it {result.status.value.replace('_', ' ')} (retry {self._retries[trial_id]} "
                f"of {self.max_trial_retries}): {final.reason}",
            )
            return
        self._finish(final)
        if result.fatal:
            self._halt(f"trial {trial_id} raised an error marked fatal: {final.reason}")

    def lose(self, worker: str, reason: str) -> None:
        """``worker`` is presumed lost: its trial runs again, or is ``lost`` at the last attempt.

        Nothing happens when the worker runs no trial.
        """
        trial_id = self._held.get(worker)
        if trial_id is None:
            return
        handout = self._release(trial_id)
        self._orphans[(trial_id, worker)] = handout
        losses = self._losses
        charges = losses.lose(trial_id, worker, handout.generation, handout.partition)
        if losses.convicted(trial_id, self.max_attempts, len(self._trials)):
            if charges == self.max_attempts:
                why = f"the trial lost {charges} of {self.max_attempts} allowed workers"
            else:
                why = (
                    f"the trial lost {charges} workers, more than max_attempts="
                    f"{self.max_attempts} because the study's other trials lost "
                    f"{losses.background(trial_id):.0%} of theirs too"
                )
            self._finish(
                TrialResult(
                    trial=handout.trial,
                    status=TrialStatus.LOST,
                    error=f"worker {worker} was lost ({reason}); {why}",
                    worker=worker,
                    attempts=handout.attempt,
                    history=tuple(handout.history),
                )
            )
        else:
            self._requeue(handout.trial, worker, reason, behind=len(self._held))

    def would_convict(self, worker: str) -> bool:
        """Whether losing ``worker`` now would make the trial it runs ``lost``."""
        trial_id = self._held.get(worker)
        if trial_id is None:
            return False
        handout = self._running[trial_id]
        return self._losses.would_convict(
            trial_id, handout.generation, handout.partition, self.max_attempts, len(self._trials)
        )

    def heard_from(self, worker: str) -> None:
        """``worker`` made a request: if it was presumed lost, its process did not die.

        The charges of its losses are lifted, and a trial they made ``lost`` runs again.
        """
        if self._losses.suspects(worker):
            self._rerun(self._losses.alive(worker), "its worker was heard from again")

    def job_failed(self, generation: int, culprit: int | None) -> None:
        """Spark failed job ``generation`` because of task ``culprit`` (None: unknown).

        Spark then kills that job's other tasks; their losses stop counting against their
        trials, and a trial they made ``lost`` runs again. With an unknown culprit every loss
        counts.
        """
        self._rerun(self._losses.job_failed(generation, culprit), "its job was killed")

    def abort(self, reason: str) -> None:
        """Hand out nothing more; every trial not yet final becomes ``cancelled``."""
        if self._aborted is not None:
            return
        self._aborted = reason
        for trial_id in itertools.chain(list(self._running), list(self._pending)):
            handout = self._running.pop(trial_id, None)
            self._finish(
                TrialResult(
                    trial=self._trials[trial_id],
                    status=TrialStatus.CANCELLED,
                    error=f"not finished: {reason}",
                    worker=handout.worker if handout else "",
                    attempts=self._attempts[trial_id],
                    history=tuple(handout.history) if handout else (),
                )
            )
        self._pending.clear()
        self._held.clear()

    # ------------------------------------------------------------------------------ helpers
    def _release(self, trial_id: str) -> Handout:
        """End a hand-out: the trial no longer runs, and its worker holds nothing."""
        handout = self._running.pop(trial_id)
        del self._held[handout.worker]
        return handout

    def _record(
        self, handout: Handout, metrics: Sequence[tuple[int, float]], logs: Sequence[str]
    ) -> None:
        handout.history.extend(metrics)
        if metrics:
            self._outbox.append(TrialMetrics(handout.trial, handout.worker, list(metrics)))
        if logs:
            self._outbox.append(TrialLogs(handout.trial, handout.worker, list(logs)))

    def _retry(self, trial_id: str) -> bool:
        """Whether a trial that failed in the user's code gets another run (and count it)."""
        if self._aborted is not None or self._retries[trial_id] >= self.max_trial_retries:
            return False
        self._retries[trial_id] += 1
        return True

    def _rerun(self, lifted: Collection[str], reason: str) -> None:
        """Run again the trials among ``lifted`` that a loss no longer charged made ``lost``."""
        for trial_id in lifted:
            result = self._results.get(trial_id)
            if result is not None and result.status is TrialStatus.LOST and self._aborted is None:
                self._results.withdraw(trial_id)  # not its own fault after all
                self._requeue(self._trials[trial_id], result.worker, reason)

    def _requeue(self, trial: Trial, worker: str, reason: str, *, behind: int = 0) -> None:
        """Put the trial back ``behind`` pending trials (at most), and say so."""
        if behind and len(self._pending) > 0:
            self._pending.insert(min(behind, len(self._pending)), trial.trial_id)
        else:
            self._pending.appendleft(trial.trial_id)
        self._outbox.append(TrialRequeued(trial, worker, reason))

    def _halt(self, reason: str) -> None:
        """Stop the study from within: cancel what is not final, and say why."""
        if self._halted is None and self._aborted is None:
            self._halted = reason
            logger.error("halting the study: %s", reason)
        self.abort(reason)

    def _finish(self, result: TrialResult) -> None:
        trial_id = result.trial.trial_id
        self._results.set(result)
        if result.status is not TrialStatus.LOST:  # else a worker's late result may replace it
            for key in [k for k in self._orphans if k[0] == trial_id]:
                del self._orphans[key]
        self._outbox.append(TrialFinished(result))
        self._learn(result)
        if self.max_failures is not None and result.status in FAILURES:
            failures = self._results.failures()
            if failures > self.max_failures:
                self._halt(
                    f"{failures} trials ended without a metric, more than "
                    f"max_failures={self.max_failures}"
                )

    def _learn(self, result: TrialResult) -> None:
        """Show the scheduler a trial's duration; reorder what waits if that changes it."""
        duration = result.duration_s
        if self._scheduler is None or duration is None or result.status is TrialStatus.CANCELLED:
            return
        if self._scheduler.observe(result.trial, duration) and len(self._pending) > 1:
            ordered = self._scheduler.order(self._trials[t] for t in self._pending)
            self._pending = deque(t.trial_id for t in ordered)
