"""Launch an ablation study on Spark: ``experiment.launch(train, study)``.

Launch validates everything it can on the driver first: the training function's signature,
the study's components against the data, and every trial's model, built once with a forward
pass. Only then does it start the RPC server, the controller thread and one Spark job of
long-running tasks, one per worker slot, each of which pulls trials until none are left.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle

from autoablation._ablator import Ablator, check_unique, resolve_ablator
from autoablation._controller import Controller, ControllerListener
from autoablation._data import PreparedData
from autoablation._exceptions import (
    ExperimentError,
    StudyError,
    TrainFunctionError,
)
from autoablation._models import check_all_models
from autoablation._result import ExperimentResult
from autoablation._server import RpcServer
from autoablation._spark import (
    describe_failure,
    driver_hosts,
    get_session,
    is_local_master,
    make_task,
    run_job,
    task_slots,
)
from autoablation._study import AblationStudy
from autoablation._trial import Trial
from autoablation._worker import TrialRuntime, train_parameters

__all__ = ["launch"]

logger = logging.getLogger("autoablation")


def _check_options(
    name: str, optimization_key: str, direction: str, num_workers: int | None
) -> str:
    if not isinstance(name, str) or not name.strip():
        raise StudyError(f"the experiment name must be a non-empty string; got {name!r}")
    if not isinstance(optimization_key, str) or not optimization_key:
        raise StudyError(f"optimization_key must be a non-empty string; got {optimization_key!r}")
    if not isinstance(direction, str) or direction.lower() not in ("max", "min"):
        raise StudyError(f"direction must be 'max' or 'min'; got {direction!r}")
    if num_workers is not None and (
        isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1
    ):
        raise StudyError(f"num_workers must be a positive integer or None; got {num_workers!r}")
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
        max_attempts: Times a trial may run when its worker is lost.
        max_job_restarts: Times the Spark job is started again if it dies with trials left.
        listener: Receives trial events on the driver (default: log lines).

    Returns:
        One result per trial; failed trials are in it with their tracebacks.

    Raises:
        StudyError: The study cannot run; raised before any Spark job starts.
        TrainFunctionError: The training function cannot be called or shipped.
        ExperimentError: Spark kept failing; ``error.result`` holds what finished.
    """
    direction = _check_options(name, optimization_key, direction, num_workers)
    policy, trials, data = prepare(train_fn, study, ablator)

    session = get_session(spark)
    sc = session.sparkContext
    workers = min(num_workers or task_slots(sc), len(trials))
    bind_host, advertised_host = driver_hosts(sc)
    local = is_local_master(str(sc.master))
    group_id = f"autoablation-{name}-{uuid.uuid4().hex[:8]}"
    description = f"autoablation {name!r}: {policy.name}, {len(trials)} trials"

    from autoablation._protocol import new_secret

    secret = new_secret()
    controller = Controller(
        trials,
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=max_attempts,
        listener=listener,
    )
    server = RpcServer(
        secret,
        lambda conn, message: controller.submit(message, lambda r: server.send(conn, r), conn),
        on_close=controller.connection_closed,
        host=bind_host,
    )
    broadcast = sc.broadcast(data) if data is not None else None
    runtime = TrialRuntime(study.model.base_model_generator, broadcast)
    task = make_task(
        (advertised_host, server.address[1]), secret, train_fn, runtime, optimization_key, local
    )
    failure: list[str] = []

    def drive_jobs() -> None:
        restarts = 0
        while not controller.is_done():
            try:
                run_job(
                    sc,
                    workers,
                    task,
                    group_id=group_id,
                    description=description,
                    generation=restarts,
                )
                if controller.is_done():
                    return
                problem = "the Spark job ended before every trial finished"
            except Exception as exc:
                if controller.is_done():
                    return
                problem = f"the Spark job failed: {describe_failure(exc)}"
            restarts += 1
            if restarts > max_job_restarts:
                failure.append(f"{problem} (after {max_job_restarts} restarts)")
                controller.abort(failure[-1])
                return
            logger.warning("%s; starting it again (%d of %d)", problem, restarts, max_job_restarts)

    from pyspark import InheritableThread

    started = time.time()
    controller.start()
    server.start()
    logger.info(
        "experiment %r: %d trials on %d workers, driver at %s:%d",
        name,
        len(trials),
        workers,
        advertised_host,
        server.address[1],
    )
    job_thread = InheritableThread(target=drive_jobs, name="autoablation-spark-job", daemon=True)
    job_thread.start()
    try:
        controller.wait()
        job_thread.join(timeout=10.0)
        if job_thread.is_alive():  # a straggler still runs a trial that finished elsewhere
            sc.cancelJobGroup(group_id)
            job_thread.join(timeout=30.0)
    except BaseException:
        sc.cancelJobGroup(group_id)
        controller.abort("the driver was interrupted")
        raise
    finally:
        server.stop()
        controller.stop()
        if broadcast is not None:
            broadcast.unpersist(blocking=False)
    result = ExperimentResult(
        name,
        controller.results(),
        optimization_key=optimization_key,
        direction=direction,
        ablator=policy.name,
        duration_s=time.time() - started,
        job_group=group_id,
    )
    if failure:
        raise ExperimentError(f"experiment {name!r} stopped: {failure[-1]}", result)
    return result
