"""The Spark job of long-running tasks: running it, and reading why it failed."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from autoablation._driver.spark import workers_on_driver_python

logger = logging.getLogger("autoablation.spark")

logger = logging.getLogger("autoablation")
_CULPRIT = re.compile(r"Lost task (\d+)\.\d+ in stage")


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
) -> list[dict[str, Any]]:
    """Run ``num_tasks`` long-running tasks in one Spark job and return their summaries.

    Call it from the thread that should own the job group (the job group is thread-local).
    ``profile`` is a stage-level resource profile for the tasks (GPUs), or None.
    """
    sc.setJobGroup(group_id, description, interruptOnCancel=True)
    rdd = sc.parallelize([generation] * num_tasks, num_tasks).mapPartitionsWithIndex(task)
    if profile is not None:
        rdd = rdd.withResources(profile)
    with workers_on_driver_python(sc):
        rdd._jrdd  # noqa: B018 - wraps the task function now, with the interpreter chosen above
    return list(rdd.collect())


def describe_failure(exc: BaseException) -> str:
    """One line saying why a Spark job failed, taken from the JVM's message when there is one."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
