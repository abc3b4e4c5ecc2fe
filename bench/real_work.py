"""Benchmark 8, real work: a small LOCO study against the for-loop a user would write instead.

    python bench/real_work.py --runs 3            # both sizes, about 30 minutes on 2 cores
    python bench/real_work.py --quick             # the small size, one round: a few minutes

One study: 5 features + 2 hidden layers + the base = 8 trainings of a small dense network on
4,000 rows (80% train), batch 32, at two sizes (6 and 30 epochs: about 2 s and 10 s per
training on one core). Sides, each in a fresh Python process, interleaved per round
(round-robin, so the machine's load falls on every side alike):

* ``loop``: what a user writes without the tool: one process, the same data as NumPy arrays,
  the same models, ``model.fit(x, y)`` and ``evaluate`` for each configuration in turn;
* ``hand-written Spark job``, 1 and 2 tasks: the same loop split over the tasks of one
  ``mapPartitions`` job on a plain fresh local[2] session, and (2 tasks) the same job again in
  that session: what Spark itself costs, the floor for any tool that runs trials on it;
* ``autoablation, 1 worker`` and ``2 workers``: ``experiment.launch`` on a fresh local[2]
  session, the training function written as the quick start writes it;
* ``warm 2nd study``: the same study launched again in the 2-worker process's session.

Wall time is from the script's first line (before its imports) to the results in hand. The
ratios are taken within a round and their median shown; ``training`` is one configuration's
build + compile + fit + evaluate (the loop's, or a trial's duration). For autoablation the
breakdown comes from ``result.timings`` (see `autoablation.ExperimentResult`). The machine's
load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_BEGAN = time.time()  # before the imports: a user's script pays for them too

import numpy as np  # noqa: E402
from _common import RESULTS, add_runs, median, report, spread  # noqa: E402

ROWS = 4000
FEATURES = ("f0", "f1", "f2", "f3", "f4")
LAYERS = ("hidden_one", "hidden_two")
BATCH = 32
SIZES = {"small": 6, "large": 30}
"""Epochs per training at each size."""
SIDES = ("loop", "spark1", "spark2", "aa1", "aa2")
BREAKDOWN = ("aa1", "aa2", "warm")
"""The sides whose time autoablation itself accounts for (``result.timings``)."""
SPARK_PEER = {"aa1": "spark1", "aa2": "spark2", "warm": "spark_warm"}
"""The hand-written Spark job each autoablation side is compared with: as many tasks."""
SHOWN = {
    "loop": "plain Keras loop",
    "spark1": "hand-written Spark job, 1 task",
    "spark2": "hand-written Spark job, 2 tasks",
    "spark_warm": "hand-written Spark job, again in its warm session",
    "aa1": "autoablation, 1 worker",
    "aa2": "autoablation, 2 workers",
    "warm": "autoablation, warm 2nd study (2 workers)",
}


def table() -> Any:
    """The study's table: 5 numeric features, a binary label, seeded."""
    import pandas as pd

    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, len(FEATURES)))
    frame = pd.DataFrame(x, columns=list(FEATURES))
    frame["y"] = (x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] > 0).astype(int)
    return frame


def base_model(width: int | None = None, without: str | None = None) -> Any:
    """The base network: two hidden Dense layers; the loop builds its variants directly."""
    import keras

    layers: list[Any] = [] if width is None else [keras.Input(shape=(width,))]
    layers += [
        keras.layers.Dense(64, activation="relu", name=name)
        if name == "hidden_one"
        else keras.layers.Dense(32, activation="relu", name=name)
        for name in LAYERS
        if name != without
    ]
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="out"))
    return keras.Sequential(layers)


def make_train(epochs: int) -> Any:
    """The training function, as the quick start writes it."""

    def train(dataset_function: Any, model_function: Any) -> float:
        model = model_function()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(
            dataset_function(epochs, BATCH),
            epochs=epochs,
            steps_per_epoch=dataset_function.steps_per_epoch(BATCH),
            verbose=0,
        )
        return float(model.evaluate(dataset_function(1, BATCH, split="test"), verbose=0)[1])

    return train


CONFIGS = [(None, None), *[(f, None) for f in FEATURES], *[(None, lay) for lay in LAYERS]]
"""The study's configurations as the loop writes them: (feature left out, layer left out)."""


