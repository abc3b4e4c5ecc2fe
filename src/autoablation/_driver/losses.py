"""Which lost workers count against a trial, and when the evidence makes a trial ``lost``.

A worker is lost when its process dies, its connection closes or it falls silent. Usually that
is charged to the trial it ran: a trial that crashes its process must not be retried forever.
But a loss counts against a trial only as far as the evidence points at the trial:

* When one task fails a Spark job, Spark kills the job's other tasks too, and their trials did
  nothing wrong. The launcher learns the failed task from Spark's message (often after the
  losses arrived), so every loss is kept with its task's place, and `LossBook.job_failed`
  lifts the charge of the others.
* A worker presumed lost that is heard from again (a late heartbeat, a result, a request on a
  new connection after a network fault) did not die: `LossBook.alive` lifts its charges.
* A storm of faults (preemptible executors vanishing in waves, a chaos test) takes workers
  from healthy trials at some background rate. `LossBook.convicted` declares a trial lost
  only when its losses stand out from the losses of the study's other hand-outs: at
  ``max_attempts`` charges when the others lose (almost) nothing, later in a storm, and at
  `MOST_ATTEMPTS` times ``max_attempts`` whatever the storm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FALSE_LOST = 0.01
"""The chance, over the whole study, that a healthy trial is declared lost by bad luck alone."""
BACKGROUND_MIN = 10
"""Other hand-outs that must have ended before their loss rate is trusted as a background."""
MOST_ATTEMPTS = 3
"""A trial is lost at this many times ``max_attempts`` charged losses, whatever the storm."""


@dataclass(frozen=True)
class LossHistory:
    """What earlier runs of a resumed study saw: a storm does not end with its driver.

    A driver killed in a storm takes its loss counts with it; without them the resumed run
    would judge its first trials as in a quiet study (`BACKGROUND_MIN`), and declare a healthy
    trial ``lost`` at ``max_attempts``. Read from the journal, the earlier hand-outs and the
    losses among them (every loss, charged or not: a slight overestimate of the background).
    """

    handouts: int = 0
    lost: int = 0


@dataclass
class _Loss:
    """A lost hand-out; ``charged`` when it counts against the trial."""

    trial_id: str
    worker: str
    generation: int
    partition: int
    charged: bool


class LossBook:
    """The losses of a study's hand-outs, and the charges they make against each trial.

    Besides each trial's charges it counts the hand-outs that ended, by a result or by a charged
    loss, to know the rate at which the study loses workers whatever they run.
    """

    def __init__(self, history: LossHistory | None = None) -> None:
        self._losses: list[_Loss] = []
        self._charges: dict[str, int] = {}
        self._failed_jobs: dict[int, int | None] = {}
        self._suspended: dict[str, list[_Loss]] = {}  # worker -> its charged losses
        prior = history or LossHistory()
        self._ended = prior.handouts  # hand-outs that ended by a result or a charged loss
        self._ended_by: dict[str, int] = {}
        self._charged = prior.lost

    def charges(self, trial_id: str) -> int:
        """Losses that count against the trial now."""
        return self._charges.get(trial_id, 0)

    def suspects(self, worker: str) -> bool:
        """Whether ``worker`` has a charged loss that its coming back would lift."""
        return worker in self._suspended

    def background(self, trial_id: str) -> float:
        """The share of the other trials' ended hand-outs that lost their worker (0 if few)."""
        others = self._ended - self._ended_by.get(trial_id, 0)
        if others < BACKGROUND_MIN:
            return 0.0
        return (self._charged - self.charges(trial_id)) / others

    def convicted(self, trial_id: str, max_attempts: int, trials: int) -> bool:
        """Whether the trial's charged losses make it ``lost``.

        At ``max_attempts`` charges when the rest of the study loses no worker; in a storm,
        only once a healthy trial losing that many in a row has become unlikely (below
        `FALSE_LOST` over ``trials`` trials); at `MOST_ATTEMPTS` times ``max_attempts``
        whatever the storm.
        """
        charges = self.charges(trial_id)
        if charges < max_attempts:
            return False
        if charges >= MOST_ATTEMPTS * max_attempts:
            return True
        return trials * self.background(trial_id) ** charges <= FALSE_LOST

    def would_convict(
        self, trial_id: str, generation: int, partition: int, max_attempts: int, trials: int
    ) -> bool:
        """Whether losing task ``partition`` of job ``generation`` would make the trial lost."""
        if generation in self._failed_jobs and self._failed_jobs[generation] not in (
            None,
            partition,
        ):
            return False  # not charged: Spark killed it with a job another task failed
        self._charges[trial_id] = self.charges(trial_id) + 1  # try it, then take it back
        try:
            return self.convicted(trial_id, max_attempts, trials)
        finally:
            self._charges[trial_id] -= 1

    def ended(self, trial_id: str) -> None:
        """A hand-out of the trial ended with a result."""
        self._ended += 1
        self._ended_by[trial_id] = self._ended_by.get(trial_id, 0) + 1

    def lose(self, trial_id: str, worker: str, generation: int, partition: int) -> int:
        """Record the loss of ``worker``, task ``partition`` of job ``generation``.

        The loss is not charged when that job already failed because of another task.

        Returns:
            The trial's charges.
        """
        charged = True
        if generation in self._failed_jobs:
            culprit = self._failed_jobs[generation]
            charged = culprit is None or culprit == partition
        loss = _Loss(trial_id, worker, generation, partition, charged)
        self._losses.append(loss)
        if charged:
            self._charge(loss, 1)
            self._suspended.setdefault(worker, []).append(loss)
        return self.charges(trial_id)

    def job_failed(self, generation: int, culprit: int | None) -> list[str]:
        """Job ``generation`` failed because of task ``culprit`` (None: unknown).

        Returns:
            The trials whose charge was lifted: each lost a worker that Spark killed only
            because ``culprit`` failed its job. With an unknown culprit every loss counts.
        """
        self._failed_jobs[generation] = culprit
        if culprit is None:
            return []
        return self._lift(
            loss
            for loss in self._losses
            if loss.generation == generation and loss.partition != culprit
        )

    def alive(self, worker: str) -> list[str]:
        """``worker``, presumed lost, was heard from: its process did not die.

        Returns:
            The trials whose charge was lifted.
        """
        return self._lift(self._suspended.pop(worker, ()))

    def _lift(self, losses: Iterable[_Loss]) -> list[str]:
        lifted = []
        for loss in losses:
            if loss.charged:
                loss.charged = False
                self._charge(loss, -1)
                lifted.append(loss.trial_id)
        return lifted

    def _charge(self, loss: _Loss, sign: int) -> None:
        trial_id = loss.trial_id
        self._charges[trial_id] = self.charges(trial_id) + sign
        self._charged += sign
        self._ended += sign
        self._ended_by[trial_id] = self._ended_by.get(trial_id, 0) + sign
