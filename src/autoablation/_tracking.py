"""MLflow tracking: one parent run per study, one child run per trial.

Each child run carries the trial's parameters (what it removes, its seed and repeat), its final
metric and broadcast history as metrics, and the tags ``ablated``, ``kind`` and ``repeat``. MLflow
calls can be slow (a remote server), so they run on a thread of their own, in order; the
controller never waits for them. Enabled by ``launch(..., mlflow=True)``, or by default when
MLflow is installed and ``MLFLOW_TRACKING_URI`` is set.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from autoablation._events import Listener
from autoablation._exceptions import StudyError
from autoablation._trial import Trial, TrialResult, TrialStatus

logger = logging.getLogger("autoablation.mlflow")


def mlflow_wanted(setting: bool | None) -> bool:
    """Whether to track in MLflow: as asked, or if installed and a tracking URI is set.

    Raises:
        StudyError: ``mlflow=True`` but MLflow is not installed.
    """
    try:
        import mlflow  # noqa: F401
    except ImportError:
        if setting:
            raise StudyError(
                "mlflow=True needs MLflow: pip install 'autoablation[mlflow]'"
            ) from None
        return False
    return bool(setting) if setting is not None else bool(os.environ.get("MLFLOW_TRACKING_URI"))


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
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="autoablation-mlflow", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception as exc:  # tracking must never stop the study
                logger.warning("MLflow logging failed: %s", exc)

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

        def log() -> None:
            if self._parent is None:
                return
            trial = result.trial
            run = self._client.create_run(
                self._experiment_id,
                run_name=f"{trial.label}#{trial.repeat}",
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
            for key, value in params.items():
                self._client.log_param(run_id, key, str(value))
            if result.metric is not None:
                self._client.log_metric(run_id, "metric", result.metric)
            if result.duration_s is not None:
                self._client.log_metric(run_id, "duration_s", result.duration_s)
            for step, value in result.history:
                self._client.log_metric(run_id, "broadcast", value, step=step)
            for key, value in result.outputs.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._client.log_metric(run_id, f"output.{key}", float(value))
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
        self._thread.join(timeout=120)
