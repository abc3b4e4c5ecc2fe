"""Launch an ablation study on Spark: ``experiment.launch(train, study)``.

Launch validates everything it can on the driver first: the training function's signature,
the study's components against the data, and every trial's model, built once with a forward
pass. Only then does it start the RPC server, the controller thread and one Spark job of
long-running tasks, one per worker slot, each of which pulls trials until none are left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from autoablation._ablator import Ablator, check_unique, resolve_ablator
from autoablation._controller import ControllerListener
from autoablation._data import PreparedData
from autoablation._exceptions import StudyError, TrainFunctionError
from autoablation._launcher import ExperimentRun, RunOptions
from autoablation._models import check_all_models
from autoablation._result import ExperimentResult
from autoablation._spark import get_session
from autoablation._study import AblationStudy
from autoablation._trial import Trial
from autoablation._worker import TrialRuntime, train_parameters

__all__ = ["launch"]


def _positive(name: str, value: Any, *, integer: bool = False, zero: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not zero):
        what = "integer" if integer else "number"
        bound = f"an {what} of 0 or more" if zero else f"a positive {what}"
        raise StudyError(f"{name} must be {bound}; got {value!r}")


def _check_options(
    name: str,
    optimization_key: str,
    direction: str,
    num_workers: int | None,
    heartbeat_interval: float,
    heartbeat_timeout: float | None,
    max_attempts: int,
    max_job_restarts: int,
) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StudyError(f"the experiment name must be a non-empty string; got {name!r}")
    if not isinstance(optimization_key, str) or not optimization_key:
        raise StudyError(f"optimization_key must be a non-empty string; got {optimization_key!r}")
    if not isinstance(direction, str) or direction.lower() not in ("max", "min"):
        raise StudyError(f"direction must be 'max' or 'min'; got {direction!r}")
    if num_workers is not None:
        _positive("num_workers", num_workers, integer=True)
    _positive("heartbeat_interval", heartbeat_interval)
    if heartbeat_timeout is not None:
        _positive("heartbeat_timeout", heartbeat_timeout)
        if heartbeat_timeout <= heartbeat_interval:
            raise StudyError(
                f"heartbeat_timeout ({heartbeat_timeout}) must be longer than "
                f"heartbeat_interval ({heartbeat_interval})"
            )
    _positive("max_attempts", max_attempts, integer=True)
    _positive("max_job_restarts", max_job_restarts, integer=True, zero=True)
    return direction.lower()


def _check_data(
    study: AblationStudy, trials: Sequence[Trial], data: PreparedData | None
) -> dict[str, int] | None:
    """Check every trial's features against the data; return each trial's input width."""
    if data is None:
        if study.features.included:
            raise StudyError(
                "the study includes features but has no training data; pass a DataFrame or "
                "a CSV/Parquet path to AblationStudy(...)"
            )
        return None
    widths: dict[str, int] = {}
    for trial in trials:
        kept = data.column_indices(trial.removed_features)
        if not kept:
            raise StudyError(
                f"trial {trial.label!r} removes every feature column, leaving no input"
            )
        widths[trial.trial_id] = len(kept)
    return widths


def _check_shippable(train_fn: Callable[..., Any], study: AblationStudy) -> None:
    """Serialise what travels in the task closure now, to name what cannot travel."""
    try:
        cloudpickle.dumps(train_fn)
    except Exception as exc:
        raise TrainFunctionError(
            f"the training function cannot be sent to executors ({type(exc).__name__}: {exc}); "
            "define it at module level and create clients or sessions inside it"
        ) from exc
    generator = study.model.base_model_generator
    if generator is not None:
        try:
            cloudpickle.dumps(generator)
        except Exception as exc:
            raise StudyError(
                f"the base model generator cannot be sent to executors "
                f"({type(exc).__name__}: {exc})"
            ) from exc


def prepare(
    train_fn: Callable[..., Any], study: AblationStudy, ablator: str | Ablator = "loco"
) -> tuple[Ablator, list[Trial], PreparedData | None]:
    """Everything launch checks before Spark: returns the ablator, trials and prepared data.

    Raises:
        StudyError: The study cannot run (with the subclass naming the reason).
        TrainFunctionError: The training function cannot be called or shipped.
    """
    if not isinstance(study, AblationStudy):
        raise StudyError(f"study must be an AblationStudy; got {type(study).__name__}")
    train_parameters(train_fn)
    policy = resolve_ablator(ablator)
    trials = policy.trials(study)
    check_unique(trials)
    data = study.prepared_data()
    widths = _check_data(study, trials, data)
    generator = study.model.base_model_generator
    if generator is None:
        if study.model.layers.included:
            raise StudyError(
                "the study includes layers but has no base model generator; call "
                "study.model.set_base_model_generator(fn) first"
            )
    else:
        base_width = len(data.feature_names) if data is not None else None
        check_all_models(generator, trials, widths, base_width)
    _check_shippable(train_fn, study)
    return policy, trials, data


def launch(
    train_fn: Callable[..., Any],
    study: AblationStudy,
    *,
    name: str = "ablation",
    optimization_key: str = "metric",
    direction: str = "max",
    num_workers: int | None = None,
    spark: Any | None = None,
    ablator: str | Ablator = "loco",
    heartbeat_interval: float = 1.0,
    heartbeat_timeout: float | None = None,
    max_attempts: int = 3,
    max_job_restarts: int = 3,
    listener: ControllerListener | None = None,
) -> ExperimentResult:
    """Run every trial of ``study`` on Spark and return their results.

    Example:
        >>> def train(dataset_function, model_function):
        ...     model = model_function()
        ...     model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        ...     model.fit(dataset_function(5, 32), epochs=1, verbose=0)
        ...     return model.evaluate(dataset_function(1, 32, split="test"), verbose=0)[1]
        >>> result = experiment.launch(train, study, name="titanic")
        >>> print(result)

    Args:
        train_fn: ``train(dataset_function, model_function[, reporter])``; it gets only the
            parameters it declares, by name, and returns a number or a dict holding
            ``optimization_key``.
        study: The declared study.
        name: Names the experiment in logs, Spark's UI (job group) and results.
        optimization_key: The metric's key when ``train_fn`` returns a dict.
        direction: ``"max"`` if a higher metric is better, ``"min"`` otherwise.
        num_workers: Long-running tasks to start; default: Spark's task slots, capped at the
            number of trials.
        spark: A SparkSession; default: the active one, or a new local one.
        ablator: ``"loco"`` or an `Ablator` instance.
        heartbeat_interval: Seconds between a running task's heartbeats.
        heartbeat_timeout: Seconds of silence before a task's trial is handed to another
            (default: the larger of 30 s and ten intervals).
        max_attempts: Lost workers a trial survives before it is ``lost``; losses from Spark
            killing a failed job's other tasks do not count.
        max_job_restarts: Times the Spark job is started again if it dies with trials left.
        listener: Receives trial events on the driver (default: log lines).

    Returns:
        One result per trial; failed trials are in it with their tracebacks.

    Raises:
        StudyError: The study cannot run; raised before any Spark job starts.
        TrainFunctionError: The training function cannot be called or shipped.
        ExperimentError: Spark kept failing; ``error.result`` holds what finished.
    """
    direction = _check_options(
        name,
        optimization_key,
        direction,
        num_workers,
        heartbeat_interval,
        heartbeat_timeout,
        max_attempts,
        max_job_restarts,
    )
    policy, trials, data = prepare(train_fn, study, ablator)
    generator = study.model.base_model_generator

    def runtime(sc: Any) -> TrialRuntime:
        return TrialRuntime(generator, sc.broadcast(data) if data is not None else None)

    options = RunOptions(
        name=name,
        optimization_key=optimization_key,
        direction=direction,
        ablator=policy.name,
        num_workers=num_workers,
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=max_attempts,
        max_job_restarts=max_job_restarts,
    )
    run = ExperimentRun(get_session(spark), trials, train_fn, runtime, options, listener)
    return run.execute()
