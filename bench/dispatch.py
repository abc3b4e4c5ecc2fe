"""Benchmark 1, dispatch cost: N zero-work trials on K slots, side by side in one Spark session.

    python bench/dispatch.py --trials 2000 --workers 4 --sparktrials 8 --tasks 500 --runs 3

Cost per trial per slot = (last finish - first start) x K / N, for
  * autoablation: K long-running tasks pulling trials from the driver's controller;
  * hyperopt's SparkTrials, parallelism K, the same zero-work objective (one Spark job per
    trial; fewer trials, as each costs seconds);
  * a plain Spark job of one task per trial (fewer trials too).
Each run measures all three, one after the other; the table shows the medians of the runs
and of the ratios within each run.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import (
    add_runs,
    feature_study,
    median,
    report,
    run,
    session,
    span_per_trial_per_slot,
    spread,
)


def zero_work() -> float:
    return 0.0


def autoablation_cost(spark: Any, trials: int, workers: int) -> float:
    frame = run(spark, zero_work, feature_study(trials - 1), "bench-dispatch", workers)
    return span_per_trial_per_slot(frame, workers)


def sparktrials_cost(spark: Any, trials: int, workers: int) -> float | None:
    try:
        from hyperopt import SparkTrials, fmin, hp, tpe  # type: ignore[import-untyped]
    except ImportError:  # the `bench` extra installs it
        return None
    history = SparkTrials(parallelism=workers, spark_session=spark)
    fmin(
        lambda _: 0.0,
        hp.uniform("x", 0, 1),
        algo=tpe.suggest,
        max_evals=trials,
        trials=history,
        show_progressbar=False,
    )
    starts = [t["book_time"].timestamp() for t in history.trials]
    ends = [t["refresh_time"].timestamp() for t in history.trials]
    return float(max(ends) - min(starts)) * workers / len(history.trials)


def spark_task_per_trial_cost(spark: Any, trials: int, workers: int) -> float:
    sc = spark.sparkContext
    sc.parallelize(range(workers), workers).count()  # warm the Python workers
    start = time.time()
    sc.parallelize(range(trials), trials).map(lambda _: 0.0).collect()
    return (time.time() - start) * workers / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sparktrials", type=int, default=8, help="trials for SparkTrials")
    parser.add_argument("--tasks", type=int, default=500, help="trials for task-per-trial")
    add_runs(parser, 3)
    args = parser.parse_args()
    spark = session(args.workers, "bench-dispatch")
    autoablation_cost(spark, 40, args.workers)  # warm-up: imports on the workers
    costs: dict[str, list[float]] = {"ours": [], "hyperopt": [], "tasks": []}
    for _ in range(args.runs):
        costs["ours"].append(autoablation_cost(spark, args.trials, args.workers))
        hyperopt = sparktrials_cost(spark, args.sparktrials, args.workers)
        if hyperopt is not None:
            costs["hyperopt"].append(hyperopt)
        costs["tasks"].append(spark_task_per_trial_cost(spark, args.tasks, args.workers))
    rows = []
    for key, label, trials in (
        ("ours", "autoablation (pull)", args.trials),
        ("hyperopt", "hyperopt SparkTrials", args.sparktrials),
        ("tasks", "Spark task per trial", args.tasks),
    ):
        if not costs[key]:
            continue
        ratios = [c / o for c, o in zip(costs[key], costs["ours"], strict=True)]
        rows.append(
            {
                "approach": label,
                "trials": trials,
                "ms": median(costs[key]) * 1000,
                "ms (runs)": spread(costs[key], 1000),
                "x autoablation": median(ratios),
            }
        )
    report(
        "dispatch",
        rows,
        workers=args.workers,
        runs=args.runs,
        unit="ms per trial per slot, median of the runs",
        sparktrials="not installed (pip install -e '.[bench]')" if not costs["hyperopt"] else "yes",
    )


if __name__ == "__main__":
    main()
