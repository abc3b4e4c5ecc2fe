"""GPUs: each trial sees only the GPUs Spark assigned to its task.

Spark schedules GPUs as task resources. When executors have GPUs
(``spark.executor.resource.gpu.amount``) and no amount per task is configured
(``spark.task.resource.gpu.amount``), autoablation asks for one GPU per task with a stage-level
task resource profile, so one trial runs per GPU. Inside the task, the GPUs Spark assigned become
``CUDA_VISIBLE_DEVICES`` before TensorFlow starts, and TensorFlow allocates GPU memory as it
needs it (memory growth) instead of taking the whole card.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

from autoablation._exceptions import SparkConfigError

logger = logging.getLogger("autoablation.gpus")

GPU = "gpu"


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
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        raise SparkConfigError(
            f"{gpus:g} GPU(s) per task under dynamic allocation: set "
            f"spark.task.resource.gpu.amount={gpus:g} in the Spark configuration instead of "
            "asking autoablation for it (Spark cannot add a per-stage GPU request to executors "
            "it has yet to start)"
        )
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    requests = TaskResourceRequests().cpus(cpus).resource(GPU, gpus)
    return ResourceProfileBuilder().require(requests).build


def claim_assigned_gpus(context: Any) -> list[str]:
    """Make only the task's assigned GPUs visible; returns their addresses.

    Must run before TensorFlow initialises its GPUs in this process. A reused Python worker
    that already initialised TensorFlow keeps the devices it saw first: that is logged.
    """
    resources = context.resources() if context is not None else {}
    assigned = resources.get(GPU)
    if assigned is None:
        return []
    addresses = [str(a) for a in assigned.addresses]
    visible = ",".join(addresses)
    if "tensorflow" in sys.modules and os.environ.get("CUDA_VISIBLE_DEVICES") != visible:
        logger.warning(
            "this Python worker initialised TensorFlow with CUDA_VISIBLE_DEVICES=%s before; "
            "the task was given GPUs %s (set spark.python.worker.reuse=false to avoid this)",
            os.environ.get("CUDA_VISIBLE_DEVICES"),
            visible,
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = visible
    return addresses


def enable_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it, so a card is not held whole."""
    import tensorflow as tf

    for device in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised in this process
            tf.config.experimental.set_memory_growth(device, True)
