"""Unit tests of the Spark glue's pure decisions (a stand-in context, no JVM)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autoablation._spark import driver_hosts, is_local_master, task_slots


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
