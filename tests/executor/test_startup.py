"""The time a fresh worker spends importing TensorFlow reaches the driver with its first result.

Each case runs in a fresh Python process, where TensorFlow is not loaded yet, as in a fresh
Spark Python worker; one worker's two trials serve the import-time and the garbage-collection
tests (a fresh process imports TensorFlow in about 10 CPU seconds on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import json, sys
from autoablation._core.trial import TENSORFLOW_IMPORT, Trial
from autoablation._driver.controller import Controller
from autoablation._executor.client import ControllerClient
from autoablation._executor.runtime import TrialRuntime
from autoablation._executor.worker import run_worker
from autoablation._model.build import ModelRecipe
from autoablation._wire.local import LocalChannel
from tests.helpers import dense_model

trials = [Trial.create("base", "base", repeat=r) for r in range(2)]
controller = Controller(trials)
controller.start()


def train(model_function):
    import gc
    model_function()
    return {"metric": 1.0, "frozen": gc.get_freeze_count()}


assert "tensorflow" not in sys.modules
run_worker(
    ControllerClient(LocalChannel(controller)),
    train,
    TrialRuntime(ModelRecipe(dense_model), None),
    worker_id="w0",
    info={},
    optimization_key="metric",
)
assert controller.wait(60)
controller.stop()
outputs = [r.outputs for r in controller.results()]
print(json.dumps([[o.get(TENSORFLOW_IMPORT), o["frozen"]] for o in outputs]))
"""

UNPACKED = """
import json, time
from autoablation._executor import startup

import tensorflow  # as when Spark unpacks a task whose training function's module imports it

startup.task_started()
startup.task_started()  # a second task in the same Python worker counts nothing more
print(json.dumps([startup.take(), startup.take(), time.process_time()]))
"""


def run(code: str) -> list[Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240
    )
    assert out.returncode == 0, out.stderr[-3000:]
    values: list[Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return values


@pytest.fixture(scope="module")
def fresh_worker() -> list[tuple[float | None, int]]:
    """Each trial's import time and frozen-object count, from a worker in a fresh process."""
    return [(imported, frozen) for imported, frozen in run(WORKER)]


def test_the_first_result_of_a_fresh_worker_carries_its_tensorflow_import_time(
    fresh_worker: list[tuple[float | None, int]],
) -> None:
    first, second = (imported for imported, _ in fresh_worker)
    assert first is not None and first > 0.5  # importing TensorFlow takes seconds, not ms
    assert second is None  # once per process


def test_tensorflow_loaded_while_spark_unpacked_the_task_is_counted_too() -> None:
    first, second, process_cpu = run(UNPACKED)
    assert first is not None and 0.5 < first <= process_cpu and second is None


def test_the_imports_are_kept_out_of_every_trials_garbage_collection(
    fresh_worker: list[tuple[float | None, int]],
) -> None:
    # A full collection walked TensorFlow's ~500,000 objects after every trial: 0.2 to 2.5 s.
    counts = [frozen for _, frozen in fresh_worker]
    assert len(counts) == 2 and min(counts) > 100_000  # frozen before the first trial ran
    # Nothing of a trial is frozen (a model is thousands of objects): it is collected as
    # before. The count only drops a little as frozen objects die.
    assert max(counts) - min(counts) < 1_000
