"""The executor side: a loop that asks for a trial, runs it, reports it, and asks again.

`run_worker` is all a Spark task does (see `autoablation._spark`), and tests run it on plain
threads against an in-process controller. A trial that raises or returns something unusable is
reported as ``failed`` with the reason, one past its time limit as ``timed_out``; only a broken
driver channel ends the loop early.
"""

from __future__ import annotations

import gc
import inspect
import logging
import math
import os
import random
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from autoablation._capture import captured_output, held_routers
from autoablation._client import ControllerClient
from autoablation._datasets import DataHandle, DatasetFunction, GeneratedDataset
from autoablation._deadline import Deadline, TrialTimeout, grace_period
from autoablation._exceptions import FatalTrialError, ReturnValueError, TrainFunctionError
from autoablation._models import ModelRecipe, models_built
from autoablation._reporter import Reporter
from autoablation._trial import Trial

logger = logging.getLogger("autoablation.worker")

TrainFunction = Callable[..., Any]
_PARAMETERS = ("dataset_function", "model_function", "reporter")
MAX_ERROR_CHARS = 64_000
"""Characters of a traceback sent to the driver; its end, where the exception is, is kept."""
MAX_OUTPUTS = 256
"""Extra values of a returned dict kept besides the metric."""


def train_parameters(train_fn: TrainFunction) -> frozenset[str]:
    """Which of ``dataset_function``, ``model_function``, ``reporter`` ``train_fn`` takes.

    Raises:
        TrainFunctionError: It is not callable, or needs a parameter autoablation cannot give.
    """
    if not callable(train_fn):
        raise TrainFunctionError(
            f"the training function must be callable; got {type(train_fn).__name__}"
        )
    try:
        signature = inspect.signature(train_fn)
    except (TypeError, ValueError) as exc:
        raise TrainFunctionError(f"cannot read the training function's signature: {exc}") from exc
    accepted: set[str] = set()
    for name, param in signature.parameters.items():
        if param.kind is param.VAR_KEYWORD:
            return frozenset(_PARAMETERS)
        if param.kind is param.VAR_POSITIONAL:
            continue
        if name in _PARAMETERS and param.kind is not param.POSITIONAL_ONLY:
            accepted.add(name)
        elif param.default is param.empty:
            raise TrainFunctionError(
                f"the training function's parameter {name!r} has no default, and autoablation "
                f"only passes {', '.join(_PARAMETERS)} (by name)"
            )
    return frozenset(accepted)


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (Real, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if hasattr(value, "item") and getattr(value, "size", None) == 1:  # 0-d array or tensor
        return _json_scalar(value.item())
    return repr(value)[:200]


def _as_metric(value: Any, what: str) -> float:
    if hasattr(value, "item") and getattr(value, "size", None) == 1 and not isinstance(value, bool):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (Real, np.number)):
        raise ReturnValueError(f"{what} is {value!r} ({type(value).__name__}); expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ReturnValueError(f"{what} is {number}; expected a finite number")
    return number


def interpret_return(value: Any, optimization_key: str) -> tuple[float, dict[str, Any]]:
    """Turn a training function's return value into ``(metric, other outputs)``.

    Raises:
        ReturnValueError: None, a non-number, a non-finite number, or a dict without the key.
    """
    if value is None:
        raise ReturnValueError(
            "the training function returned None; return a number or a dict holding "
            f"{optimization_key!r}"
        )
    if isinstance(value, Mapping):
        if optimization_key not in value:
            keys = ", ".join(map(repr, value)) or "none"
            raise ReturnValueError(
                f"the training function returned a dict without the optimization key "
                f"{optimization_key!r}; its keys are: {keys}"
            )
        metric = _as_metric(value[optimization_key], f"the returned {optimization_key!r}")
        extra = [(str(k)[:200], v) for k, v in value.items() if k != optimization_key]
        if len(extra) > MAX_OUTPUTS:
            logger.warning("keeping %d of %d returned values", MAX_OUTPUTS, len(extra))
        return metric, {k: _json_scalar(v) for k, v in extra[:MAX_OUTPUTS]}
    return _as_metric(value, "the training function's return value"), {}


@dataclass(frozen=True)
class TrialPolicy:
    """How a worker treats a trial's running time and errors; travels in the task closure.

    Attributes:
        trial_timeout: Seconds a training function may run; None for no limit.
        fatal_errors: Exception types that stop the whole study (besides `FatalTrialError`).
        exit_when_stuck: End this process when a timed-out function ignores the timeout
            (a Spark task's Python worker); otherwise only report the trial.
    """

    trial_timeout: float | None = None
    fatal_errors: tuple[type[BaseException], ...] = ()
    exit_when_stuck: bool = False

    def is_fatal(self, error: BaseException) -> bool:
        """Whether ``error`` should stop the study."""
        return isinstance(error, (FatalTrialError, *self.fatal_errors))


def _failure(trial: Trial, status: str, error: str, started: float, **extra: Any) -> dict[str, Any]:
    return {
        "trial": trial.trial_id,
        "status": status,
        "metric": None,
        "error": error,
        "outputs": {},
        "started_at": started,
        "finished_at": time.time(),
        **extra,
    }


def _traceback_text() -> str:
    error = traceback.format_exc()
    if len(error) > MAX_ERROR_CHARS:
        error = "... (traceback shortened)\n" + error[-MAX_ERROR_CHARS:]
    return error


@dataclass(frozen=True)
class TrialRuntime:
    """What a worker needs to turn any trial into its factories; travels in the task closure.

    Attributes:
        model: How to build each trial's model, or None for a study without models.
        data: The default generator's prepared data (a Spark broadcast, a Parquet file or a
            local holder), or None.
        dataset_generator: The study's own dataset generator, or None.
        tensorboard_root: Where trials write TensorBoard logs (a folder executors share);
            None for a temporary folder on each executor.
    """

    model: ModelRecipe | None
    data: DataHandle | None
    dataset_generator: Callable[..., Any] | None = None
    tensorboard_root: str | None = None

    def release(self) -> None:
        """Free what the runtime holds on the cluster (broadcast, staged file), without waiting."""
        unpersist = getattr(self.data, "unpersist", None)
        if unpersist is not None:
            unpersist(blocking=False)

    def dataset_function(self, trial: Trial) -> DatasetFunction | GeneratedDataset | None:
        """The trial's ``dataset_function``: the data without the trial's features."""
        if self.dataset_generator is not None:
            return GeneratedDataset(self.dataset_generator, trial.removed_features)
        if self.data is None:
            return None
        return DatasetFunction(self.data, trial.removed_features, seed=trial.seed)

    def model_function(self, trial: Trial) -> Callable[[], Any] | None:
        """The trial's ``model_function``: the base model without the trial's components."""
        recipe = self.model
        if recipe is None:
            return None
        base_width = width = None
        if self.data is not None and self.dataset_generator is None:
            base_width = len(self.data.value.feature_names)
            width = base_width - len(trial.removed_features)

        def model_function() -> Any:
            return recipe.build(trial, base_width=base_width, width=width)

        return model_function


_active_lock = threading.Lock()
_active_trials = 0
_models_seen = 0


def _reset_state(seed: int, *, keras_too: bool) -> None:
    """Free the previous trial's Keras state and seed Python, NumPy and Keras.

    Keras is imported (seconds in a fresh Python worker) only when ``keras_too`` says the
    trial uses it or it is loaded already: a study of scikit-learn models, or of sleeps, does
    not pay for TensorFlow. The Keras session is cleared only when no other trial runs in this
    process: a Spark task has its process to itself, but in-process workers on threads share
    one. A full garbage collection (over 100 ms once TensorFlow is loaded) runs only after a
    trial built a model.
    """
    global _models_seen
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if not keras_too and "keras" not in sys.modules:
        return
    import keras

    with _active_lock:
        alone = _active_trials == 1
    if alone:
        keras.backend.clear_session(free_memory=False)
        if models_built() != _models_seen:
            _models_seen = models_built()
            gc.collect()
    keras.utils.set_random_seed(seed % 2**32)


class _Heartbeat:
    """One thread per worker that sends the running trial's reporter buffer every interval.

    The thread lives as long as the worker loop, so a trial costs no thread start. `track`
    points it at a trial's reporter; `untrack` waits for a heartbeat in flight, so nothing a
    heartbeat drained can arrive after the trial's result (the driver would drop it as late).
    """

    def __init__(self, client: ControllerClient, worker_id: str, interval: float) -> None:
        self._client = client
        self._worker_id = worker_id
        self._interval = interval
        self._sending = threading.Lock()  # held while a heartbeat is drained and sent
        self._reporter: Reporter | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="autoablation-heartbeat", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def track(self, reporter: Reporter) -> None:
        """Send ``reporter``'s buffer from the next heartbeat on."""
        with self._sending:
            self._reporter = reporter

    def untrack(self) -> None:
        """Stop sending for the current trial, after any heartbeat in flight is delivered."""
        with self._sending:
            self._reporter = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._sending:
                reporter = self._reporter
                if reporter is None:
                    continue
                metrics, logs = reporter.drain()
                try:
                    self._client.heartbeat(self._worker_id, reporter.trial_id, metrics, logs)
                except Exception as exc:  # best effort: the next heartbeat or the result has it
                    reporter.restore(metrics, logs)
                    logger.warning("heartbeat for %s failed: %s", reporter.trial_id, exc)


def run_trial(
    train_fn: TrainFunction,
    trial: Trial,
    runtime: TrialRuntime,
    *,
    optimization_key: str,
    reporter: Reporter,
    parameters: frozenset[str] | None = None,
    policy: TrialPolicy = TrialPolicy(),
    on_stuck: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run one trial and return its outcome as the fields of a ``result`` message.

    ``on_stuck`` runs if the training function ignores ``policy.trial_timeout``.
    """
    global _active_trials
    started = time.time()
    limit = Deadline(policy.trial_timeout, on_stuck=on_stuck, backstop=policy.exit_when_stuck)
    with _active_lock:
        _active_trials += 1
    try:
        wanted = parameters if parameters is not None else train_parameters(train_fn)
        uses_keras = ("model_function" in wanted and runtime.model is not None) or (
            "dataset_function" in wanted and runtime.data is not None
        )
        _reset_state(trial.seed, keras_too=uses_keras)
        kwargs: dict[str, Any] = {}
        if "dataset_function" in wanted:
            kwargs["dataset_function"] = runtime.dataset_function(trial)
        if "model_function" in wanted:
            kwargs["model_function"] = runtime.model_function(trial)
        if "reporter" in wanted:
            kwargs["reporter"] = reporter
        started = time.time()
        value = limit.call(train_fn, **kwargs)
        finished = time.time()
        metric, outputs = interpret_return(value, optimization_key)
        return {
            "trial": trial.trial_id,
            "status": "ok",
            "metric": metric,
            "error": "",
            "outputs": outputs,
            "started_at": started,
            "finished_at": finished,
        }
    except ReturnValueError as exc:
        return _failure(trial, "failed", str(exc), started)
    except TrialTimeout:
        if not limit.expired:  # the user's own code raised it
            return _failure(trial, "failed", _traceback_text(), started)
        error = f"TrialTimeout: it ran past trial_timeout={policy.trial_timeout:g}s"
        return _failure(trial, "timed_out", error, started)
    except Exception as exc:
        return _failure(trial, "failed", _traceback_text(), started, fatal=policy.is_fatal(exc))
    except BaseException as exc:  # SystemExit, a fatal BaseException the user named
        if not policy.is_fatal(exc):
            raise
        return _failure(trial, "failed", _traceback_text(), started, fatal=True)
    finally:
        with _active_lock:
            _active_trials -= 1


class _StuckTrial:
    """Reports a trial whose function ignored its timeout; ends the process if asked to."""

    def __init__(
        self, client: ControllerClient, worker_id: str, trial: Trial, policy: TrialPolicy
    ) -> None:
        self._client = client
        self._worker_id = worker_id
        self._trial = trial
        self._policy = policy
        self._started = time.time()
        self.reported = False

    def __call__(self) -> None:
        limit = self._policy.trial_timeout or 0.0
        ending = self._policy.exit_when_stuck
        error = (
            f"TrialTimeout: it ran past trial_timeout={limit:g}s and did not stop within "
            f"{grace_period(limit):g}s more"
            + ("; its Python worker process was ended to free the slot" if ending else "")
        )
        try:  # nothing before os._exit may wait on a lock the stuck thread holds
            outcome = _failure(self._trial, "timed_out", error, self._started)
            self._client.report(self._worker_id, outcome, want_next=False)
            self.reported = True
            logger.error("trial %s: %s", self._trial.trial_id, error)
        except Exception as exc:  # the driver notices the lost worker instead
            logger.error("could not report the stuck trial %s: %s", self._trial.trial_id, exc)
        finally:
            if ending:  # no logging.shutdown(): the stuck thread may hold a handler's lock
                os._exit(70)  # EX_SOFTWARE: Spark sees the task's Python worker exit


@dataclass(frozen=True)
class WorkerSummary:
    """What one worker did, returned by its Spark task."""

    worker_id: str
    trials: tuple[str, ...]


def run_worker(
    client: ControllerClient,
    train_fn: TrainFunction,
    runtime: TrialRuntime,
    *,
    worker_id: str,
    info: Mapping[str, Any],
    optimization_key: str,
    policy: TrialPolicy = TrialPolicy(),
) -> WorkerSummary:
    """Register, then run trials until the controller says the study is done."""
    # dataset_function already shuffles (seeded per trial); Keras warns that fit() cannot.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    interval = float(client.register(worker_id, info).get("heartbeat_interval", 1.0))
    parameters = train_parameters(train_fn)
    ran: list[str] = []
    with _Heartbeat(client, worker_id, interval) as heartbeat, held_routers():
        trial = client.next_trial(worker_id)
        while trial is not None:
            reporter = Reporter(trial, tensorboard_root=runtime.tensorboard_root)
            stuck = _StuckTrial(client, worker_id, trial, policy)
            heartbeat.track(reporter)
            try:
                with captured_output(reporter):
                    outcome = run_trial(
                        train_fn,
                        trial,
                        runtime,
                        optimization_key=optimization_key,
                        reporter=reporter,
                        parameters=parameters,
                        policy=policy,
                        on_stuck=stuck if policy.trial_timeout is not None else None,
                    )
            finally:
                heartbeat.untrack()
            metrics, logs = reporter.drain()
            outcome["metrics"] = [list(m) for m in metrics]
            outcome["logs"] = logs
            ran.append(trial.trial_id)
            if stuck.reported:  # its verdict is in; a late result would count as a second run
                trial = client.next_trial(worker_id)
            else:
                trial = client.report(worker_id, outcome, want_next=True)
    return WorkerSummary(worker_id, tuple(ran))
