from typing import Any

import pytest

from autoablation import StudyError, experiment
from autoablation._driver.jobs import failed_partition

SPARK_MESSAGE = (
    "Job aborted due to stage failure: Task 1 in stage 3.0 failed 1 times, most recent "
    "failure: Lost task 1.0 in stage 3.0 (TID 7) (127.0.0.1 executor driver): "
    "org.apache.spark.SparkException: Python worker exited unexpectedly (crashed)"
)


def test_the_failed_task_is_read_from_sparks_message() -> None:
    assert failed_partition(SPARK_MESSAGE) == 1
    assert failed_partition("Job 3 cancelled because SparkContext was shut down") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"heartbeat_interval": 0}, "heartbeat_interval must be a positive number; got 0"),
        ({"heartbeat_timeout": 0.5}, r"heartbeat_timeout \(0.5\) must be longer than"),
        ({"max_attempts": 0}, "max_attempts must be a positive integer; got 0"),
        ({"max_job_restarts": -1}, "max_job_restarts must be an integer of 0 or more; got -1"),
        ({"num_workers": 2.5}, "num_workers must be a positive integer; got 2.5"),
        ({"name": " "}, "experiment name must be a non-empty string"),
        ({"optimization_key": ""}, "optimization_key must be a non-empty string"),
        ({"repeats": 0}, "repeats must be a positive integer, or 'auto' for a sequential study"),
        ({"repeats": "many"}, "for a sequential study; got 'many'"),
        ({"repeats": "auto"}, "repeats='auto' needs min_effect, the smallest effect worth"),
        ({"min_effect": -0.01}, "min_effect must be a positive number in the metric's units"),
        ({"min_effect": float("inf")}, "min_effect must be a positive number"),
        ({"vary_split": "yes"}, "vary_split must be True or False; got 'yes'"),
        ({"max_repeats": 0}, "max_repeats must be a positive integer; got 0"),
        (
            {"repeats": "auto", "min_effect": 0.01, "max_repeats": 4},
            r"max_repeats must be at least 6 \(the sequential design's first look\); got 4",
        ),
    ],
)
def test_bad_launch_options_are_refused_before_anything_starts(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(StudyError, match=message):
        experiment.launch(lambda: 1.0, None, **options)  # type: ignore[arg-type]


def test_a_broken_mlflow_setting_turns_tracking_off_instead_of_failing(
    spark: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from autoablation._driver.launcher import ExperimentRun
    from autoablation._driver.options import RunOptions
    from autoablation._driver.tracking import MlflowListener

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "no-such-scheme://nowhere")
    import pandas as pd

    from autoablation import AblationStudy
    from autoablation._driver.preflight import preflight

    table = pd.DataFrame({"x": range(10), "z": range(10), "y": [0, 1] * 5})
    study = AblationStudy(table, label_name="y")
    study.features.include("x")
    run = ExperimentRun(
        spark,
        preflight(lambda: 1.0, study),
        lambda: 1.0,
        RunOptions(mlflow=True),  # type: ignore[arg-type]
        seed=0,
        study={},
    )
    listeners = run._listeners()
    assert not any(isinstance(listener, MlflowListener) for listener in listeners)
    assert any("MLflow tracking is off" in r.getMessage() for r in caplog.records)


def constant(reporter: Any) -> float:
    return 0.5


def test_more_workers_than_spark_has_slots_is_said_in_the_log_and_the_summary(
    spark: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import pandas as pd

    from autoablation import AblationStudy, load

    table = pd.DataFrame({"a": range(10), "b": range(10), "y": [0, 1] * 5})
    study = AblationStudy(table, label_name="y")
    study.features.include("a", "b")
    result = experiment.launch(
        constant, study, spark=spark, num_workers=3, experiment_dir=tmp_path, verbose=0
    )
    note = (
        "num_workers=3 is more than the 2 task slots Spark has (master local[2], 1 core(s) per "
        "task): at most 2 trials run at once, and 1 more task waits for a free slot"
    )
    assert result.ok and result.notes == [note]
    assert f"  note: {note}" in str(result).splitlines()
    assert note in caplog.text
    assert load(tmp_path).notes == [note]  # the report of the directory says it too


def test_slots_are_known_from_the_configuration_only() -> None:
    from autoablation._driver.spark import task_slots_known
    from tests.driver.test_spark import Conf, Context

    assert task_slots_known(Context("local[2]"))
    assert task_slots_known(Context("spark://h:7077", conf=Conf({"spark.cores.max": "4"})))
    assert task_slots_known(Context("yarn", conf=Conf({"spark.executor.instances": "2"})))
    assert not task_slots_known(Context("spark://h:7077"))  # only what registered so far
    dynamic = {"spark.executor.instances": "2", "spark.dynamicAllocation.enabled": "true"}
    assert not task_slots_known(Context("yarn", conf=Conf(dynamic)))
