"""GPUs: each trial sees only the GPUs Spark assigned to its task.

Spark schedules GPUs as task resources. When executors have GPUs
(``spark.executor.resource.gpu.amount``) and no amount per task is configured
(``spark.task.resource.gpu.amount``), autoablation asks for one GPU per task with a stage-level
task resource profile, so one trial runs per GPU. Inside the task, the GPUs Spark assigned become
``CUDA_VISIBLE_DEVICES`` before TensorFlow starts, and TensorFlow allocates GPU memory as it
needs it (memory growth) instead of taking the whole card.
"""

from __future__ import annotations

from typing import Any

from autoablation._core.errors import SparkConfigError
from autoablation._driver.conf import dynamic_allocation
from autoablation._executor.gpus import GPU


def _amount(conf: Any, key: str) -> float | None:
    value = conf.get(key)
    return None if value in (None, "") else float(value)


def executor_gpus(conf: Any) -> float:
    """GPUs each executor has (0 without GPU scheduling)."""
    return _amount(conf, "spark.executor.resource.gpu.amount") or 0.0


def gpus_per_task(conf: Any, requested: float | None = None) -> float:
    """GPUs each long-running task takes.

    As requested, else as configured, else one when executors have GPUs; 0 without GPUs.
    """
    if requested is not None:
        return requested
    configured = _amount(conf, "spark.task.resource.gpu.amount")
    if configured is not None:
        return configured
    return 1.0 if executor_gpus(conf) > 0 else 0.0


def task_profile(sc: Any, cpus: int, gpus: float) -> Any | None:
    """A stage-level profile asking ``gpus`` GPUs per task, when Spark's defaults do not.

    Raises:
        SparkConfigError: Dynamic allocation is on: Spark would start executors without GPUs
            for a profile that names only task resources.
    """
    conf = sc.getConf()
    if gpus <= 0 or _amount(conf, "spark.task.resource.gpu.amount") == gpus:
        return None
    if dynamic_allocation(conf):
        raise SparkConfigError(
            f"{gpus:g} GPU(s) per task under dynamic allocation: set "
            f"spark.task.resource.gpu.amount={gpus:g} in the Spark configuration instead of "
            "asking autoablation for it (Spark cannot add a per-stage GPU request to executors "
            "it has yet to start)"
        )
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    requests = TaskResourceRequests().cpus(cpus).resource(GPU, gpus)
    return ResourceProfileBuilder().require(requests).build
