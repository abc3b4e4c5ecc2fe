"""Launch an ablation study on Spark: ``experiment.launch(train, study)``.

Launch checks everything it can on the driver first (the Keras backend, the training function,
the trials, every trial's data columns and model, built once with a forward pass). Only then does
it start the RPC server, the controller thread and one Spark job of long-running tasks, one per
worker slot, each of which pulls trials until none are left. Every trial trains on the driver's
Keras backend (``KERAS_BACKEND``, Keras' own convention).

``experiment.lagom(train, AblationConfig(...))`` runs the same study the way Maggy spells it.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from autoablation._core.backends import backend_in_force, check_backend
from autoablation._core.callables import train_parameters
from autoablation._core.errors import StudyError
from autoablation._core.names import did_you_mean
from autoablation._core.trial import TENSORFLOW_IMPORT
from autoablation._driver.conf import task_cpus
from autoablation._driver.events import Listener
from autoablation._driver.gpus import gpus_per_task
from autoablation._driver.launcher import ExperimentRun
from autoablation._driver.options import LAGOM, LAUNCH, Caller, RunOptions
from autoablation._driver.preflight import preflight
from autoablation._driver.spark import get_session, task_slots
from autoablation._driver.warmup import (
    Warmup,
    daemon_loads,
    job_environment,
    trials_use_keras,
)
from autoablation._results.result import ExperimentResult
from autoablation._results.timings import Timings
from autoablation._study.ablators import Ablator
from autoablation._study.study import AblationStudy

__all__ = ["AblationConfig", "lagom", "launch"]

logger = logging.getLogger("autoablation")


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
    trial_timeout: float | None = None,
    max_trial_retries: int = 0,
    max_failures: int | None = None,
    fatal_errors: Sequence[type[BaseException]] = (),
    schedule: str = "longest_first",
    data_transport: str = "auto",
    data_dir: str | os.PathLike[str] | None = None,
    repeats: int | str = 1,
    vary_split: bool = True,
    min_effect: float | None = None,
    max_repeats: int = 16,
    experiment_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    mlflow: bool | None = None,
    tensorboard_dir: str | None = None,
    gpus_per_task: float | None = None,
    listener: Listener | None = None,
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
        ablator: ``"loco"``, ``"pairs"``, ``"keep_one"`` or an `Ablator` instance.
        heartbeat_interval: Seconds between a running task's heartbeats.
        heartbeat_timeout: Seconds of silence before a task's trial is handed to another
            (default: the larger of 30 s and ten intervals).
        max_attempts: Lost workers a trial survives before it is ``lost``; losses from Spark
            killing a failed job's other tasks, and of workers heard from again, do not count,
            and in a storm of losses a trial needs more before they point at it (up to three
            times as many; see the reliability docs).
        max_job_restarts: Times in a row the Spark job is started again when it dies with
            trials left and none became final since its last start.
        trial_timeout: Seconds a training function may run. Past it, `TrialTimeout` is raised
            inside the function and the trial is ``timed_out``; a function that ignores it
            for a grace period (up to 30 s) has its Python worker ended: Spark retries the task
            on a cluster; in local mode the job is started again (see
            ``max_job_restarts``).
        max_trial_retries: Times a trial that failed or timed out in the user's code runs
            again (default 0: an exception is a result, not bad luck). Lost workers are
            governed by ``max_attempts`` instead.
        max_failures: Stop the study, cancelling what has not finished, once more than this
            many trials are final without a metric (failed, timed out or lost); default: never.
        fatal_errors: Exception types that stop the study at once when a training function
            raises one (`FatalTrialError` always does).
        schedule: ``"longest_first"``: base trials first, then the longest expected (by model
            size, then by the durations of earlier repeats), which keeps the last slot from
            finishing long after the others; ``"submission"``: the ablator's order.
        data_transport: How the default dataset generator's data reaches executors:
            ``"broadcast"``, ``"parquet"`` (one file each executor reads), or ``"auto"``
            (broadcast up to 256 MiB, Parquet above it).
        data_dir: Where Parquet data is staged: a path or URI every executor can read
            (default in local mode: a temporary folder, deleted afterwards).
        repeats: Runs of every trial. Repeat i of every trial uses the same seed (common random
            numbers), so effects are paired by repeat. An exact test needs at least 6 paired
            repeats to show anything at 5% (more for many components); ``result.plan`` says
            how many a given effect needs. ``"auto"``: a sequential study: an initial batch of
            repeats, then looks every two repeats, each component stopping once it is
            decided (``matters`` or ``negligible``), the base running while any is undecided,
            never beyond ``max_repeats``; needs ``min_effect``. Later looks' trials are
            queued as earlier ones finish, with no barrier between looks.
        vary_split: Let the repeat index drive the default dataset generator's train/test
            split too (repeat i of every configuration holds out the same rows, drawn from its
            seed; repeat 0 holds out the study's own), so intervals count data-sampling
            variance; a custom generator declaring ``split_seed`` receives it. False keeps the
            study's one split in every repeat (a benchmark's own test set).
        min_effect: The smallest effect worth knowing, in the metric's units: a component
            whose effect an equivalence test puts inside ±min_effect is ``negligible``.
            Default None: nothing is called negligible.
        max_repeats: With ``repeats="auto"``, the most repeats any configuration runs.
        experiment_dir: Where the journal, logs, results and plots go (default
            ``./autoablation-runs/<name>``).
        resume: Continue the experiment in ``experiment_dir``: run only the trials its journal
            has no result for (new components or repeats included). A different study there is
            refused.
        overwrite: Delete what ``experiment_dir`` holds and start over.
        verbose: 0 prints nothing, 1 a progress bar and what trials print, 2 also a line per
            trial start and end.
        mlflow: Log to MLflow (a parent run, a child run per trial); default: when MLflow is
            installed and ``MLFLOW_TRACKING_URI`` is set.
        tensorboard_dir: A folder every executor can write, for each trial's TensorBoard logs
            (``reporter.tensorboard_dir``); default in local mode: ``<experiment_dir>/tensorboard``.
        gpus_per_task: GPUs each long-running task (so each trial) takes; default: what
            ``spark.task.resource.gpu.amount`` says, else one when executors have GPUs.
        listener: Receives trial events on the driver, besides the built-in ones.

    Every trial trains on the driver's Keras backend, chosen the way Keras chooses it: the
    Keras already imported here, else ``KERAS_BACKEND``, else ``~/.keras/keras.json``, else
    TensorFlow. It travels to every executor with the tasks (see the Backends page).

    Returns:
        One result per trial run; failed trials are in it with their tracebacks.

    Raises:
        StudyError: The study or an option cannot work, or ``experiment_dir`` holds another
            experiment (or the same one trained on another backend); raised before any Spark
            job starts.
        BackendError: The Keras backend is unknown, cannot train, or is not installed.
        TrainFunctionError: The training function cannot be called or shipped.
        ExperimentError: Spark kept failing, more than ``max_failures`` trials failed, or one
            raised an error marked fatal; ``error.result`` holds what finished.
        KeyboardInterrupt: Ctrl-C, or SIGTERM while ``launch`` runs on the main thread; the
            Spark job group is cancelled first and the journal closed, so ``resume=True``
            finishes the study.
    """
    options = RunOptions.from_arguments(locals())
    return _run(train_fn, study, options, spark=spark, ablator=ablator, listener=listener)


