"""Reading the Spark configuration: the few settings autoablation decides by, read one way."""

from __future__ import annotations

from typing import Any


def conf_int(conf: Any, key: str) -> int:
    """An integer setting, 0 when it is unset or empty."""
    return int(conf.get(key) or 0)


def task_cpus(conf: Any) -> int:
    """Cores each task takes (``spark.task.cpus``, at least 1)."""
    return max(1, int(conf.get("spark.task.cpus", "1")))


def dynamic_allocation(conf: Any) -> bool:
    """Whether the application's executors come and go (``spark.dynamicAllocation.enabled``)."""
    return str(conf.get("spark.dynamicAllocation.enabled", "false")).lower() == "true"
