"""Unit tests of the GPU decisions (a stand-in context; the real GPUs are in test_cluster)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from autoablation import SparkConfigError
from autoablation._driver.gpus import gpus_per_task, task_profile
from autoablation._executor.gpus import claim_assigned_gpus
from tests.driver.test_spark import Conf, Context

EXECUTOR_GPUS = {"spark.executor.resource.gpu.amount": "2"}


@pytest.mark.parametrize(
    ("conf", "requested", "expected"),
    [
        ({}, None, 0.0),  # no GPU scheduling
        (EXECUTOR_GPUS, None, 1.0),  # one trial per GPU by default
        ({**EXECUTOR_GPUS, "spark.task.resource.gpu.amount": "0.5"}, None, 0.5),
        ({**EXECUTOR_GPUS, "spark.task.resource.gpu.amount": "0.5"}, 2.0, 2.0),
    ],
)
def test_gpus_per_task(conf: dict[str, str], requested: float | None, expected: float) -> None:
    assert gpus_per_task(Conf(conf), requested) == expected


def test_a_profile_asks_for_the_gpus_spark_is_not_configured_to_give() -> None:
    context = Context("spark://h:7077", conf=Conf(EXECUTOR_GPUS))
    profile = task_profile(context, cpus=2, gpus=1.0)
    assert profile is not None
    assert profile.taskResources["gpu"].amount == 1.0
    assert profile.taskResources["cpus"].amount == 2


def test_no_profile_without_gpus_or_when_spark_already_gives_them() -> None:
    assert task_profile(Context("local[2]"), cpus=1, gpus=0.0) is None
    conf = Conf({**EXECUTOR_GPUS, "spark.task.resource.gpu.amount": "1"})
    assert task_profile(Context("yarn", conf=conf), cpus=1, gpus=1.0) is None


def test_dynamic_allocation_needs_the_gpu_amount_in_the_spark_conf() -> None:
    conf = Conf({**EXECUTOR_GPUS, "spark.dynamicAllocation.enabled": "true"})
    with pytest.raises(SparkConfigError, match=r"spark\.task\.resource\.gpu\.amount=1"):
        task_profile(Context("yarn", conf=conf), cpus=1, gpus=1.0)


@dataclass
class Resource:
    addresses: list[str]


@dataclass
class TaskContext:
    assigned: dict[str, Resource] = field(default_factory=dict)

    def resources(self) -> dict[str, Resource]:
        return self.assigned


def test_a_task_sees_only_its_assigned_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert claim_assigned_gpus(TaskContext({"gpu": Resource(["3", "1"])})) == ["3", "1"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3,1"


def test_a_task_without_gpus_leaves_the_devices_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert claim_assigned_gpus(TaskContext()) == []
    assert claim_assigned_gpus(None) == []
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
