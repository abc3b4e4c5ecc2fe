"""Dispatch cost: N zero-work trials on K worker slots, side by side in one Spark session.

    python bench/dispatch.py --trials 200 --workers 4

Cost per trial per slot = (last finish - first start) x K / N, for
  * autoablation: K long-running tasks pulling trials from the driver's controller;
  * one Spark task per trial: one job of N partitions doing nothing.
Prints a table and writes bench/results/dispatch.json. Figures are for comparison in one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from autoablation import AblationStudy, experiment


def zero_work() -> float:
    return 0.0


def autoablation_cost(spark: SparkSession, trials: int, workers: int) -> float:
    table = pd.DataFrame({f"f{i}": [0.0, 1.0, 2.0, 3.0, 4.0] for i in range(trials - 1)})
    study = AblationStudy(table.assign(y=[0, 1, 0, 1, 0]), label_name="y")
    study.features.include([f"f{i}" for i in range(trials - 1)])
    result = experiment.launch(
        zero_work, study, name="bench-dispatch", spark=spark, num_workers=workers
    )
    frame = result.to_pandas()
    assert (frame["status"] == "ok").all()
    return float((frame["finished_at"].max() - frame["started_at"].min()) * workers / trials)


def spark_task_per_trial_cost(spark: SparkSession, trials: int) -> float:
    sc = spark.sparkContext
    sc.parallelize(range(4), 4).count()  # warm the Python workers
    start = time.time()
    sc.parallelize(range(trials), trials).map(lambda _: 0.0).collect()
    return (time.time() - start) * sc.defaultParallelism / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spark = (
        SparkSession.builder.master(f"local[{args.workers}]")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    ours = autoablation_cost(spark, args.trials, args.workers)
    plain = spark_task_per_trial_cost(spark, args.trials)
    rows = [
        {"approach": "autoablation (pull)", "ms_per_trial_per_slot": ours * 1000},
        {"approach": "Spark task per trial", "ms_per_trial_per_slot": plain * 1000},
    ]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "dispatch.json").write_text(
        json.dumps({"trials": args.trials, "workers": args.workers, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
