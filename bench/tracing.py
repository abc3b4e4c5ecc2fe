"""What a 2-step trial of a Keras Applications model costs before its first step, on CPU.

    python bench/tracing.py                    # EfficientNetB0 and DenseNet121 at 32x32
    python bench/tracing.py --models DenseNet121 --steps 2

Each case runs in a fresh Python process (as a fresh Spark Python worker would): build the
model (``weights=None``), compile, and ``fit`` for ``--steps`` steps of batch 8 on random
32x32x3 images, in graph mode (Keras' default: ``fit`` traces its train step into a
``tf.function`` and TensorFlow's graph optimiser, Grappler, rewrites that graph before the first
step), in graph mode with Grappler off (``disable_meta_optimizer``: the trace alone), in graph
mode with the optimizer's variables built before ``fit`` (TensorFlow traces a function again
when its first trace created variables, as Adam's slots are created on its first update), and
with ``run_eagerly=True`` (no tracing: every op runs as it is called). Printed: the seconds to
build, to fit, and the process's CPU seconds, per case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CASES = ("graph", "graph-no-grappler", "graph-optimizer-built", "eager")
"""Keras' default; with TensorFlow's graph optimiser off; with the optimizer's variables built
before ``fit`` (so its first trace creates none and is not traced again); ``run_eagerly=True``."""


def child(name: str, mode: str, steps: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    if mode == "graph-no-grappler":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    began = time.time()
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=10)
    model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=mode == "eager")
    if mode == "graph-optimizer-built":
        model.optimizer.build(model.trainable_variables)
    built = time.time() - began
    rng = np.random.default_rng(0)
    x = rng.random((8 * steps, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=8 * steps)
    began = time.time()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    fitted = time.time() - began
    usage = os.times()
    print(json.dumps({"build_s": built, "fit_s": fitted, "cpu_s": usage.user + usage.system}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="EfficientNetB0,DenseNet121")
    parser.add_argument("--modes", default=",".join(CASES), help=", ".join(CASES))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.steps)
        return
    from _common import report

    rows = []
    for name in args.models.split(","):
        for mode in args.modes.split(","):
            command = [sys.executable, __file__, "--child", name, mode, f"--steps={args.steps}"]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            rows.append({"model": name, "mode": mode, "steps": args.steps, **figures})
            print(rows[-1], flush=True)
    report("tracing", rows, load_average=[round(v, 2) for v in os.getloadavg()])


if __name__ == "__main__":
    main()
