"""The final results of a study: at most one per trial, viewable any time from any thread.

Results change on the controller thread and are read from others (progress, the launcher).
Every change is appended to a log; a `ResultsView` sees the log's first entries as they were
when it was taken. Taking a view after each event therefore costs no copy, and a view never
changes under its reader.
"""

from __future__ import annotations

from typing import NamedTuple

from autoablation._core.trial import TrialResult, TrialStatus

FAILURES = (TrialStatus.FAILED, TrialStatus.TIMED_OUT, TrialStatus.LOST)
"""The final states without a metric, which count against ``max_failures``."""


class ResultsView(NamedTuple):
    """The final results at one moment (a tuple: immutable, and cheap to make)."""

    order: tuple[str, ...]
    changes: list[tuple[str, TrialResult | None]]
    length: int

    def in_order(self) -> list[TrialResult]:
        """The results, in trial order."""
        final: dict[str, TrialResult] = {}
        for trial_id, result in self.changes[: self.length]:
            if result is None:
                final.pop(trial_id, None)
            else:
                final[trial_id] = result
        return [final[t] for t in self.order if t in final]


class FinalResults:
    """The results that are final so far; a ``lost`` one may still be replaced or withdrawn.

    Args:
        order: Every trial id, in the order results are listed.
    """

    def __init__(self, order: tuple[str, ...]) -> None:
        self._order = order
        self._results: dict[str, TrialResult] = {}
        self._changes: list[tuple[str, TrialResult | None]] = []

    def extend(self, trial_ids: tuple[str, ...]) -> None:
        """List the results of more trials, after the others (a sequential study's later looks).

        Views taken before keep the order they had.
        """
        self._order = self._order + trial_ids

    def get(self, trial_id: str) -> TrialResult | None:
        """The trial's result, or None."""
        return self._results.get(trial_id)

    def failures(self) -> int:
        """Results that count against ``max_failures``: failed, timed out, lost."""
        return sum(r.status in FAILURES for r in self._results.values())

    def set(self, result: TrialResult) -> None:
        """Make ``result`` its trial's final result, replacing any earlier one."""
        trial_id = result.trial.trial_id
        self._results[trial_id] = result
        self._changes.append((trial_id, result))

    def withdraw(self, trial_id: str) -> TrialResult:
        """Take back the trial's result: it runs again."""
        self._changes.append((trial_id, None))
        return self._results.pop(trial_id)

    def in_order(self) -> list[TrialResult]:
        """The results, in trial order."""
        return [self._results[t] for t in self._order if t in self._results]

    def view(self) -> ResultsView:
        """The results as they are now, unchanged by later changes."""
        return ResultsView(self._order, self._changes, len(self._changes))
