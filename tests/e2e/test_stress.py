"""2,000 zero-work trials over 8 workers in local mode: every trial accounted for exactly once,
and the journal alone reproduces the result table.

The study runs in its own process, on its own ``local[8]`` session (this process already holds
a local[2] SparkContext).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import autoablation
from tests.cluster import run_driver

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FEATURES = 39
REPEATS = 50  # (39 features + the base) x 50 repeats = 2,000 trials
WORKERS = 8

DRIVER = """
import sys, zlib
import numpy as np, pandas as pd
from pyspark.sql import SparkSession
from autoablation import AblationStudy, experiment

runs, out, features, repeats, workers = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
spark = (
    SparkSession.builder.master(f"local[{workers}]").appName("autoablation-stress")
    .config("spark.ui.enabled", "false").getOrCreate()
)
rng = np.random.default_rng(0)
table = pd.DataFrame(rng.normal(size=(64, features)), columns=[f"f{i}" for i in range(features)])
table["label"] = rng.integers(0, 2, size=64)
study = AblationStudy(table, label_name="label")
study.features.include([f"f{i}" for i in range(features)])


def train(reporter):  # no work: a metric derived from the trial alone
    return zlib.crc32(f"{reporter.ablated}/{reporter.seed}".encode()) / 2**32


result = experiment.launch(
    train, study, name="stress", spark=spark, num_workers=workers, repeats=repeats,
    experiment_dir=runs, verbose=0,
)
result.to_pandas().to_pickle(f"{out}/table.pkl")
result.ranking().to_pickle(f"{out}/ranking.pkl")
print("workers used:", result.to_pandas()["worker"].nunique())
"""


def test_two_thousand_trials_over_eight_workers_are_each_accounted_for_once(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    out = run_driver(
        DRIVER,
        str(runs),
        str(tmp_path),
        str(FEATURES),
        str(REPEATS),
        str(WORKERS),
        root=tmp_path,
        timeout=280,
    )
    trials = (FEATURES + 1) * REPEATS
    table = pd.read_pickle(tmp_path / "table.pkl")
    assert len(table) == trials and table["trial_id"].is_unique
    assert (table["status"] == "ok").all() and (table["attempts"] == 1).all()
    assert f"workers used: {WORKERS}" in out

    events = [json.loads(line) for line in (runs / "journal.jsonl").open()]
    finals = Counter(e["result"]["trial"]["trial_id"] for e in events if "result" in e)
    started = Counter(e["trial_id"] for e in events if e["event"] == "started")
    assert len(finals) == trials and set(finals.values()) == {1}  # none lost, none twice
    assert started == finals

    replayed = autoablation.load(runs)  # the journal alone, no Spark
    pd.testing.assert_frame_equal(replayed.to_pandas(), table)
    pd.testing.assert_frame_equal(replayed.ranking(), pd.read_pickle(tmp_path / "ranking.pkl"))