def arrays() -> tuple[Any, Any, Any, Any]:
    """The table as standardised NumPy arrays, with its test and training rows."""
    frame = table()
    x = frame[list(FEATURES)].to_numpy(np.float32)
    y = frame["y"].to_numpy(np.float32)
    test = np.random.default_rng(0).permutation(ROWS)[: ROWS // 5]
    train_rows = np.setdiff1d(np.arange(ROWS), test)
    mean, std = x[train_rows].mean(0), x[train_rows].std(0)
    return (x - mean) / std, y, train_rows, test


def train_config(config: tuple[Any, Any], epochs: int, data: tuple[Any, ...]) -> float:
    """One configuration, as the loop trains it: ``fit`` and ``evaluate`` on NumPy arrays."""
    import keras

    feature, layer = config
    x, y, train_rows, test = data
    began = time.time()
    keep = [i for i, name in enumerate(FEATURES) if name != feature]
    keras.utils.set_random_seed(0)
    model = base_model(len(keep), layer)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x[train_rows][:, keep], y[train_rows], epochs=epochs, batch_size=BATCH, verbose=0)
    model.evaluate(x[test][:, keep], y[test], verbose=0)
    return time.time() - began


def loop_child(epochs: int) -> dict[str, Any]:
    """The plain loop: every configuration trained in turn, on NumPy arrays."""
    import keras  # noqa: F401  (imported first, as a user's script does)

    data = arrays()
    ready = time.time() - _BEGAN  # its imports and data: what it pays before its first training
    trainings = [train_config(config, epochs, data) for config in CONFIGS]
    return {"wall": time.time() - _BEGAN, "trainings": trainings, "before_s": ready}


def spark_child(epochs: int, workers: int, warm: bool) -> dict[str, Any]:
    """The loop as a hand-written Spark job: the configurations split over ``workers`` tasks.

    What a user who knows Spark writes without the tool, on a plain local[2] session: no
    checks, no warm-up, no scheduling, no results beyond the accuracies. Its wall time is what
    Spark itself costs here (its JVM, its workers' imports, trainings side by side); with
    ``warm``, the same job again in the same session (its Python workers kept Keras loaded).
    """
    from _common import session

    spark = session(2, "bench-real-spark", daemon=False)
    session_at = time.time()
    data = arrays()

    def train_share(configs: Any) -> Any:
        began = time.time()
        import keras  # noqa: F401  (what a fresh Python worker pays first)

        yield {"started": began, "import_s": time.time() - began}
        for config in configs:
            yield train_config(config, epochs, data)

    figures: dict[str, Any] = {}
    for label in (f"spark{workers}", "spark_warm") if warm else (f"spark{workers}",):
        began = _BEGAN if label != "spark_warm" else time.time()
        submitted = time.time()
        rdd = spark.sparkContext.parallelize(CONFIGS, workers)
        out = rdd.mapPartitions(train_share).collect()
        tasks = [row for row in out if isinstance(row, dict)]
        figures[label] = {
            "wall": time.time() - began,
            "trainings": [row for row in out if not isinstance(row, dict)],
            "spark": {  # where the hand-written job's time went before its first training
                "session_s": session_at - _BEGAN if label != "spark_warm" else 0.0,
                "first_task_s": min(task["started"] for task in tasks) - submitted,
                "import_s": median([task["import_s"] for task in tasks]),
            },
        }
    return figures


def study() -> Any:
    from autoablation import AblationStudy

    ablation = AblationStudy(table(), label_name="y", seed=0)
    ablation.features.include(list(FEATURES))
    ablation.model.set_base_model_generator(base_model)
    ablation.model.layers.include(*LAYERS)
    return ablation


def launch_child(epochs: int, workers: int, warm: bool) -> dict[str, Any]:
    """autoablation on a fresh local[2] session; with ``warm``, a second study after it."""
    from _common import launch_ok, session

    spark = session(2, "bench-real-work")
    figures: dict[str, Any] = {}
    for label in ("cold", "warm") if warm else ("cold",):
        began = time.time()
        name = f"bench-real-{label}"
        result, frame = launch_ok(spark, make_train(epochs), study(), name, workers)
        assert result.timings is not None
        figures[label] = {
            "wall": time.time() - (_BEGAN if label == "cold" else began),
            "trainings": frame["duration_s"].tolist(),
            "timings": result.timings.to_dict(),
        }
        if label == "cold":  # the session's start happened before launch: add it back
            figures[label]["timings"]["before_launch_s"] = began - _BEGAN
    return figures