def _run(
    train_fn: Callable[..., Any],
    study: AblationStudy,
    options: RunOptions,
    *,
    spark: Any | None,
    ablator: str | Ablator,
    listener: Listener | None = None,
    caller: Caller = LAUNCH,
) -> ExperimentResult:
    """Check the study, then run it; ``caller`` spells the options that messages suggest."""
    began = time.time()
    check_backend(backend_in_force())  # before anything starts
    warmup: Warmup | None = None
    session_s = 0.0
    session_at: float | None = None  # when this launch began starting Spark, if it did

    def start_spark() -> Any:
        # Spark's JVM is launched by forking this process, so it starts before the first model
        # is built here: JAX and TensorFlow start threads then, and a fork after them may
        # deadlock. The workers' warm-up starts with it, to import Keras during the checks.
        nonlocal warmup, session_s, session_at
        session_at = time.time()
        session = get_session(spark)
        session_s = time.time() - session_at
        warmup = _warm_workers(session, train_fn, study, options)
        return session

    session = functools.cache(start_spark)
    try:
        checked = preflight(
            train_fn, study, ablator, verbose=options.verbose, before_models=session
        )
        checked_at = time.time()
        run = ExperimentRun(
            session(),
            checked,
            train_fn,
            options,
            seed=study.seed,
            study=study.to_dict(),
            listener=listener,
            caller=caller,
            backend=check_backend(backend_in_force()),  # Keras's own answer, once it is loaded
            warmup=warmup,
        )
        result = run.execute()
    finally:
        if warmup is not None:
            warmup.cancel()
    session_in_checks = session_at is not None and session_at < checked_at
    result.timings = _timings(
        result, run.clock, began, session_s, checked_at, warmup, session_in_checks
    )
    logger.info("%s", result.timings.line())
    return result


