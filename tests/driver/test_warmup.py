"""The workers' warm-up: a short job that readies the Python workers the study's tasks get."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from autoablation._driver.jobs import run_job
from autoablation._driver.warmup import Warmup, daemon_loads, job_environment, trials_use_keras

pytestmark = pytest.mark.spark


def probe(partition: int, rows: Iterator[int]) -> Iterator[dict[str, Any]]:
    for _ in rows:
        pass
    yield {"pid": os.getpid(), "keras": "keras" in sys.modules}


def test_the_study_job_runs_on_the_workers_the_warmup_readied(spark: Any) -> None:
    # A pool of its own (Spark pools Python workers by their environment), so workers other
    # tests left idle cannot stand in for the warmed ones.
    environment = {**job_environment("tensorflow"), "AUTOABLATION_TEST_POOL": uuid.uuid4().hex}
    warmup = Warmup(spark.sparkContext, 2, environment)
    warmup.wait()
    assert warmup.error is None
    assert len(warmup.imports) == len(warmup.preloaded) == 2
    # Fresh workers: each imported Keras, or was forked from a daemon that had (conftest).
    assert all(i > 0 or p > 0 for i, p in zip(warmup.imports, warmup.preloaded, strict=True))
    # A new pool has a new daemon: it loaded Keras for this warm-up, once for both workers.
    assert len({row["daemon"] for row in warmup.rows}) == 1
    assert sum(daemon_loads(warmup.rows, warmup.started).values()) == pytest.approx(
        warmup.preloaded[0]
    )
    assert daemon_loads(warmup.rows, time.time()) == {}  # a later study did not pay for it
    rows = run_job(
        spark.sparkContext,
        2,
        probe,
        group_id="test-after-warmup",
        description="the study's job",
        environment=environment,
    )
    assert {row["pid"] for row in rows} <= set(warmup.pids)
    assert all(row["keras"] for row in rows)


def test_each_daemons_load_counts_once_and_only_for_the_study_it_delayed() -> None:
    rows = [
        {"daemon": "a:1", "preloaded_s": 6.0, "preloaded_at": 100.0},  # two workers it forked
        {"daemon": "a:1", "preloaded_s": 6.0, "preloaded_at": 100.0},
        {"daemon": "b:1", "preloaded_s": 7.5, "preloaded_at": 101.0},  # another executor's
        {"daemon": "a:2", "preloaded_s": 5.0, "preloaded_at": 20.0},  # loaded for a study before
        {"daemon": "a:3", "preloaded_s": 0.0, "preloaded_at": 0.0},  # PySpark's own daemon
    ]
    assert daemon_loads(rows, since=90.0) == {"a:1": 6.0, "b:1": 7.5}
    assert daemon_loads(rows, since=200.0) == {}


def test_a_failed_warmup_is_only_recorded(spark: Any) -> None:
    # The study's own tasks meet the same problem and report it; the warm-up never raises.
    warmup = Warmup(spark.sparkContext, 1, job_environment("nonesuch"))
    warmup.wait()
    assert warmup.error is not None and "nonesuch" in warmup.error
    assert warmup.pids == []


@pytest.mark.parametrize(
    ("parameters", "model", "generator", "uses"),
    [
        ({"model_function", "reporter"}, True, False, True),
        ({"model_function"}, False, False, False),  # no model to give it
        ({"dataset_function"}, False, False, True),  # the default dataset is Keras's
        ({"dataset_function"}, False, True, False),  # the study's own generator
        ({"reporter"}, True, False, False),  # it may never import Keras
    ],
)
def test_only_trials_given_a_model_or_the_default_dataset_are_warmed_and_preloaded(
    parameters: set[str], model: bool, generator: bool, uses: bool
) -> None:
    assert trials_use_keras(parameters, model=model, generator=generator) is uses
