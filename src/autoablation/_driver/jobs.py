"""The Spark job of long-running tasks: running it, restarting it, and reading why it failed.

`JobSupervisor` runs the job from a background thread (the job group is thread-local), starts
it again while trials remain and restarts are left, tells the controller which task made Spark
fail a job (so the other tasks' losses are not charged, and its surviving tasks get no new
trial), and watches the controller thread from the caller's thread until every trial is final.
A restart after which some trial became final gives the budget back: ``max_job_restarts``
bounds the restarts in a row that achieve nothing (a job that keeps failing), not the faults a
long study on a flaky cluster may meet. A stop (Spark gave up, the controller halted or
died, the driver was interrupted) cancels the job group and aborts what is left.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from autoablation._driver.spark import worker_environment, workers_on_driver_python

if TYPE_CHECKING:
    from autoablation._driver.controller import Controller

logger = logging.getLogger("autoablation")
_CULPRIT = re.compile(r"Lost task (\d+)\.\d+ in stage")
_WATCHDOG_S = 1.0
"""How often the caller's thread checks that the controller thread still runs."""
_STRAGGLER_GRACE_S = 10.0
"""How long a job may run on after the last trial is final (a straggler) before it is cancelled."""


def failed_partition(message: str) -> int | None:
    """The partition whose task made Spark abort a job, from Spark's failure message."""
    match = _CULPRIT.search(message)
    return int(match.group(1)) if match else None


def run_job(
    sc: Any,
    num_tasks: int,
    task: Callable[[int, Iterator[int]], Iterator[dict[str, Any]]],
    *,
    group_id: str,
    description: str,
    generation: int = 0,
    profile: Any | None = None,
    environment: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``num_tasks`` long-running tasks in one Spark job and return their summaries.

    Call it from the thread that should own the job group (the job group is thread-local).
    ``profile`` is a stage-level resource profile for the tasks (GPUs), or None;
    ``environment`` are variables the tasks' Python workers start with.
    """
    sc.setJobGroup(group_id, description, interruptOnCancel=True)
    rdd = sc.parallelize([generation] * num_tasks, num_tasks).mapPartitionsWithIndex(task)
    if profile is not None:
        rdd = rdd.withResources(profile)
    with workers_on_driver_python(sc), worker_environment(sc, environment or {}):
        rdd._jrdd  # noqa: B018 - wraps the task function now, with the interpreter and env above
    return list(rdd.collect())


def describe_failure(exc: BaseException) -> str:
    """One line saying why a Spark job failed, taken from the JVM's message when there is one."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class JobSupervisor:
    """Runs the study's Spark job until every trial is final, restarting it when Spark loses it.

    Args:
        sc: The SparkContext.
        group_id: The job group, so the job can be cancelled.
        max_job_restarts: Times in a row the job is started again while trials remain and
            none became final since the last start.
        profile: A stage-level resource profile for the tasks (GPUs), or None.
        environment: Variables the tasks' Python workers start with (the Keras backend).
    """

    def __init__(
        self,
        sc: Any,
        group_id: str,
        *,
        max_job_restarts: int,
        profile: Any | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._sc = sc
        self._group_id = group_id
        self._max_job_restarts = max_job_restarts
        self._profile = profile
        self._environment = dict(environment or {})
        self.failure: str | None = None
        """Why the study stopped before every trial ran, or None."""

    def run(self, controller: Controller, task: Any, workers: int, description: str) -> None:
        """Run ``workers`` long-running tasks until ``controller`` has every trial final.

        ``description`` is what the Spark UI shows for the job.

        Raises:
            BaseException: What interrupted the driver (Ctrl-C, SIGTERM), after the job group
                was cancelled and the controller aborted.
        """
        from pyspark import InheritableThread

        thread = InheritableThread(
            target=self._drive,
            args=(controller, task, workers, description),
            name="autoablation-spark-job",
            daemon=True,
        )
        thread.start()
        try:
            while not controller.wait(_WATCHDOG_S):
                if not controller.is_alive():
                    self.stop(controller, "the controller thread stopped unexpectedly")
                    break
            if controller.halted is not None:
                self.stop(controller, controller.halted)
            thread.join(timeout=_STRAGGLER_GRACE_S)
            if thread.is_alive():  # a straggler still runs a trial that finished elsewhere
                self._sc.cancelJobGroup(self._group_id)
                thread.join(timeout=30.0)
        except BaseException as exc:
            logger.warning(
                "the driver was interrupted (%s): cancelling the Spark job group %s",
                type(exc).__name__,
                self._group_id,
            )
            controller.abort("the driver was interrupted")
            self._sc.cancelJobGroup(self._group_id)
            raise

    def stop(self, controller: Controller, reason: str) -> None:
        """Stop the study: remember why (the first reason), abort, cancel the job group."""
        if self.failure is None:
            self.failure = reason
        controller.abort(reason)
        self._sc.cancelJobGroup(self._group_id)

    def _drive(self, controller: Controller, task: Any, workers: int, description: str) -> None:
        restarts = self._max_job_restarts
        generation = in_a_row = 0
        try:
            while not controller.is_done():
                done = controller.progress().done
                try:
                    run_job(
                        self._sc,
                        workers,
                        task,
                        group_id=self._group_id,
                        description=description,
                        generation=generation,
                        profile=self._profile,
                        environment=self._environment,
                    )
                    problem = "the Spark job ended before every trial finished"
                except Exception as exc:
                    if controller.is_done():
                        return
                    reason = describe_failure(exc)
                    controller.job_failed(generation, failed_partition(reason))
                    problem = f"the Spark job failed: {reason}"
                if controller.is_done():
                    return
                generation += 1
                in_a_row = 0 if controller.progress().done > done else in_a_row + 1
                if in_a_row > restarts:
                    self.stop(
                        controller,
                        f"{problem} (after {restarts} restarts in a row with no trial finished)",
                    )
                    return
                logger.warning(
                    "%s; starting it again (%d in a row of %d allowed)", problem, in_a_row, restarts
                )
        except BaseException as exc:
            self.stop(controller, f"the Spark job thread stopped: {exc!r}")
            raise
        finally:
            if not controller.is_done() and self.failure is None:
                self.stop(controller, "the Spark job thread ended with trials left")
