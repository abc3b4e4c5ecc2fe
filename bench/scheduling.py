"""Benchmark 2, heterogeneous durations: makespan against the lower bound, side by side.

    python bench/scheduling.py --workers 4 --layers 23 --total 45 --runs 3

A study removes each of ``--layers`` Dense layers of different widths from a base model; a
trial sleeps for a lognormally spread time that grows with its model's parameter count (the
base, with every layer, sleeps longest), as training time does. The same trials run
  * with autoablation, longest expected first (the default schedule);
  * with autoablation, in submission order (``schedule="submission"``);
  * the bulk-synchronous way: one Spark job per wave of K trials, in submission order.
Makespan = last finish - first start; lower bound = max(sum of durations / K, longest).
Each run measures the three one after the other; the table shows the medians of the runs.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import add_runs, median, report, run, session, span, spread

from autoablation import AblationStudy
from autoablation._driver.preflight import preflight


def base_model(layers: int, widths: list[int]) -> Any:
    import keras

    hidden = [keras.layers.Dense(w, name=f"d{i}") for i, w in enumerate(widths)]
    return keras.Sequential([keras.Input(shape=(8,)), *hidden, keras.layers.Dense(1, name="out")])


def plan(layers: int, total: float, seed: int) -> tuple[AblationStudy, dict[str, float]]:
    """The study, and each trial's sleep (by ablated name), longest for the largest model."""
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(4, 64, size=layers)]
    study = AblationStudy()
    study.model.set_base_model_generator(lambda: base_model(layers, widths))
    names = [f"d{i}" for i in range(layers)]
    study.model.layers.include(*names)
    # The parameter counts the scheduler will see, from the same preflight build.
    hints = preflight(lambda: 0.0, study).cost_hints
    params = {ablated: hints[(kind, ablated)] for kind, ablated in hints}
    durations = np.sort(rng.lognormal(mean=0.0, sigma=0.8, size=len(params)))[::-1]
    durations *= total / durations.sum()
    by_size = sorted(params, key=lambda n: -params[n])
    return study, {name: float(d) for name, d in zip(by_size, durations, strict=True)}


def sleeper(durations: dict[str, float]) -> Any:
    def train(reporter: Any) -> float:
        time.sleep(durations[reporter.ablated])
        return durations[reporter.ablated]

    return train


def autoablation_makespan(
    spark: Any, study: AblationStudy, durations: dict[str, float], workers: int, schedule: str
) -> float:
    name = f"bench-schedule-{schedule}"
    return span(run(spark, sleeper(durations), study, name, workers, schedule=schedule))


def waves_makespan(spark: Any, order: list[float], workers: int) -> float:
    sc = spark.sparkContext
    sc.parallelize(range(workers), workers).count()  # warm the Python workers
    start = time.time()
    for i in range(0, len(order), workers):
        wave = order[i : i + workers]
        sc.parallelize(wave, len(wave)).foreach(time.sleep)
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--layers", type=int, default=23)
    parser.add_argument("--total", type=float, default=45.0, help="sum of all sleeps (s)")
    parser.add_argument("--seed", type=int, default=3)
    add_runs(parser, 3)
    args = parser.parse_args()
    spark = session(args.workers, "bench-scheduling")
    study, durations = plan(args.layers, args.total, args.seed)
    bound = max(sum(durations.values()) / args.workers, max(durations.values()))
    submission = [durations["base"]] + [durations[f"d{i}"] for i in range(args.layers)]
    approaches = (
        "autoablation, longest first",
        "autoablation, submission order",
        "Spark job per wave of K",
    )
    spans: dict[str, list[float]] = {label: [] for label in approaches}
    for _ in range(args.runs):
        for label, schedule in zip(approaches, ("longest_first", "submission", None), strict=True):
            spans[label].append(
                waves_makespan(spark, submission, args.workers)
                if schedule is None
                else autoablation_makespan(spark, study, durations, args.workers, schedule)
            )
    ours = spans[approaches[0]]
    rows = [
        {
            "approach": label,
            "makespan_s": median(values),
            "s (runs)": spread(values),
            "x lower bound": median(values) / bound,
            "x longest first": median([v / o for v, o in zip(values, ours, strict=True)]),
        }
        for label, values in spans.items()
    ]
    report(
        "scheduling",
        rows,
        workers=args.workers,
        runs=args.runs,
        trials=len(durations),
        lower_bound_s=round(bound, 3),
        longest_s=round(max(durations.values()), 3),
    )


if __name__ == "__main__":
    main()
