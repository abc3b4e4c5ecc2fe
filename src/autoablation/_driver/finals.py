"""The final results of a study: at most one per trial, counted by status, viewable any time.

Results change on the controller thread and are read from others (progress, the launcher).
Every change is appended to a log; a `ResultsView` sees the log's first entries as they were
when it was taken. Taking a view after each event therefore costs no copy, and a view never
changes under its reader.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from autoablation._core.trial import TrialResult, TrialStatus


@dataclass(frozen=True)
class ResultsView:
    """The final results at one moment."""

    _order: tuple[str, ...]
    _changes: list[tuple[str, TrialResult | None]]
    _length: int

    def in_order(self) -> list[TrialResult]:
        """The results, in trial order."""
        final: dict[str, TrialResult] = {}
        for trial_id, result in self._changes[: self._length]:
            if result is None:
                final.pop(trial_id, None)
            else:
                final[trial_id] = result
        return [final[t] for t in self._order if t in final]


class FinalResults:
    """The results that are final so far; a ``lost`` one may still be replaced or withdrawn.

    Args:
        order: Every trial id, in the order results are listed.
    """

    def __init__(self, order: tuple[str, ...]) -> None:
        self._order = order
        self._results: dict[str, TrialResult] = {}
        self._tally: Counter[TrialStatus] = Counter()
        self._changes: list[tuple[str, TrialResult | None]] = []

    def __len__(self) -> int:
        return len(self._results)

    def get(self, trial_id: str) -> TrialResult | None:
        """The trial's result, or None."""
        return self._results.get(trial_id)

    def count(self, *statuses: TrialStatus) -> int:
        """How many results have one of ``statuses``."""
        return sum(self._tally[status] for status in statuses)

    def set(self, result: TrialResult) -> None:
        """Make ``result`` its trial's final result, replacing any earlier one."""
        trial_id = result.trial.trial_id
        previous = self._results.get(trial_id)
        if previous is not None:
            self._tally[previous.status] -= 1
        self._results[trial_id] = result
        self._tally[result.status] += 1
        self._changes.append((trial_id, result))

    def withdraw(self, trial_id: str) -> TrialResult:
        """Take back the trial's result: it runs again."""
        previous = self._results.pop(trial_id)
        self._tally[previous.status] -= 1
        self._changes.append((trial_id, None))
        return previous

    def in_order(self) -> list[TrialResult]:
        """The results, in trial order."""
        return [self._results[t] for t in self._order if t in self._results]

    def view(self) -> ResultsView:
        """The results as they are now, unchanged by later changes."""
        return ResultsView(self._order, self._changes, len(self._changes))
