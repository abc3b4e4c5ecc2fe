"""The backend travels with the tasks, and a study never gets a worker of another backend.

Keras binds a process to one backend when it first loads, and Spark reuses Python workers
between jobs. Here a study runs on TensorFlow, then the next one in the same session on JAX:
its trials must train on JAX although this session's JVM (and every worker it forks) was started
with ``KERAS_BACKEND=tensorflow``, and although idle workers that loaded Keras on TensorFlow are
waiting to be reused. The training functions import Keras themselves, so the driver of this test
(on TensorFlow) never needs JAX.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autoablation import AblationStudy, ExperimentResult, StudyError
from autoablation._driver.launcher import ExperimentRun
from autoablation._driver.options import RunOptions
from autoablation._driver.preflight import preflight

pytestmark = pytest.mark.spark


def which_keras() -> dict[str, Any]:
    import keras

    return {
        "metric": 1.0,
        "backend": keras.backend.backend(),
        "pid": os.getpid(),
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }


def study() -> AblationStudy:
    table = pd.DataFrame({"a": [0.0, 1.0] * 5, "b": [1.0, 0.0] * 5, "y": [0, 1] * 5})
    declared = AblationStudy(table, label_name="y")
    declared.features.include("a", "b")
    return declared


def run_on(spark: Any, backend: str, directory: Path, **options: Any) -> ExperimentResult:
    declared = study()
    run = ExperimentRun(
        spark,
        preflight(which_keras, declared),
        which_keras,
        RunOptions(name="backends", experiment_dir=str(directory), verbose=0, **options),
        seed=declared.seed,
        study=declared.to_dict(),
        backend=backend,
    )
    return run.execute()


def test_a_study_on_another_backend_gets_fresh_workers_that_run_it(
    spark: Any, tmp_path: Path
) -> None:
    assert os.environ["KERAS_BACKEND"] == "tensorflow"  # what the JVM and its workers inherit
    first = run_on(spark, "tensorflow", tmp_path / "tf").to_pandas()
    second = run_on(spark, "jax", tmp_path / "jax").to_pandas()
    assert set(first["backend"]) == {"tensorflow"}
    assert set(second["backend"]) == {"jax"}  # carried by the tasks, not inherited
    assert not set(first["pid"]) & set(second["pid"])  # no TensorFlow worker was reused
    assert not second["tensorflow_loaded"].any()
    assert "KERAS_BACKEND" not in spark.sparkContext.environment  # the session is as it was


def test_the_backend_is_recorded_shown_and_kept_on_resume(spark: Any, tmp_path: Path) -> None:
    result = run_on(spark, "tensorflow", tmp_path)
    assert result.backend == "tensorflow"
    assert "'metric', higher is better, Keras on tensorflow" in str(result)
    recorded = json.loads((tmp_path / "study.json").read_text())
    assert recorded["fingerprint"]["backend"] == "tensorflow"
    events = [json.loads(line) for line in (tmp_path / "journal.jsonl").open()]
    assert events[0]["fingerprint"]["backend"] == "tensorflow"
    with pytest.raises(StudyError) as caught:
        run_on(spark, "jax", tmp_path, resume=True)
    assert "trained with Keras on 'tensorflow', and this launch runs on 'jax'" in str(caught.value)
    again = run_on(spark, "tensorflow", tmp_path, resume=True)  # its own backend resumes it
    assert again.ok and len(again.trials) == 3
