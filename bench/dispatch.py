"""Benchmark 1, dispatch cost: N zero-work trials on K slots, side by side in one Spark session.

    python bench/dispatch.py --trials 500 --workers 4 --sparktrials 24

Cost per trial per slot = (last finish - first start) x K / N, for
  * autoablation: K long-running tasks pulling trials from the driver's controller;
  * hyperopt's SparkTrials, parallelism K, the same zero-work objective (one Spark job per
    trial; fewer trials, as each costs seconds);
  * a plain Spark job of N one-trial tasks.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import feature_study, report, run, session, span_per_trial_per_slot


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
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sparktrials", type=int, default=24, help="trials for SparkTrials")
    args = parser.parse_args()
    spark = session(args.workers, "bench-dispatch")
    autoablation_cost(spark, 40, args.workers)  # warm-up: imports on the workers
    ours = autoablation_cost(spark, args.trials, args.workers)
    rows = [{"approach": "autoablation (pull)", "trials": args.trials, "ms": ours * 1000}]
    hyperopt = sparktrials_cost(spark, args.sparktrials, args.workers)
    if hyperopt is not None:
        rows.append({"approach": "hyperopt SparkTrials", "trials": args.sparktrials})
        rows[-1]["ms"] = hyperopt * 1000
    plain = spark_task_per_trial_cost(spark, args.trials, args.workers)
    rows.append({"approach": "Spark task per trial", "trials": args.trials, "ms": plain * 1000})
    for row in rows:
        row["x autoablation"] = row["ms"] / (ours * 1000)
    report(
        "dispatch",
        rows,
        workers=args.workers,
        unit="ms per trial per slot",
        sparktrials="not installed (pip install -e '.[bench]')" if hyperopt is None else "yes",
    )


if __name__ == "__main__":
    main()
