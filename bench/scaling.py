"""Benchmark 3, scaling: speed-up over one worker, for sleep trials and CPU-bound Keras trials.

    python bench/scaling.py --sleep-trials 64 --sleep 0.35 --keras-trials 8 --runs 3

Sleep trials (no CPU) with 1, 2, 4 and 8 workers show the framework's own limit; real Keras
trials (one TensorFlow thread per task) with 1 and 2 workers show what the cores allow.
Speed-up = span with 1 worker / span with K workers, span = last finish - first start; the
table shows the medians of the runs (each run measures every worker count).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from _common import add_runs, feature_study, median, report, run, session, span, spread

from autoablation import AblationStudy


def sleep_spans(spark: Any, trials: int, seconds: float, counts: list[int]) -> dict[int, float]:
    def train() -> float:
        time.sleep(seconds)
        return 0.0

    study = feature_study(trials - 1)
    return {k: span(run(spark, train, study, f"bench-sleep-{k}", k)) for k in counts}


def keras_study(trials: int) -> AblationStudy:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, trials - 1))
    table = pd.DataFrame(x, columns=[f"f{i}" for i in range(trials - 1)])
    table["y"] = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    study = AblationStudy(table, label_name="y")
    study.features.include([f"f{i}" for i in range(trials - 1)])

    def base_model() -> Any:
        import keras

        return keras.Sequential(
            [
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )

    study.model.set_base_model_generator(base_model)
    return study


def keras_train(dataset_function: Any, model_function: Any) -> float:
    model = model_function()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(
        dataset_function(4, 32),
        epochs=4,
        steps_per_epoch=dataset_function.steps_per_epoch(32),
        verbose=0,
    )
    return float(model.evaluate(dataset_function(1, 256, split="test"), verbose=0)[1])


def keras_spans(spark: Any, study: AblationStudy, counts: list[int]) -> dict[int, float]:
    return {k: span(run(spark, keras_train, study, f"bench-keras-{k}", k)) for k in counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep-trials", type=int, default=64)
    parser.add_argument("--sleep", type=float, default=0.35)
    parser.add_argument("--keras-trials", type=int, default=8)
    add_runs(parser, 3)
    args = parser.parse_args()
    if args.keras_trials < 4:  # the label is built from three features
        parser.error("--keras-trials must be 4 or more")
    spark = session(8, "bench-scaling")
    # Keras first, while the session has only the two Python workers that imported TensorFlow
    # in the warm-up: a fresh worker importing it inside a measured span would skew it.
    study = keras_study(args.keras_trials)
    run(spark, keras_train, study, "bench-keras-warm", 2)
    kerases = [keras_spans(spark, study, [1, 2]) for _ in range(args.runs)]
    sleep_spans(spark, 16, 0.01, [8])  # warm-up: eight Python workers
    sleeps = [sleep_spans(spark, args.sleep_trials, args.sleep, [1, 2, 4, 8]) for _ in kerases]
    runs = list(zip(sleeps, kerases, strict=True))
    rows = []
    for index, kind in enumerate(("sleep", "keras (CPU)")):
        for k in runs[0][index]:
            spans = [measured[index][k] for measured in runs]
            speedups = [measured[index][1] / measured[index][k] for measured in runs]
            rows.append(
                {
                    "trials": kind,
                    "workers": k,
                    "span_s": median(spans),
                    "speed-up": median(speedups),
                    "speed-up (runs)": spread(speedups),
                }
            )
    report(
        "scaling",
        rows,
        runs=args.runs,
        sleep_trials=args.sleep_trials,
        sleep_s=args.sleep,
        keras_trials=args.keras_trials,
    )


if __name__ == "__main__":
    main()