def _warm_workers(
    session: Any, train_fn: Callable[..., Any], study: AblationStudy, options: RunOptions
) -> Warmup | None:
    """Start the workers' Keras import now, if the trials will import it and no GPU is used."""
    if not trials_use_keras(
        train_parameters(train_fn),
        model=study.model.base_model_generator is not None,
        generator=study.dataset_generator is not None,
    ):
        return None
    sc = session.sparkContext
    try:
        if gpus_per_task(sc.getConf(), options.gpus_per_task) > 0:
            return None  # a worker that saw a GPU is not reused: nothing to warm
        slots = task_slots(sc)
        workers = min(options.num_workers or slots, slots)
        backend = check_backend(backend_in_force())
        return Warmup(sc, workers, job_environment(backend, cpus=task_cpus(sc.getConf())))
    except Exception as exc:  # an optimisation only: the run reports a real problem itself
        logger.debug("no warm-up for the workers: %s", exc)
        return None


def _timings(
    result: ExperimentResult,
    clock: dict[str, float],
    began: float,
    session_s: float,
    checked_at: float,
    warmup: Warmup | None,
    session_in_checks: bool,
) -> Timings:
    """Split the run's wall time into its phases (see `Timings`).

    Spark starts during the checks when the study has models (before the first one is built),
    else after them: ``session_in_checks`` says which phase its ``session_s`` is taken from.
    """
    ended = time.time()
    submitted = clock.get("submitted", ended)
    waited = clock.get("warmup_wait_s", 0.0)
    spans = [
        (float(t.started_at), float(t.finished_at))
        for t in result.trials
        if t.started_at is not None and t.finished_at is not None and t.started_at >= began
    ]  # this run's trials, not those a resumed journal held
    first = max(min((s for s, _ in spans), default=submitted), submitted)
    last = max(max((e for _, e in spans), default=first), first)
    training = sum(e - s for s, e in spans)
    imports = [
        float(t.outputs[TENSORFLOW_IMPORT])
        for t in result.trials
        if isinstance(t.outputs.get(TENSORFLOW_IMPORT), (int, float))
        and t.started_at is not None
        and t.started_at >= began
    ]
    loads = daemon_loads(warmup.rows, began) if warmup is not None else {}
    return Timings(
        session_s=session_s,
        checks_s=checked_at - began - (session_s if session_in_checks else 0.0),
        prepare_s=submitted - waited - checked_at - (0.0 if session_in_checks else session_s),
        warmup_wait_s=waited,
        startup_s=first - submitted,
        trials_s=last - first,
        wrapup_s=ended - last,
        total_s=ended - began,
        data_s=clock.get("data_s", 0.0),
        training_s=training,
        imports_s=sum(imports),
        imports_overlapped=warmup is not None and bool(warmup.imports),
        workers=int(clock.get("workers", 1)),
        preload_s=sum(loads.values()),
        preload_daemons=len(loads),
    )


