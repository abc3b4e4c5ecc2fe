"""Running a sequential study: the repeats its looks ask for, queued as earlier ones finish.

`autoablation._results.sequential` is the design (pure statistics: who is decided, how many
repeats each configuration needs by its next look). `SequentialPlanner` is its driver side:
the controller calls it on its own thread after every final result, before it decides whether
the study is done, and queues what it returns. A component's next repeats are queued the moment
its own look asks for them, so later looks need no barrier: the slots keep working on whatever
is queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._results.sequential import SequentialDesign


class SequentialPlanner:
    """Decides which repeats of a sequential study run, from the results so far.

    Args:
        design: The design, fixed before the first look.
        universe: Every trial the study may run: each configuration's repeats
            ``0..design.max_repeats - 1``, in submission order (ids and seeds).
        done: Final results of earlier runs (a resume); their trials count as scheduled.
        looked: ``(kind, ablated, repeats)`` of the looks the journal already holds, so each
            look is recorded once.
    """

    def __init__(
        self,
        design: SequentialDesign,
        universe: Sequence[Trial],
        done: Sequence[TrialResult] = (),
        looked: Iterable[tuple[str, str, int]] = (),
    ) -> None:
        self.design = design
        self._universe = list(universe)
        self._by_key = {(t.kind, t.ablated, t.repeat): t for t in self._universe}
        self._index = {t.trial_id: i for i, t in enumerate(self._universe)}
        self._done = {r.trial.trial_id: r for r in done}
        self._scheduled: dict[str, Trial] = {t: r.trial for t, r in self._done.items()}
        self._looked = set(looked)
        self.finished = False
        """Whether the design needs nothing more (every component decided or at its last look)."""

    def start(self) -> list[Trial]:
        """The trials to queue first: the initial batch, and what earlier runs' looks asked for.

        Raises:
            StudyError: The study has more components than the design (a resume that added
                components to a sequential study), or no base trial.
        """
        first = [t for t in self._universe if t.repeat < self.design.initial]
        for trial in first:
            self._scheduled.setdefault(trial.trial_id, trial)
        more, _looks = self.plan(())
        return sorted(
            [t for t in [*first, *more] if t.trial_id not in self._done],
            key=lambda t: self._index[t.trial_id],
        )

    def plan(self, results: Sequence[TrialResult]) -> tuple[list[Trial], list[dict[str, Any]]]:
        """What to queue next, and the looks made since the last call.

        Args:
            results: Every final result of this run so far.

        Returns:
            The trials to add (in submission order) and the new looks (``Look.to_dict()``).
        """
        finals: dict[str, TrialResult] = {**self._done, **{r.trial.trial_id: r for r in results}}
        everything = [
            finals.get(trial_id) or TrialResult(trial, TrialStatus.PENDING)
            for trial_id, trial in self._scheduled.items()
        ]
        status = self.design.status(everything)
        new: list[Trial] = []
        for (kind, ablated), count in status.more.items():
            first = status.scheduled.get((kind, ablated), 0)
            for repeat in range(first, first + count):
                trial = self._by_key.get((kind, ablated, repeat))
                if trial is not None and trial.trial_id not in self._scheduled:
                    self._scheduled[trial.trial_id] = trial
                    new.append(trial)
        looks = []
        for look in status.looks:
            key = (look.kind, look.ablated, look.repeats)
            if key not in self._looked:
                self._looked.add(key)
                looks.append(look.to_dict())
        self.finished = status.finished
        return sorted(new, key=lambda t: self._index[t.trial_id]), looks

    @property
    def universe(self) -> list[Trial]:
        """Every trial the study may run, in submission order."""
        return list(self._universe)

    @property
    def scheduled(self) -> list[Trial]:
        """Every trial queued so far (earlier runs' included), in submission order."""
        return sorted(self._scheduled.values(), key=lambda t: self._index[t.trial_id])

    @staticmethod
    def looked_from(looks: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, int]]:
        """The keys of journaled looks (``look`` events), for ``looked``."""
        return {(str(k["kind"]), str(k["ablated"]), int(k["repeats"])) for k in looks}
