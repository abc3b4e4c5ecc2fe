"""Unit tests of the Spark glue's pure decisions (a stand-in context, no JVM)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from autoablation._driver.spark import (
    UNBOUNDED_SLOTS,
    driver_hosts,
    is_local_master,
    task_slots,
    worker_environment,
)


@dataclass
class Conf:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)


@dataclass
class Context:
    master: str
    defaultParallelism: int = 2
    conf: Conf = field(default_factory=Conf)

    def getConf(self) -> Conf:
        return self.conf


@pytest.mark.parametrize(
    ("master", "cpus", "slots"),
    [
        ("local", "1", 1),
        ("local[3]", "1", 3),
        ("local[4, 2]", "1", 4),
        ("local[4]", "2", 2),
        ("local-cluster[2, 3, 1024]", "1", 6),
        ("spark://127.0.0.1:7077", "1", 8),
        ("yarn", "4", 2),
    ],
)
def test_slots_count_cores_per_task(master: str, cpus: str, slots: int) -> None:
    context = Context(master, defaultParallelism=8, conf=Conf({"spark.task.cpus": cpus}))
    assert task_slots(context) == slots


@pytest.mark.parametrize(
    ("conf", "gpus", "slots"),
    [
        ({"spark.cores.max": "6"}, 0.0, 6),  # standalone: the cores the application may take
        ({"spark.cores.max": "8", "spark.executor.cores": "4"}, 0.0, 8),
        ({"spark.executor.instances": "5"}, 0.0, 5),  # YARN, Kubernetes: one core each
        ({"spark.executor.instances": "3", "spark.executor.cores": "4"}, 0.0, 12),
        ({}, 0.0, 8),  # nothing configured: the cores registered so far
        # GPUs bound the slots of each executor: 2 GPUs on 4-core executors
        (
            {
                "spark.executor.instances": "3",
                "spark.executor.cores": "4",
                "spark.executor.resource.gpu.amount": "2",
            },
            1.0,
            6,
        ),
        (
            {
                "spark.cores.max": "8",
                "spark.executor.cores": "4",
                "spark.executor.resource.gpu.amount": "2",
            },
            0.5,
            8,
        ),
        ({"spark.executor.cores": "4", "spark.executor.resource.gpu.amount": "1"}, 1.0, 2),
    ],
)
def test_cluster_slots(conf: dict[str, str], gpus: float, slots: int) -> None:
    context = Context("spark://h:7077", defaultParallelism=8, conf=Conf(conf))
    assert task_slots(context, gpus) == slots


@pytest.mark.parametrize(
    ("conf", "slots"),
    [
        ({"spark.dynamicAllocation.maxExecutors": "3", "spark.executor.cores": "2"}, 6),
        ({"spark.dynamicAllocation.maxExecutors": "4"}, 4),
        ({}, UNBOUNDED_SLOTS),  # no maximum: every trial gets a task
        ({"spark.dynamicAllocation.maxExecutors": str(2**31 - 1)}, UNBOUNDED_SLOTS),
    ],
)
def test_dynamic_allocation_counts_the_executors_it_may_grow_to(
    conf: dict[str, str], slots: int
) -> None:
    conf = {**conf, "spark.dynamicAllocation.enabled": "true"}
    assert task_slots(Context("yarn", defaultParallelism=2, conf=Conf(conf))) == slots


def test_local_star_uses_every_core() -> None:
    import os

    assert task_slots(Context("local[*]")) == (os.cpu_count() or 1)


def test_local_mode_binds_to_loopback_and_clusters_to_the_driver_host() -> None:
    assert is_local_master("local[2]") and not is_local_master("spark://h:7077")
    assert driver_hosts(Context("local[2]")) == ("127.0.0.1", "127.0.0.1")
    conf = Conf({"spark.driver.host": "10.0.0.5"})
    assert driver_hosts(Context("yarn", conf=conf)) == ("10.0.0.5", "10.0.0.5")
    conf = Conf({"spark.driver.host": "10.0.0.5", "spark.driver.bindAddress": "0.0.0.0"})
    assert driver_hosts(Context("yarn", conf=conf)) == ("0.0.0.0", "10.0.0.5")


def test_a_block_lending_the_context_an_environment_excludes_other_threads() -> None:
    """The warm-up's thread and the study's wrap jobs at once: interleaved, a block that
    entered second would restore, on leaving last, the variables the first one had set."""
    context = SimpleNamespace(environment={"PYTHONHASHSEED": "0"})
    seen: list[bool] = []

    def another_thread() -> None:
        from autoablation._driver import spark

        acquired = spark._WRAPPING.acquire(blocking=False)
        seen.append(acquired)
        if acquired:
            spark._WRAPPING.release()

    with worker_environment(context, {"KERAS_BACKEND": "jax"}):
        assert context.environment["KERAS_BACKEND"] == "jax"
        thread = threading.Thread(target=another_thread)
        thread.start()
        thread.join()
    assert seen == [False]  # it could not enter while this block held the context
    assert context.environment == {"PYTHONHASHSEED": "0"}  # restored as it was