class AblationConfig:
    """Maggy's ablation configuration, for ``experiment.lagom(train_fn, config)``.

    Example:
        >>> config = AblationConfig(name="Titanic-LOCO", ablation_study=study, ablator="loco")
        >>> result = experiment.lagom(train_fn=training_fn, config=config)
        >>> config = AblationConfig(ablation_study=study, repeats=5, resume=True)

    Besides Maggy's fields, every option of `launch` may be given by its name (``repeats``,
    ``resume``, ``overwrite``, ``experiment_dir``...); Maggy's ``hb_interval`` is
    ``heartbeat_interval``. Options are checked here, so a bad one is refused at the call.

    Args:
        ablation_study: The study.
        ablator: ``"loco"``, ``"pairs"``, ``"keep_one"`` or an `Ablator` instance.
        description: Free text, kept for Maggy compatibility.
        **options: Launch options by name (or by Maggy's name). The experiment's ``name``
            defaults to Maggy's ``"ablationStudy"``.

    Raises:
        StudyError: An option `launch` does not have (the message suggests the nearest), or
            a value out of its range.
    """

    MAGGY_NAME = "ablationStudy"
    _POSITIONAL = ("direction", "name", "description", "hb_interval", "optimization_key")
    """Maggy's fields after the ablator, in the order its dataclass takes them positionally."""

    def __init__(
        self,
        ablation_study: AblationStudy,
        ablator: str | Ablator = "loco",
        *args: Any,
        description: str = "",
        **options: Any,
    ) -> None:
        if len(args) > len(self._POSITIONAL):
            raise StudyError(
                f"AblationConfig takes at most {2 + len(self._POSITIONAL)} positional "
                f"arguments ({', '.join(('ablation_study', 'ablator', *self._POSITIONAL))}); "
                f"got {2 + len(args)}: pass the options by name"
            )
        for key, value in zip(self._POSITIONAL, args, strict=False):
            if key in options or (key == "description" and description):
                raise StudyError(f"AblationConfig got {key!r} both by position and by name")
            if key == "description":
                description = value
            else:
                options[key] = value
        aliases = RunOptions.maggy_names()
        known = RunOptions.names()
        given: dict[str, Any] = {"name": self.MAGGY_NAME}
        for key, value in options.items():
            option = aliases.get(key, key)
            if option not in known:
                hint = did_you_mean(key, [*known, *aliases])
                raise StudyError(f"AblationConfig has no option {key!r}{hint}")
            RunOptions.check(option, value, shown=key)  # named as the caller spelt it
            given[option] = value
        RunOptions(**given)  # refuse a bad value at the call, not at launch
        self.ablation_study = ablation_study
        self.ablator = ablator
        self.description = description
        self.options: dict[str, Any] = given
        """The launch options this configuration sets, by their `launch` names."""

    def __getattr__(self, key: str) -> Any:
        """An option by its `launch` or Maggy name (``config.name``, ``config.hb_interval``)."""
        option = RunOptions.maggy_names().get(key, key)
        if option in RunOptions.names():
            return self.options.get(option, RunOptions.__dataclass_fields__[option].default)
        raise AttributeError(f"AblationConfig has no attribute {key!r}")

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"AblationConfig(ablator={self.ablator!r}, {settings})"


def lagom(
    train_fn: Callable[..., Any],
    config: AblationConfig,
    *,
    spark: Any | None = None,
) -> ExperimentResult:
    """Run a study configured the Maggy way; the same as `launch` with the config's options.

    Messages that suggest an option spell it the way this form takes it:
    ``AblationConfig(..., resume=True)``.

    Raises:
        StudyError: ``config`` is not an `AblationConfig`, or the study cannot run.
    """
    if not isinstance(config, AblationConfig):
        raise StudyError(
            f"lagom needs an AblationConfig; got {type(config).__name__} (autoablation runs "
            "ablation studies only)"
        )
    return _run(
        train_fn,
        config.ablation_study,
        RunOptions(**config.options),
        spark=spark,
        ablator=config.ablator,
        caller=LAGOM,
    )
