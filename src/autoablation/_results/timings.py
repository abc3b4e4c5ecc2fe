"""Where a study's wall time went: the fixed costs around the trials, and the trials.

A small study can take twice its trainings' time, and a user who sees only the trials'
durations has to guess why. `Timings` splits the driver's wall time into consecutive phases
(they add up to the total) and says what the workers did meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Timings:
    """The phases of one `launch`, in seconds of the driver's wall clock.

    The first seven add up to ``total_s``.

    Attributes:
        session_s: Starting Spark (0 when a session was given or active).
        checks_s: Checking the study: the data, the trials, every distinct model built once.
        prepare_s: Opening the experiment directory, shipping the data, starting the server.
        warmup_wait_s: Waiting, after the checks, for the workers to finish importing Keras.
        startup_s: From submitting the study's Spark job to its first trial starting.
        trials_s: From the first trial's start to the last one's end.
        wrapup_s: From the last trial's end to the result.
        total_s: From calling `launch` to the result.
        data_s: Of ``prepare_s``, staging the data for the executors.
        training_s: The trials' durations added up (inside the training functions).
        imports_s: The workers' seconds importing TensorFlow/Keras, added up.
        preload_s: Seconds the executors' Python daemons spent loading Keras for this study,
            each once, before forking the workers (`autoablation.SPARK_CONF`); within the
            checks and the wait for the workers. Added up over ``preload_daemons`` daemons,
            which on a cluster load side by side.
        preload_daemons: How many daemons loaded Keras for this study (one per executor).
        imports_overlapped: Whether those imports ran while the driver checked the study.
        workers: The study's Spark tasks.
    """

    session_s: float
    checks_s: float
    prepare_s: float
    warmup_wait_s: float
    startup_s: float
    trials_s: float
    wrapup_s: float
    total_s: float
    data_s: float = 0.0
    training_s: float = 0.0
    imports_s: float = 0.0
    imports_overlapped: bool = False
    workers: int = 1
    preload_s: float = 0.0
    preload_daemons: int = 0

    @property
    def fixed_s(self) -> float:
        """Everything but the trials: what the study costs beyond running them."""
        return self.total_s - self.trials_s

    @property
    def gaps_s(self) -> float:
        """Slot-seconds within ``trials_s`` that ran no training function (dispatch, set-up)."""
        return max(0.0, self.trials_s * self.workers - self.training_s)

    def to_dict(self) -> dict[str, Any]:
        """The phases as a plain dict (JSON)."""
        return {**asdict(self), "fixed_s": self.fixed_s, "gaps_s": self.gaps_s}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Timings:
        """The inverse of `to_dict`."""
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in values.items() if key in fields})

    def line(self) -> str:
        """One line for the summary: the fixed costs beside the trials."""
        imports = ""
        if self.imports_s > 0:
            how = "while the driver checked" if self.imports_overlapped else "before their trials"
            imports = f"; workers imported TensorFlow for {self.imports_s:.1f}s in all, {how}"
        if self.preload_s > 0 and self.preload_daemons > 1:
            imports += (
                f"; {self.preload_daemons} Spark Python daemons loaded Keras, "
                f"{self.preload_s:.1f}s in all, each once, before forking their workers"
            )
        elif self.preload_s > 0:  # one daemon (or a result saved before they were counted)
            imports += (
                f"; Spark's Python daemon loaded Keras in {self.preload_s:.1f}s, once, "
                "before forking the workers"
            )
        return (
            f"time: {self.total_s:.1f}s = Spark session {self.session_s:.1f}s + checks "
            f"{self.checks_s:.1f}s + preparing {self.prepare_s:.1f}s (data {self.data_s:.1f}s)"
            f" + waiting for workers {self.warmup_wait_s + self.startup_s:.1f}s + trials "
            f"{self.trials_s:.1f}s ({self.training_s:.1f}s training on {self.workers} "
            f"worker{'s' if self.workers != 1 else ''}, {self.gaps_s:.1f}s idle) + wrap-up "
            f"{self.wrapup_s:.1f}s{imports}"
        )
