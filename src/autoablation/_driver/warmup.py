"""Start the workers' imports while the driver checks the study.

A fresh Spark Python worker spends seconds importing TensorFlow before its first trial, and the
driver spends seconds building every trial's model to check it. They need not wait for each
other: `Warmup` runs a short Spark job of one task per worker slot, with the study job's
interpreter and environment (so Spark keeps those Python workers in the pool the study's tasks
are drawn from), whose tasks set the backend up and import Keras, then end. The study's job is
submitted once the warm-up has ended, so its tasks find the warmed workers idle.

The warm-up is an optimisation only: if it fails, the study's own tasks do the same work and
report what went wrong.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from autoablation._core.backends import ENV
from autoablation._driver.jobs import describe_failure, run_job
from autoablation._executor.daemon import preload_environment
from autoablation._executor.task import make_warmup

logger = logging.getLogger("autoablation")

WAIT_S = 120.0
"""How long the study's job waits for an unfinished warm-up before cancelling it."""


def job_environment(backend: str, *, cpus: int = 1, preload: bool = True) -> dict[str, str]:
    """The variables the study's Python workers start with: Spark pools workers by them.

    Workers of another backend are never reused. With ``preload`` (no GPUs), autoablation's
    Python daemon, where the session runs it, loads Keras once for every worker it forks
    (`autoablation._executor.daemon`), with pools of ``cpus`` threads.
    """
    variables = {ENV: backend}
    if preload:
        variables.update(preload_environment(backend, cpus))
    return variables


def daemon_loads(rows: Iterable[Mapping[str, Any]], since: float) -> dict[str, float]:
    """Seconds each Python daemon spent loading Keras since ``since``, by daemon (host:pid).

    Every worker a daemon forked reports the daemon's one load (``daemon``, ``preloaded_s``,
    ``preloaded_at``: `make_warmup`'s rows), so a daemon counts once however many workers it
    forked; a load that ended before ``since`` was paid by an earlier study. One daemon per
    executor (and worker environment): on a cluster several load side by side.
    """
    return {
        str(row["daemon"]): float(row["preloaded_s"])
        for row in rows
        if row.get("preloaded_s") and float(row.get("preloaded_at") or 0.0) >= since
    }


def trials_use_keras(parameters: Collection[str], *, model: bool, generator: bool) -> bool:
    """Whether the trials will import Keras: they are given models, or the default dataset.

    Args:
        parameters: What the training function takes (``model_function``,
            ``dataset_function``, ``reporter``).
        model: The study has a base model generator.
        generator: The study has its own dataset generator (the default dataset is Keras's).

    The warm-up runs, and the daemon preloads, only for such trials: a training function that
    takes only the reporter gets workers without Keras.
    """
    return ("model_function" in parameters and model) or (
        "dataset_function" in parameters and not generator
    )


class Warmup:
    """A background Spark job that readies ``workers`` Python workers for the study's tasks.

    Args:
        sc: The SparkContext.
        workers: Tasks to start (the study's workers, at most the slots Spark has).
        environment: The study job's worker environment (`job_environment`): the same
            variables put the warmed workers in the pool the study's tasks are drawn from.
    """

    def __init__(self, sc: Any, workers: int, environment: Mapping[str, str]) -> None:
        from pyspark import InheritableThread

        self._sc = sc
        self._workers = workers
        self._environment = dict(environment)
        self.group_id = f"autoablation-warmup-{uuid.uuid4().hex[:8]}"
        self.started = time.time()
        self.ended: float | None = None
        self.rows: list[dict[str, Any]] = []
        """What each task reported (`make_warmup`); empty until it has ended well."""
        self.error: str | None = None
        """Why the warm-up failed (Spark's message, with the worker's traceback), or None."""
        self._thread = InheritableThread(target=self._run, name="autoablation-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            rows = run_job(
                self._sc,
                self._workers,
                make_warmup(self._environment[ENV]),
                group_id=self.group_id,
                description=f"autoablation: {self._workers} workers import Keras",
                environment=self._environment,
            )
            self.rows = list(rows)
        except Exception as exc:  # the study's own tasks meet and report the same problem
            self.error = str(exc)
            logger.debug("the workers' warm-up failed: %s", describe_failure(exc))
        finally:
            self.ended = time.time()

    @property
    def imports(self) -> list[float]:
        """Seconds each task spent importing Keras (0 where its worker had it loaded)."""
        return [float(row["import_s"]) for row in self.rows]

    @property
    def preloaded(self) -> list[float]:
        """Seconds each task's daemon loaded Keras for before forking its worker (0: none)."""
        return [float(row["preloaded_s"]) for row in self.rows]

    @property
    def pids(self) -> list[int]:
        """The Python workers it readied."""
        return [int(row["pid"]) for row in self.rows]

    def wait(self, timeout: float = WAIT_S) -> None:
        """Wait for the warm-up to end; past ``timeout`` seconds, cancel it."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.info("the workers' warm-up took over %.0fs; cancelling it", timeout)
            self.cancel()
            self._thread.join()

    def cancel(self) -> None:
        """Cancel the warm-up's job, if it still runs."""
        if self._thread.is_alive():
            self._sc.cancelJobGroup(self.group_id)
