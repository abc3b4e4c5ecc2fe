"""autoablation's Python daemon: Spark's workers forked with Keras already loaded.

The test session's Spark runs this daemon (``tests/conftest.py``). Each test draws workers from
a pool of its own (Spark keeps one daemon and one pool per worker environment), so what other
tests left running cannot answer for it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from autoablation._driver.jobs import run_job
from autoablation._driver.warmup import job_environment
from autoablation._executor import daemon


def test_a_study_without_gpus_asks_for_keras_with_one_slots_threads() -> None:
    assert job_environment("jax", cpus=3) == {
        "KERAS_BACKEND": "jax",
        daemon.PRELOAD: "jax",
        "TF_NUM_INTRAOP_THREADS": "3",
        "TF_NUM_INTEROP_THREADS": "3",
        "PJRT_NPROC": "3",
    }
    assert job_environment("tensorflow", cpus=2, preload=False) == {"KERAS_BACKEND": "tensorflow"}


def test_a_daemon_asked_for_nothing_loads_nothing() -> None:
    assert daemon.preload({}) is None
    assert daemon.SPARK_CONF == {"spark.python.daemon.module": "autoablation._executor.daemon"}


def look(partition: int, rows: Iterator[int]) -> Iterator[dict[str, Any]]:
    """What a task finds in its worker before it imports anything itself."""
    loaded = "keras" in sys.modules
    die = False
    for row in rows:
        die = row == 1 and partition == 0
    from autoablation._executor import daemon as here

    if die:  # the worker dies mid-task, as a killed one does: Spark forks another
        os._exit(1)
    yield {
        "pid": os.getpid(),
        "keras": loaded,
        "preloaded_s": here.preloaded_s,
        "threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
    }


def pool(**variables: str) -> dict[str, str]:
    return {**variables, "AUTOABLATION_TEST_POOL": uuid.uuid4().hex}


@pytest.mark.spark
def test_workers_come_forked_with_keras_loaded_and_so_does_a_replacement(spark: Any) -> None:
    sc = spark.sparkContext
    environment = pool(**job_environment("tensorflow", cpus=1))
    first = run_job(sc, 2, look, group_id="daemon-1", description="fresh", environment=environment)
    assert all(row["keras"] for row in first)  # loaded before the task began
    assert all(row["preloaded_s"] > 0 for row in first)  # by the daemon, once
    assert {row["threads"] for row in first} == {"1"}  # one slot's threads, not every core

    with pytest.raises(Exception, match=r"Python worker exited unexpectedly|crashed"):
        run_job(
            sc, 2, look, group_id="daemon-2", description="a worker dies", generation=1,
            environment=environment,
        )  # fmt: skip
    again = run_job(sc, 2, look, group_id="daemon-3", description="after", environment=environment)
    assert {row["pid"] for row in again} - {row["pid"] for row in first}  # a new worker...
    assert all(row["keras"] for row in again)  # ...forked with Keras as well


@pytest.mark.spark
def test_workers_of_jobs_that_ask_for_nothing_are_pysparks_own(spark: Any) -> None:
    rows = run_job(
        spark.sparkContext, 1, look, group_id="daemon-plain", description="plain",
        environment=pool(KERAS_BACKEND="tensorflow"),
    )  # fmt: skip
    assert rows[0]["keras"] is False and rows[0]["preloaded_s"] is None
