"""Running one trial: fresh Keras state and seeds, the factories, the call, the outcome."""

from __future__ import annotations

import gc
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from autoablation._core.callables import TrainFunction, train_parameters
from autoablation._core.errors import (
    ReturnValueError,
    TrialTimeout,
)
from autoablation._core.trial import Trial, TrialStatus
from autoablation._executor.backends import seed_keras
from autoablation._executor.deadline import Deadline
from autoablation._executor.reporter import Reporter
from autoablation._executor.returns import interpret_return
from autoablation._executor.runtime import TrialPolicy, TrialRuntime
from autoablation._executor.startup import freeze_imports, import_keras
from autoablation._executor.tracebacks import exit_text, strip_ansi, traceback_text
from autoablation._model.build import models_built
from autoablation._wire.messages import Result, metric_points


class TrialOutcome(NamedTuple):
    """How one run of a trial ended: what its ``result`` request says about the trial.

    A tuple rather than a dataclass: one is made per trial on the task's hot path.
    """

    trial: str
    status: TrialStatus
    metric: float | None
    error: str
    outputs: Mapping[str, Any]
    started_at: float | None
    finished_at: float | None
    fatal: bool = False

    def report(
        self,
        worker: str,
        metrics: Sequence[tuple[int, float | None]] = (),
        logs: Sequence[str] = (),
        *,
        want_next: bool,
        request_id: int = 0,
    ) -> Result:
        """The ``result`` request ``worker`` sends, with what its reporter still held.

        ``request_id`` 0 leaves the numbering to `ControllerClient.report`.
        """
        return Result(
            worker,
            self.trial,
            self.status,
            self.metric,
            self.error,
            self.started_at,
            self.finished_at,
            self.outputs,
            metric_points(metrics),
            tuple(logs),
            want_next,
            self.fatal,
            request_id,
        )


def failure_outcome(
    trial: Trial, status: TrialStatus, error: str, started: float, *, fatal: bool = False
) -> TrialOutcome:
    """The outcome of a run that ended without a metric."""
    return TrialOutcome(trial.trial_id, status, None, error, {}, started, time.time(), fatal)


_active_lock = threading.Lock()
_active_trials = 0
_models_seen = 0


def _reset_state(seed: int, *, keras_too: bool) -> None:
    """Free the previous trial's Keras state and seed Python, NumPy and Keras's backend.

    Keras is imported (seconds in a fresh Python worker) only when ``keras_too`` says the
    trial uses it or it is loaded already: a study of scikit-learn models, or of sleeps, does
    not pay for its backend. TensorFlow is seeded only where it is loaded or is the backend
    (`seed_keras`). The Keras session is cleared only when no other trial runs in this
    process: a Spark task has its process to itself, but in-process workers on threads share
    one. A full garbage collection runs only after a trial built a model; it walks only what
    came after the imports (`freeze_imports`), tens of milliseconds instead of hundreds.
    """
    global _models_seen
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if not keras_too and "keras" not in sys.modules:
        return
    keras = import_keras()  # timed: a fresh worker's first trial waits for it
    freeze_imports()  # where Keras came with the task; at once if `import_keras` did it

    with _active_lock:
        alone = _active_trials == 1
    if alone:
        keras.backend.clear_session(free_memory=False)
        if models_built() != _models_seen:
            _models_seen = models_built()
            gc.collect()
    seed_keras(keras, seed % 2**32)


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
) -> TrialOutcome:
    """Run one trial and return its outcome; `TrialOutcome.report` makes the request.

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
        return TrialOutcome(trial.trial_id, TrialStatus.OK, metric, "", outputs, started, finished)
    except ReturnValueError as exc:
        return failure_outcome(trial, TrialStatus.FAILED, strip_ansi(str(exc)), started)
    except TrialTimeout:
        if not limit.expired:  # the user's own code raised it
            return failure_outcome(trial, TrialStatus.FAILED, traceback_text(), started)
        error = f"TrialTimeout: it ran past trial_timeout={policy.trial_timeout:g}s"
        return failure_outcome(trial, TrialStatus.TIMED_OUT, error, started)
    except Exception as exc:
        return failure_outcome(
            trial, TrialStatus.FAILED, traceback_text(), started, fatal=policy.is_fatal(exc)
        )
    except SystemExit as exc:  # the user's code ended the trial: a failure, not a lost worker
        fatal = policy.is_fatal(exc)
        return failure_outcome(trial, TrialStatus.FAILED, exit_text(exc), started, fatal=fatal)
    except BaseException as exc:  # a fatal BaseException the user named
        if not policy.is_fatal(exc):
            raise
        return failure_outcome(trial, TrialStatus.FAILED, traceback_text(), started, fatal=True)
    finally:
        with _active_lock:
            _active_trials -= 1
