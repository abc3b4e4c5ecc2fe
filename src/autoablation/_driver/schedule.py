"""Which pending trial runs next: the longest expected first.

Trials run in parallel on K slots, so the study ends when the last slot finishes. Starting the
longest trials first (the LPT rule) keeps a long trial from starting last while the other slots
idle: the makespan stays within 4/3 of the optimum, and in practice close to the lower bound
``max(total / K, longest)``. The order is:

1. base trials first: nothing is removed from them, so they are the largest, and every effect
   is measured against them;
2. then by expected duration, longest first. Before anything has run, a trial's expected cost
   is its hint: its model's parameter count (measured by the preflight build), else its number
   of input columns. Once trials finish, a configuration already seen (an earlier repeat) is
   expected to take what it took, and the others their hint times the observed seconds per
   unit of hint;
3. ties in submission order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from autoablation._core.trial import Trial

ConfigKey = tuple[str, str]


def config_key(trial: Trial) -> ConfigKey:
    """What the repeats of one configuration share."""
    return (trial.kind, trial.ablated)


class LongestFirst:
    """Orders trials longest expected first, learning from the durations it is shown.

    Args:
        trials: Every trial, in submission order.
        hints: Relative cost of each configuration (any unit); configurations without one
            count as average.
    """

    def __init__(self, trials: Sequence[Trial], hints: Mapping[ConfigKey, float]) -> None:
        self._index = {t.trial_id: i for i, t in enumerate(trials)}
        self._hints = {k: float(v) for k, v in hints.items() if v > 0}
        self._seen: dict[ConfigKey, list[float]] = {}
        self._left: dict[ConfigKey, int] = {}
        for trial in trials:
            key = config_key(trial)
            self._left[key] = self._left.get(key, 0) + 1
        self._hinted_seconds = 0.0
        self._hinted_units = 0.0

    def _per_unit(self) -> float | None:
        return self._hinted_seconds / self._hinted_units if self._hinted_units > 0 else None

    def estimate(self, trial: Trial) -> float:
        """Expected duration: seconds once anything was observed, else hint units."""
        key = config_key(trial)
        seen = self._seen.get(key)
        if seen:
            return sum(seen) / len(seen)
        hint = self._hints.get(key)
        per_unit = self._per_unit()
        if hint is None:
            hint = sum(self._hints.values()) / len(self._hints) if self._hints else 1.0
        if per_unit is not None:
            return hint * per_unit
        if self._seen:  # durations known, but no hint to scale: the mean duration
            durations = [d for values in self._seen.values() for d in values]
            return sum(durations) / len(durations)
        return hint

    def sort_key(self, trial: Trial) -> tuple[bool, float, int]:
        """Sorts base trials first, then the longest expected, then submission order."""
        return (trial.kind != "base", -self.estimate(trial), self._index.get(trial.trial_id, 0))

    def order(self, trials: Iterable[Trial]) -> list[Trial]:
        """``trials`` in the order they should start."""
        return sorted(trials, key=self.sort_key)

    def observe(self, trial: Trial, seconds: float) -> bool:
        """Learn a finished trial's duration; True if pending trials may need reordering."""
        key = config_key(trial)
        self._left[key] = max(0, self._left.get(key, 1) - 1)
        first = key not in self._seen
        self._seen.setdefault(key, []).append(max(0.0, seconds))
        hint = self._hints.get(key)
        if first and hint is not None:
            self._hinted_seconds += max(0.0, seconds)
            self._hinted_units += hint
        # Only the repeats of this configuration change place relative to the others: the
        # scale applies to every unseen configuration alike.
        return first and self._left[key] > 0
