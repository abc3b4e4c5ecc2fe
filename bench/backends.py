"""Benchmark 7: the same Keras study on TensorFlow and on JAX, side by side.

    python bench/backends.py --workers 2 --runs 3

A process binds Keras to one backend, so each backend runs in a driver process of its own, one
after the other: a local session of ``--workers`` slots, a warm-up study (the Python workers
import the backend), then ``--runs`` runs of the same study: the base and 7 feature trials,
each training two hidden layers of 128 for 4 epochs on 4,000 rows (benchmark 3's training).
JAX runs twice: as it comes, where every trial compiles its model's training step with XLA,
and with JAX's persistent compilation cache in a temporary folder (the warm-up fills it), where
trials of an architecture seen before load the compiled program. Reported: the study's span
(first start to last finish) and the median trial's duration, medians over the runs, and the
machine's load average while each backend ran (the benchmark does not wait for a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd
from _common import add_runs, median, report, run, session, span, spread

BACKENDS = {
    "tensorflow": {"KERAS_BACKEND": "tensorflow"},
    "jax": {"KERAS_BACKEND": "jax"},
    "jax + compilation cache": {
        "KERAS_BACKEND": "jax",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    },
}


def study(features: int = 7, rows: int = 4000) -> Any:
    from autoablation import AblationStudy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features))
    table = pd.DataFrame(x, columns=[f"f{i}" for i in range(features)])
    table["y"] = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    declared = AblationStudy(table, label_name="y", seed=1)
    declared.features.include([f"f{i}" for i in range(features)])
    declared.model.set_base_model_generator(base_model)
    return declared


def base_model() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(7,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def train(dataset_function: Any, model_function: Any) -> float:
    model = model_function()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(
        dataset_function(4, 32),
        epochs=4,
        steps_per_epoch=dataset_function.steps_per_epoch(32),
        verbose=0,
    )
    return float(model.evaluate(dataset_function(1, 256, split="test"), verbose=0)[1])


def child(name: str, workers: int, runs: int) -> None:
    """In a process started with one backend: print its measurements as JSON."""
    spark = session(workers, f"bench-backends-{name}")  # before Keras: Spark forks this process
    import keras

    declared = study()
    load = [os.getloadavg()[0]]
    run(spark, train, declared, f"bench-{name}-warm", workers)
    spans, trials, accuracy = [], [], []
    for index in range(runs):
        frame = run(spark, train, declared, f"bench-{name}-{index}", workers)
        spans.append(span(frame))
        trials.append(float(frame["duration_s"].median()))
        accuracy.append(float(frame["metric"].mean()))
        load.append(os.getloadavg()[0])
    figures = {"backend": keras.backend.backend(), "spans": spans, "trials": trials}
    print(json.dumps({**figures, "accuracy": accuracy, "load": load}))


def measure(name: str, workers: int, runs: int) -> dict[str, Any]:
    """Run `child` for one backend in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="bench-jax-cache-") as cache:
        env = {**os.environ, **BACKENDS[name]}
        if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" in env:
            env["JAX_COMPILATION_CACHE_DIR"] = cache
        done = subprocess.run(
            [sys.executable, __file__, "--child", name, f"--workers={workers}", f"--runs={runs}"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the {name} run failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", choices=sorted(BACKENDS), help=argparse.SUPPRESS)
    add_runs(parser, 3)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workers, args.runs)
        return
    began = time.time()
    measured = {name: measure(name, args.workers, args.runs) for name in BACKENDS}
    reference = median(measured["tensorflow"]["spans"])
    rows = []
    for name, figures in measured.items():
        rows.append(
            {
                "backend": name,
                "span_s": median(figures["spans"]),
                "span (runs)": spread(figures["spans"]),
                "trial_s": median(figures["trials"]),
                "vs tensorflow": median(figures["spans"]) / reference,
                "accuracy": float(np.mean(figures["accuracy"])),
                "load": f"{min(figures['load']):.1f}-{max(figures['load']):.1f}",
            }
        )
    report(
        "backends",
        rows,
        runs=args.runs,
        workers=args.workers,
        trials=8,
        took_s=round(time.time() - began),
        raw=measured,
    )


if __name__ == "__main__":
    main()
