"""Listeners: who hears about trials as they run (journal, progress bar, logs, tracking).

The trial ledger records what happened as events (`TrialStarted`, ...); the controller thread
tells the listener each one (`TrialStarted.tell`, ...) after the change, outside any lock. A
listener must still return quickly, as the controller thread waits for it; one that does slow
work (MLflow) hands it to a thread of its own. `Listeners` fans every event out and keeps one
listener's failure from reaching the others or the controller.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoablation._core.trial import TENSORFLOW_IMPORT, Trial, TrialResult, TrialStatus

logger = logging.getLogger("autoablation.controller")
output_logger = logging.getLogger("autoablation.output")

TRIAL_EVENT = "autoablation_trial_event"
"""Marks the log records of `LoggingListener`, so ``driver.log``, which writes a line per
event itself, can leave them out."""
_MARK = {TRIAL_EVENT: True}


class Listener:
    """Receives experiment and trial events; every method is optional."""

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """The experiment starts; ``done`` of its ``trials`` finished in earlier runs."""

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """A worker took the trial."""

    def trial_metrics(self, trial: Trial, worker: str, points: Sequence[tuple[int, float]]) -> None:
        """Intermediate metrics the training function broadcast."""

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Lines the training function printed or logged."""

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """The trial's worker was lost; the trial waits for another worker."""

    def trial_finished(self, result: TrialResult) -> None:
        """The trial reached a final state."""

    def trials_added(self, trials: Sequence[Trial]) -> None:
        """A sequential study scheduled more repeats (its next look needs them)."""

    def look_made(self, look: Mapping[str, Any]) -> None:
        """A sequential study looked at a component (`autoablation._results.looks.Look`)."""

    def experiment_ended(self, status: str) -> None:
        """The experiment ended: ``finished``, ``stopped`` or ``interrupted``."""


def import_line(result: TrialResult) -> str | None:
    """What a worker's first result says about the time it spent importing TensorFlow."""
    seconds = result.outputs.get(TENSORFLOW_IMPORT)
    if not isinstance(seconds, (int, float)):
        return None
    return (
        f"{result.worker or 'a worker'} spent {seconds:.1f}s importing TensorFlow before its "
        f"first trial ({result.trial.tag})"
    )


class LoggingListener(Listener):
    """Log lines on the ``autoablation`` loggers (start and end at INFO, output at DEBUG).

    Each record is marked with `TRIAL_EVENT`.
    """

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """Log the start."""
        again = f" (attempt {attempt})" if attempt > 1 else ""
        logger.info("[%s] started on %s%s", trial.tag, worker, again, extra=_MARK)

    def trial_finished(self, result: TrialResult) -> None:
        """Log the outcome, and a worker's import time with its first result."""
        imported = import_line(result)
        if imported is not None:
            logger.info("%s", imported, extra=_MARK)
        tag = result.trial.tag
        if result.status is TrialStatus.OK:
            logger.info("[%s] ok: metric %.6g", tag, result.metric, extra=_MARK)
        else:
            logger.warning("[%s] %s: %s", tag, result.status.value, result.reason, extra=_MARK)

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """Log the loss."""
        logger.warning(
            "[%s] lost %s (%s); it will run again", trial.tag, worker, reason, extra=_MARK
        )

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Forward the trial's output."""
        for line in lines:
            output_logger.debug("[%s] %s", trial.tag, line, extra=_MARK)


class Listeners(Listener):
    """Fans each event out to several listeners; one failing does not stop the others."""

    def __init__(self, listeners: Sequence[Listener]) -> None:
        self._listeners = list(listeners)

    def _each(self, method: str, *args: Any) -> None:
        for listener in self._listeners:
            handler = getattr(listener, method, None)
            if handler is None:  # a listener may implement only the hooks it needs
                continue
            try:
                handler(*args)
            except Exception:
                logger.error(
                    "listener %s failed on %s:\n%s",
                    type(listener).__name__,
                    method,
                    traceback.format_exc(),
                )

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """Forward the event."""
        self._each("experiment_started", name, trials, done)

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """Forward the event."""
        self._each("trial_started", trial, worker, attempt)

    def trial_metrics(self, trial: Trial, worker: str, points: Sequence[tuple[int, float]]) -> None:
        """Forward the event."""
        self._each("trial_metrics", trial, worker, points)

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Forward the event."""
        self._each("trial_logs", trial, worker, lines)

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """Forward the event."""
        self._each("trial_requeued", trial, worker, reason)

    def trial_finished(self, result: TrialResult) -> None:
        """Forward the event."""
        self._each("trial_finished", result)

    def trials_added(self, trials: Sequence[Trial]) -> None:
        """Forward the event."""
        self._each("trials_added", trials)

    def look_made(self, look: Mapping[str, Any]) -> None:
        """Forward the event."""
        self._each("look_made", look)

    def experiment_ended(self, status: str) -> None:
        """Forward the event."""
        self._each("experiment_ended", status)


@dataclass(frozen=True, slots=True)
class TrialStarted:
    """A worker took the trial (its ``attempt``-th hand-out)."""

    trial: Trial
    worker: str
    attempt: int

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.trial_started(self.trial, self.worker, self.attempt)


@dataclass(frozen=True, slots=True)
class TrialMetrics:
    """Intermediate metrics a worker reported for the trial."""

    trial: Trial
    worker: str
    points: Sequence[tuple[int, float]]

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.trial_metrics(self.trial, self.worker, self.points)


@dataclass(frozen=True, slots=True)
class TrialLogs:
    """Output lines a worker reported for the trial."""

    trial: Trial
    worker: str
    lines: Sequence[str]

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.trial_logs(self.trial, self.worker, self.lines)


@dataclass(frozen=True, slots=True)
class TrialRequeued:
    """The trial went back to the pending queue: its worker was lost, or it gets a retry."""

    trial: Trial
    worker: str
    reason: str

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.trial_requeued(self.trial, self.worker, self.reason)


@dataclass(frozen=True, slots=True)
class TrialFinished:
    """The trial reached a final state (a lost verdict may still be replaced)."""

    result: TrialResult

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.trial_finished(self.result)


@dataclass(frozen=True, slots=True)
class TrialsAdded:
    """A sequential study scheduled more trials."""

    trials: tuple[Trial, ...]

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.trials_added(self.trials)


@dataclass(frozen=True, slots=True)
class LookMade:
    """A sequential study looked at a component (the look as a JSON-able dict)."""

    look: Mapping[str, Any]

    def tell(self, listener: Listener) -> None:
        """Call the listener's hook for this event."""
        listener.look_made(self.look)


TrialEvent = (
    TrialStarted | TrialMetrics | TrialLogs | TrialRequeued | TrialFinished | TrialsAdded | LookMade
)
