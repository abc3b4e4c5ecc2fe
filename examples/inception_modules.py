"""Experiment 3 of the AutoAblation paper (Listing 5, Figure 3): Inception-v3 module ablation.

Keras Applications' InceptionV3 (weights=None, 10 classes) on scikit-learn's digits, upsampled to
75x75x3 (the smallest input InceptionV3 takes); each of its first Inception modules removed in
turn. The study runs once per worker count (1, 2 and 4 by default) and reports the run times and
the speed-up over the fewest workers as a table and a plot.

    python examples/inception_modules.py                       # local[4], 1, 2 and 4 workers
    python examples/inception_modules.py --images 1797 --epochs 3 --workers-list 1,2,4,8
    python examples/inception_modules.py --images 40 --epochs 1 --modules 1 --eager  # smoke run
    spark-submit --master "local[4]" examples/inception_modules.py
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from common import parser, session

from autoablation import AblationStudy, experiment

# (start, end) of the first seven modules, as in the paper's Listing 5 ("max_pooling2d_1" is the
# name a fresh Keras process gives InceptionV3's second max pooling; autoablation builds it so).
MODULES = [
    ("max_pooling2d_1", "mixed0"),
    ("mixed0", "mixed1"),
    ("mixed1", "mixed2"),
    ("mixed2", "mixed3"),
    ("mixed3", "mixed4"),
    ("mixed4", "mixed5"),
    ("mixed5", "mixed6"),
]
SIZE = 75


def make_images(count: int) -> Any:
    def images(num_epochs: int, batch_size: int, split: str = "train") -> Any:
        """``count`` digits as 75x75 RGB images; a fifth of them held out."""
        import numpy as np
        import tensorflow as tf
        from sklearn.datasets import load_digits

        data = load_digits()
        order = np.random.default_rng(0).permutation(len(data.images))[:count]
        held_out = max(1, count // 5)
        rows = order[:held_out] if split == "test" else order[held_out:]
        small = np.repeat(data.images[rows][..., None].astype("float32") / 16.0, 3, axis=-1)
        dataset = tf.data.Dataset.from_tensor_slices((small, data.target[rows]))
        dataset = dataset.map(lambda x, y: (tf.image.resize(x, (SIZE, SIZE)), y))
        return dataset.batch(batch_size).repeat(num_epochs)

    return images


def inception() -> Any:
    import keras

    return keras.applications.InceptionV3(weights=None, input_shape=(SIZE, SIZE, 3), classes=10)


def make_train(epochs: int, count: int, eager: bool, batch_size: int = 32) -> Any:
    def train(dataset_function: Any, model_function: Any) -> float:
        model = model_function()
        model.compile(
            "adam", "sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=eager
        )
        steps = math.ceil((count - max(1, count // 5)) / batch_size)
        model.fit(
            dataset_function(epochs, batch_size), epochs=epochs, steps_per_epoch=steps, verbose=0
        )
        _, accuracy = model.evaluate(dataset_function(1, batch_size, split="test"), verbose=0)
        return float(accuracy)

    return train


def scaling_plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [r["workers"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar([str(w) for w in workers], [r["seconds"] for r in rows], color="#2471a3")
    left.set_xlabel("workers")
    left.set_ylabel("study run time (s)")
    left.set_title("Run time")
    right.plot(workers, [r["speedup"] for r in rows], "o-", label="measured", color="#c0392b")
    right.plot(workers, [w / workers[0] for w in workers], "--", label="linear", color="#555555")
    right.set_xlabel("workers")
    right.set_ylabel(f"speed-up over {workers[0]} worker{'s' * (workers[0] > 1)}")
    right.set_title("Speed-up")
    right.legend()
    figure.suptitle("Inception-v3 module ablation")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    flags = parser(__doc__.splitlines()[0], epochs=2, repeats=1, one_study=False)
    flags.add_argument("--images", type=int, default=1000, help="digits used (10 to 1797)")
    flags.add_argument("--modules", type=int, default=len(MODULES), help="first N modules")
    flags.add_argument("--workers-list", default="1,2,4", help="worker counts to compare")
    flags.add_argument(
        "--eager",
        action="store_true",
        help="skip TensorFlow's graph tracing (about 25 s per trial on a small CPU): quicker "
        "for smoke runs of a few steps, slower for real training",
    )
    args = flags.parse_args()
    if not 10 <= args.images <= 1797:
        flags.error(f"--images {args.images}: scikit-learn's digits hold 10 to 1797 images")
    if not 1 <= args.modules <= len(MODULES):
        flags.error(f"--modules {args.modules}: choose 1 to {len(MODULES)}")
    counts = sorted({int(w) for w in args.workers_list.split(",")})
    spark = session(args.master, "inception-modules", default_master=f"local[{max(counts)}]")
    study = AblationStudy(dataset_generator=make_images(args.images))
    study.model.set_base_model_generator(inception)
    for start, end in MODULES[: args.modules]:
        study.model.add_module(start, end)
    train = make_train(args.epochs, args.images, args.eager)
    rows: list[dict[str, Any]] = []
    # Most workers first: the one-time costs (starting Python workers, importing TensorFlow in
    # them) fall on the parallel runs, and the runs after reuse those workers, so the speed-up
    # over the fewest workers is, if anything, understated.
    for workers in reversed(counts):
        started = time.perf_counter()
        result = experiment.launch(
            train,
            study,
            name=f"inception-{workers}-workers",
            spark=spark,
            num_workers=workers,
            repeats=args.repeats,
            overwrite=True,
        )
        seconds = time.perf_counter() - started
        rows.insert(0, {"workers": workers, "seconds": round(seconds, 1)})
        rows[0]["trials"] = len(result.trials)
        print(result)
    for row in rows:
        row["speedup"] = round(rows[0]["seconds"] / row["seconds"], 2)
    assert result.experiment_dir is not None  # launch always writes one
    out = result.experiment_dir.parent / "inception-scaling"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(rows, indent=2))
    scaling_plot(rows, out / "scaling.png")
    fewest = rows[0]["workers"]
    print(f"\nworkers  run time (s)  speed-up over {fewest} worker{'s' * (fewest > 1)}")
    for row in rows:
        print(f"{row['workers']:>7}  {row['seconds']:>12.1f}  {row['speedup']:>8.2f}")
    print(f"\nscaling table and plot: {out}")


if __name__ == "__main__":
    main()
