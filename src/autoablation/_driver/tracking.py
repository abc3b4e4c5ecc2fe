"""MLflow tracking: one parent run per study, one child run per trial.

Each child run carries the trial's parameters (what it removes, its seed and repeat), its final
metric and broadcast history as metrics, and the tags ``ablated``, ``kind`` and ``repeat``. MLflow
calls can be slow (a remote server), so they run on a thread of their own, in order; the
controller never waits for them. Enabled by ``launch(..., mlflow=True)``, or by default when
MLflow is installed and ``MLFLOW_TRACKING_URI`` is set.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from autoablation._core.errors import StudyError
from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver.events import Listener

logger = logging.getLogger("autoablation.mlflow")
_BATCH = 1000
_END_WAIT_S = 30.0


def mlflow_wanted(setting: bool | None) -> bool:
    """Whether to track in MLflow: as asked, or if installed and a tracking URI is set.

    MLflow is looked up, not imported (its import takes seconds): the listener imports it.

    Raises:
        StudyError: ``mlflow=True`` but MLflow is not installed.
    """
    if setting is False or (setting is None and not os.environ.get("MLFLOW_TRACKING_URI")):
        return False
    if importlib.util.find_spec("mlflow") is None:
        if setting:
            raise StudyError("mlflow=True needs MLflow: pip install 'autoablation[mlflow]'")
        return False
    return True


class MlflowListener(Listener):
    """Logs the study and its trials to MLflow from a background thread.

    Args:
        experiment: The MLflow experiment's name (created if missing).
        tracking_uri: Where to log; default: MLflow's own setting.
        params: The study's options, logged on the parent run.
    """

    def __init__(
        self, experiment: str, *, tracking_uri: str | None = None, params: dict[str, Any]
    ) -> None:
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri)
        self._experiment = experiment
        self._params = params
        self._parent: str | None = None
        self._broken = False
        self._dropped = 0
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="autoablation-mlflow", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._broken:
                self._dropped += 1
                continue
            try:
                job()
            except Exception as exc:  # tracking must never stop the study
                self._broken = True
                logger.warning("MLflow logging failed, so it stops for this study: %s", exc)

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """Open the parent run."""

        def start() -> None:
            found = self._client.get_experiment_by_name(self._experiment)
            experiment_id = (
                found.experiment_id if found else self._client.create_experiment(self._experiment)
            )
            run = self._client.create_run(
                experiment_id, run_name=name, tags={"autoablation.study": name}
            )
            self._parent = run.info.run_id
            for key, value in self._params.items():
                self._client.log_param(self._parent, key, str(value)[:500])
            self._experiment_id = experiment_id

        self._jobs.put(start)

    def trial_finished(self, result: TrialResult) -> None:
        """Log one child run for the trial."""
        from mlflow.entities import Metric, Param

        def log() -> None:
            if self._parent is None:
                return
            trial = result.trial
            run = self._client.create_run(
                self._experiment_id,
                run_name=trial.tag,
                tags={
                    "mlflow.parentRunId": self._parent,
                    "ablated": trial.ablated,
                    "kind": trial.kind,
                    "repeat": str(trial.repeat),
                    "status": result.status.value,
                },
            )
            run_id = run.info.run_id
            params = {
                "trial_id": trial.trial_id,
                "seed": trial.seed,
                "removed_features": ",".join(trial.removed_features),
                "removed_layers": ",".join(trial.removed_layers),
                "removed_modules": ",".join(f"{a}..{b}" for a, b in trial.removed_modules),
                "custom_model": trial.custom_model or "",
                "worker": result.worker,
                "attempts": result.attempts,
            }
            now = int(time.time() * 1000)
            metrics = [("metric", result.metric, 0), ("duration_s", result.duration_s, 0)]
            metrics += [("broadcast", value, step) for step, value in result.history]
            metrics += [
                (f"output.{key}", value, 0)
                for key, value in result.outputs.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            ]
            finite = [
                Metric(key, float(value), now, step)
                for key, value, step in metrics
                if value is not None and math.isfinite(value)
            ]
            parameters = [Param(key, str(value)) for key, value in params.items()]
            for start in range(0, max(len(finite), 1), _BATCH):  # MLflow's limit per call
                self._client.log_batch(
                    run_id,
                    metrics=finite[start : start + _BATCH],
                    params=parameters if start == 0 else [],
                )
            status = "FINISHED" if result.status is TrialStatus.OK else "FAILED"
            self._client.set_terminated(run_id, status=status)

        self._jobs.put(log)

    def experiment_ended(self, status: str) -> None:
        """Close the parent run and wait until everything is logged."""

        def end() -> None:
            if self._parent is not None:
                final = "FINISHED" if status == "finished" else "KILLED"
                self._client.set_terminated(self._parent, status=final)

        self._jobs.put(end)
        self._jobs.put(None)
        self._thread.join(timeout=_END_WAIT_S)
        if self._thread.is_alive():
            logger.warning("MLflow logging still writes after %.0fs; not waiting", _END_WAIT_S)
        elif self._dropped:
            logger.warning("MLflow logging dropped %d events after an error", self._dropped)
