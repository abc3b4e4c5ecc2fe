"""How an experiment runs: every launch option with its default and its check."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from autoablation._core.errors import StudyError
from autoablation._driver.progress import VERBOSITY
from autoablation._driver.staging import TRANSPORTS
from autoablation._driver.tracking import mlflow_wanted

logger = logging.getLogger("autoablation")

SCHEDULES = ("longest_first", "submission")
"""Orders in which pending trials start (see `autoablation._driver.schedule`)."""
_MAX_TIMEOUT_S = 1e8


def _positive(name: str, value: Any, *, integer: bool = False, zero: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not zero):
        what = "integer" if integer else "number"
        bound = f"an {what} of 0 or more" if zero else f"a positive {what}"
        raise StudyError(f"{name} must be {bound}; got {value!r}")


def _is_exception_type(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


@dataclass(frozen=True)
class RunOptions:
    """How an experiment runs; checked when created.

    Raises:
        StudyError: An option out of its range, named with the value given.
    """

    name: str = "ablation"
    optimization_key: str = "metric"
    direction: str = "max"
    ablator: str = "loco"
    num_workers: int | None = None
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float | None = None
    max_attempts: int = 3
    max_job_restarts: int = 3
    trial_timeout: float | None = None
    max_trial_retries: int = 0
    max_failures: int | None = None
    fatal_errors: tuple[type[BaseException], ...] = ()
    schedule: str = "longest_first"
    data_transport: str = "auto"
    data_dir: str | None = None
    repeats: int = 1
    experiment_dir: str | None = None
    resume: bool = False
    overwrite: bool = False
    verbose: int = 1
    mlflow: bool | None = None
    tensorboard_dir: str | None = None
    gpus_per_task: float | None = None
    effect: str = "removal"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise StudyError(f"the experiment name must be a non-empty string; got {self.name!r}")
        if not isinstance(self.optimization_key, str) or not self.optimization_key:
            raise StudyError(
                f"optimization_key must be a non-empty string; got {self.optimization_key!r}"
            )
        if not isinstance(self.direction, str) or self.direction.lower() not in ("max", "min"):
            raise StudyError(f"direction must be 'max' or 'min'; got {self.direction!r}")
        object.__setattr__(self, "direction", self.direction.lower())
        if self.num_workers is not None:
            _positive("num_workers", self.num_workers, integer=True)
        _positive("heartbeat_interval", self.heartbeat_interval)
        if self.heartbeat_timeout is not None:
            _positive("heartbeat_timeout", self.heartbeat_timeout)
            if self.heartbeat_timeout <= self.heartbeat_interval:
                raise StudyError(
                    f"heartbeat_timeout ({self.heartbeat_timeout}) must be longer than "
                    f"heartbeat_interval ({self.heartbeat_interval})"
                )
        _positive("max_attempts", self.max_attempts, integer=True)
        _positive("max_job_restarts", self.max_job_restarts, integer=True, zero=True)
        if self.trial_timeout is not None:
            _positive("trial_timeout", self.trial_timeout)
            if not self.trial_timeout < _MAX_TIMEOUT_S:  # NaN and inf included
                raise StudyError(
                    f"trial_timeout must be a number of seconds under {_MAX_TIMEOUT_S:g} "
                    f"(None for no limit); got {self.trial_timeout!r}"
                )
        _positive("max_trial_retries", self.max_trial_retries, integer=True, zero=True)
        if self.max_failures is not None:
            _positive("max_failures", self.max_failures, integer=True, zero=True)
        if self.schedule not in SCHEDULES:
            raise StudyError(
                f"schedule must be one of {', '.join(map(repr, SCHEDULES))}; got {self.schedule!r}"
            )
        bad = [e for e in self.fatal_errors if not _is_exception_type(e)]
        if bad:
            raise StudyError(f"fatal_errors must be exception classes; got {bad[0]!r}")
        if self.data_transport not in TRANSPORTS:
            raise StudyError(
                f"data_transport must be one of {', '.join(TRANSPORTS)}; "
                f"got {self.data_transport!r}"
            )
        if self.data_dir is not None and not isinstance(self.data_dir, (str, os.PathLike)):
            raise StudyError(f"data_dir must be a path or URI; got {self.data_dir!r}")
        _positive("repeats", self.repeats, integer=True)
        if self.verbose not in VERBOSITY:
            raise StudyError(f"verbose must be 0, 1 or 2; got {self.verbose!r}")
        if self.resume and self.overwrite:
            raise StudyError("resume=True and overwrite=True contradict each other; choose one")
        if self.gpus_per_task is not None:
            _positive("gpus_per_task", self.gpus_per_task, zero=True)
        if self.mlflow:
            mlflow_wanted(True)  # refuses at once when MLflow is not installed

    def describe(self) -> dict[str, Any]:
        """The options that describe the results (kept in the journal and study.json)."""
        keys = ("name", "optimization_key", "direction", "ablator", "effect", "repeats")
        return {key: getattr(self, key) for key in keys}
