"""Which lost workers count against a trial's ``max_attempts``.

A worker is lost when its process dies, its connection closes or it falls silent. Usually that
is charged to the trial it ran: a trial that crashes its process must not be retried forever.
But when one task fails a Spark job, Spark kills the job's other tasks too, and their trials
did nothing wrong. The launcher learns the failed task from Spark's message (often after the
losses arrived), so every loss is kept with its task's place, and `LossBook.job_failed` lifts
the charge of the others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Loss:
    """A lost hand-out; ``charged`` when it counts against ``max_attempts``."""

    trial_id: str
    generation: int
    partition: int
    charged: bool


class LossBook:
    """The losses of a study's hand-outs, and the charges they make against each trial."""

    def __init__(self) -> None:
        self._losses: list[_Loss] = []
        self._charges: dict[str, int] = {}
        self._failed_jobs: dict[int, int | None] = {}

    def charges(self, trial_id: str) -> int:
        """Losses that count against the trial now."""
        return self._charges.get(trial_id, 0)

    def lose(self, trial_id: str, generation: int, partition: int) -> int:
        """Record a loss of the task ``partition`` of job ``generation``; the trial's charges.

        The loss is not charged when that job already failed because of another task.
        """
        charged = True
        if generation in self._failed_jobs:
            culprit = self._failed_jobs[generation]
            charged = culprit is None or culprit == partition
        self._losses.append(_Loss(trial_id, generation, partition, charged))
        self._charges[trial_id] = self.charges(trial_id) + charged
        return self._charges[trial_id]

    def job_failed(self, generation: int, culprit: int | None) -> list[str]:
        """Job ``generation`` failed because of task ``culprit`` (None: unknown).

        Returns:
            The trials whose charge was lifted: each lost a worker that Spark killed only
            because ``culprit`` failed its job. With an unknown culprit every loss counts.
        """
        self._failed_jobs[generation] = culprit
        if culprit is None:
            return []
        lifted = []
        for loss in self._losses:
            if loss.generation != generation or loss.partition == culprit or not loss.charged:
                continue
            loss.charged = False
            self._charges[loss.trial_id] -= 1
            lifted.append(loss.trial_id)
        return lifted