def child(side: str, epochs: int) -> None:
    """Run one side in this (fresh) process and print its figures as JSON."""
    if side == "loop":
        figures = {"loop": loop_child(epochs)}
    elif side.startswith("spark"):
        workers = int(side[5:])
        figures = spark_child(epochs, workers, warm=workers == 2)
    else:
        workers = int(side[2:])
        measured = launch_child(epochs, workers, warm=workers == 2)
        figures = {side: measured["cold"]}
        if "warm" in measured:
            figures["warm"] = measured["warm"]
    print(json.dumps(figures))


def run_side(side: str, epochs: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", side, f"--epochs={epochs}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


PHASES = (
    ("before_launch_s", "imports + session before launch (the loop: its imports)"),
    ("session_s", "Spark session (in launch)"),
    ("checks_s", "driver checks"),
    ("prepare_s", "preparing (dir, data, server)"),
    ("warmup_wait_s", "waiting for workers' imports (a Spark job: its worker's)"),
    ("startup_s", "job start to first trial (a Spark job: to its first task)"),
    ("trials_s", "trials (first start to last end; others: trainings)"),
    ("wrapup_s", "wrap-up"),
)


def measure(size: str, epochs: int, runs: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rounds: list[dict[str, Any]] = []
    for number in range(runs):
        figures: dict[str, Any] = {"load_before": os.getloadavg()[0]}
        order = SIDES[number % len(SIDES) :] + SIDES[: number % len(SIDES)]  # round-robin
        for side in order:
            figures.update(run_side(side, epochs))
            RESULTS.mkdir(exist_ok=True)  # what finished survives a failure later on
            (RESULTS / f"real_work.partial-{size}.json").write_text(json.dumps([*rounds, figures]))
        figures["load_after"] = os.getloadavg()[0]
        rounds.append(figures)
        print(
            f"[{size}] round {number + 1}: "
            + ", ".join(f"{k} {v['wall']:.1f}s" for k, v in figures.items() if isinstance(v, dict))
            + f" (load {figures['load_before']:.1f} -> {figures['load_after']:.1f})",
            flush=True,
        )
    return summarise(size, rounds)


def summarise(
    size: str, rounds: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The table's rows (medians of the rounds, ratios within a round) and the breakdown."""
    loop_training = [median(r["loop"]["trainings"]) for r in rounds]
    rows = []
    for side in ("loop", "spark1", "spark2", "spark_warm", "aa1", "aa2", "warm"):
        walls = [r[side]["wall"] for r in rounds]
        ratios = [r[side]["wall"] / r["loop"]["wall"] for r in rounds]
        training = [median(r[side]["trainings"]) for r in rounds]
        row: dict[str, Any] = {
            "size": size,
            "side": SHOWN[side],
            "wall_s": median(walls),
            "runs": spread(walls),
            "x loop": median(ratios),
            "loop / side": median([1 / ratio for ratio in ratios]),
            "training_s": median(training),
            "training vs loop": median(
                [t / lt for t, lt in zip(training, loop_training, strict=True)]
            ),
        }
        if side in SPARK_PEER:  # the same work as a hand-written Spark job, in the same round
            row["x Spark job"] = median(
                [r[side]["wall"] / r[SPARK_PEER[side]]["wall"] for r in rounds]
            )
        if side in BREAKDOWN:
            timings = [r[side]["timings"] for r in rounds]
            row["fixed_s"] = median(
                [t["total_s"] - t["trials_s"] + t.get("before_launch_s", 0.0) for t in timings]
            )
            row["beyond trainings_s"] = median(
                [
                    r[side]["wall"] - (t := r[side]["timings"])["training_s"] / t["workers"]
                    for r in rounds
                ]
            )
        rows.append(row)
    breakdown = {
        side: {
            key: median([r[side]["timings"].get(key, 0.0) for r in rounds])
            for key in (
                *[k for k, _ in PHASES],
                "data_s",
                "training_s",
                "gaps_s",
                "imports_s",
                "total_s",
            )
        }
        for side in BREAKDOWN
    }
    spark = {
        side: {
            key: median([r[side]["spark"][key] for r in rounds])
            for key in ("session_s", "first_task_s", "import_s")
        }
        for side in ("spark1", "spark2", "spark_warm")
        if all("spark" in r[side] for r in rounds)
    }
    spark["loop"] = {"before_s": median([r["loop"].get("before_s", 0.0) for r in rounds])}
    return rows, {"rounds": rounds, "breakdown": breakdown, "spark": spark}


def phases(results: dict[str, Any], size: str, side: str) -> list[tuple[str, float]]:
    """One side's bar: (phase key of `PHASES`, seconds), in order, medians of the rounds.

    autoablation's come from ``result.timings``; the loop's are its imports and data, then its
    trainings; a hand-written Spark job's are its session, its first task's start and its
    worker's Keras import, then the rest (its trainings).
    """
    breakdown, before = results[size]["breakdown"], results[size]["spark"]
    if side in breakdown:
        return [(key, breakdown[side].get(key, 0.0)) for key, _ in PHASES]
    wall = {row["side"]: row["wall_s"] for row in results[size]["rows"]}[SHOWN[side]]
    if side == "loop":
        parts = [("before_launch_s", before["loop"]["before_s"])]
    elif side in before:
        spark = before[side]
        parts = [
            ("before_launch_s", spark["session_s"]),
            ("startup_s", spark["first_task_s"]),
            ("warmup_wait_s", spark["import_s"]),
        ]
    else:
        parts = []
    return [*parts, ("trials_s", wall - sum(seconds for _, seconds in parts))]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    sizes = list(results)
    figure, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 5.0), squeeze=False)
    colours = {key: plt.get_cmap("tab10")(index) for index, (key, _) in enumerate(PHASES)}
    labels = {
        "loop": "plain loop",
        "spark1": "Spark job, 1 task",
        "aa1": "autoablation, 1 worker",
        "spark2": "Spark job, 2 tasks",
        "aa2": "autoablation, 2 workers",
        "spark_warm": "Spark job again, warm",
        "warm": "warm 2nd study",
    }
    for axis, size in zip(axes[0], sizes, strict=True):
        for position, side in enumerate(labels):
            left = 0.0
            for key, width in phases(results, size, side):
                hatch = None if side in BREAKDOWN else "//"  # not autoablation: hatched
                axis.barh(position, width, left=left, color=colours[key], hatch=hatch)
                left += width
        axis.set_yticks(range(len(labels)), list(labels.values()))
        axis.invert_yaxis()
        axis.set_xlabel("wall time (s), median of runs")
        axis.set_title(f"{size}: {SIZES[size]} epochs per training")
    handles = [Patch(color=colours[key], label=name) for key, name in PHASES]
    handles.append(
        Patch(facecolor="white", edgecolor="black", hatch="//", label="not autoablation")
    )
    figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    path.parent.mkdir(exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_runs(parser, 3)
    parser.add_argument("--quick", action="store_true", help="the small size, one round")
    parser.add_argument("--sizes", default=",".join(SIZES), help="small,large")
    parser.add_argument(
        "--summarise",
        action="store_true",
        help="run nothing: the tables and plot from the rounds of the last run of each size "
        "(bench/results/real_work.partial-SIZE.json)",
    )
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.epochs)
        return
    sizes = ["small"] if args.quick else args.sizes.split(",")
    runs = 1 if args.quick else args.runs
    results: dict[str, Any] = {}
    for size in sizes:
        if args.summarise:
            saved = json.loads((RESULTS / f"real_work.partial-{size}.json").read_text())
            rows, extra = summarise(size, saved)
        else:
            rows, extra = measure(size, SIZES[size], runs)
        results[size] = {"rows": rows, **extra}
    all_rows = [row for size in sizes for row in results[size]["rows"]]
    breakdown_rows = [
        {"size": size, "side": SHOWN[side], **{k: v for k, v in phases.items()}}
        for size in sizes
        for side, phases in results[size]["breakdown"].items()
    ]
    report(
        "real_work",
        all_rows,
        load_average=[round(v, 2) for v in os.getloadavg()],
        breakdown=breakdown_rows,
        before_first_training={size: results[size]["spark"] for size in sizes},
        rounds={size: results[size]["rounds"] for size in sizes},
    )
    import pandas as pd

    print("\nbefore the first training, the loop and the hand-written Spark jobs (medians, s):")
    print(
        pd.DataFrame(
            [
                {"size": size, "side": side, **phases}
                for size in sizes
                for side, phases in results[size]["spark"].items()
            ]
        ).to_string(index=False, float_format=lambda v: f"{v:.2f}")
    )
    print("\nwhere autoablation's time went (medians, s):")
    print(pd.DataFrame(breakdown_rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    plot(results, RESULTS / "real_work.png")


if __name__ == "__main__":
    main()
