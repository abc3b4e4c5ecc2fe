"""Bad declarations, options and return values: each refused with an error naming the culprit.

A declaration or option is refused before any Spark job of the study starts: the test runs a
marker job before and after, and Spark's jobs in between show that nothing but the workers'
warm-up ran. A bad return value
fails its trial (the others finish) with a message naming the problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from autoablation import (
    AblationStudy,
    DatasetError,
    ModelSurgeryError,
    StudyError,
    TrainFunctionError,
    UnknownComponentError,
    experiment,
)
from tests.helpers import dense_model, residual_model

pytestmark = pytest.mark.spark


def ok_train(dataset_function: Any = None, model_function: Any = None) -> float:
    return 1.0


def titanic_study(titanic: pd.DataFrame) -> AblationStudy:
    return AblationStudy(titanic, label_name="survived")


def with_model(generator: Callable[..., Any] = dense_model) -> AblationStudy:
    study = AblationStudy()
    study.model.set_base_model_generator(generator)
    return study


def unknown_feature(titanic: pd.DataFrame) -> None:
    titanic_study(titanic).features.include("cabin_deck")


def label_as_feature(titanic: pd.DataFrame) -> None:
    titanic_study(titanic).features.include("survived")


def unknown_label(titanic: pd.DataFrame) -> None:
    AblationStudy(titanic, label_name="survival")


def feature_twice(titanic: pd.DataFrame) -> None:
    titanic_study(titanic).features.include("sex", "sex")


def feature_group_of_one(titanic: pd.DataFrame) -> None:
    titanic_study(titanic).features.include_groups(["sex"])


def feature_group_with_unknown_member(titanic: pd.DataFrame) -> None:
    titanic_study(titanic).features.include_groups(["sex", "cabin_deck"])


def no_rows(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic.iloc[:0], label_name="survived")
    study.features.include("sex")
    experiment.launch(ok_train, study)


def empty_test_split(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic.iloc[:3], label_name="survived", test_fraction=0.1)
    study.features.include("sex")
    experiment.launch(ok_train, study)


def bad_test_fraction(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived", test_fraction=1.5)
    study.features.include("sex")
    experiment.launch(ok_train, study)


def infinite_feature_value(titanic: pd.DataFrame) -> None:
    table = titanic.assign(age=titanic["age"].mask(titanic.index % 100 == 0, math.inf))
    study = AblationStudy(table, label_name="survived")
    study.features.include("sex")
    experiment.launch(ok_train, study)


def typo_with_a_dataset_generator(titanic: pd.DataFrame) -> None:
    def generator(num_epochs: int, batch_size: int, ablated_feature: Any = None) -> Any:
        table = titanic[["age", "sibsp", "parch"]].fillna(0)
        x = table.drop(columns=[ablated_feature], errors="ignore").to_numpy("float32")
        return x, titanic["survived"].eq("survived").to_numpy("float32")

    study = AblationStudy("titanic", 1, "survived", dataset_generator=generator)
    study.features.include("sibsp", "parchh")
    experiment.launch(ok_train, study)


def unknown_layer(titanic: pd.DataFrame) -> None:
    study = with_model()
    study.model.layers.include("my_dense_four")
    experiment.launch(ok_train, study)


def input_layer_ablated(titanic: pd.DataFrame) -> None:
    study = with_model(residual_model)
    study.model.layers.include("inp")
    experiment.launch(ok_train, study)


def output_layer_ablated(titanic: pd.DataFrame) -> None:
    study = with_model()
    study.model.layers.include("output")
    experiment.launch(ok_train, study)


def layer_twice(titanic: pd.DataFrame) -> None:
    study = with_model()
    study.model.layers.include("my_dense_two")
    study.model.layers.include("my_dense_two")


def group_with_unknown_layer(titanic: pd.DataFrame) -> None:
    study = with_model()
    study.model.layers.include_groups(["my_dense_two", "my_dense_nine"])
    experiment.launch(ok_train, study)


def prefix_matching_nothing(titanic: pd.DataFrame) -> None:
    study = with_model()
    study.model.layers.include_groups(prefix="conv")
    experiment.launch(ok_train, study)


def unknown_module_end(titanic: pd.DataFrame) -> None:
    study = with_model(residual_model)
    study.model.add_module("block_a", "block_z")
    experiment.launch(ok_train, study)


def module_start_not_reaching_end(titanic: pd.DataFrame) -> None:
    study = with_model(residual_model)
    study.model.add_module("proj_1", "block_a")  # the wrong way round
    experiment.launch(ok_train, study)


def module_start_equals_end(titanic: pd.DataFrame) -> None:
    with_model(residual_model).model.add_module("block_a", "block_a")


def joined_model() -> Any:
    """x -> wide(16) -> narrow(4) -> join = Add(narrow, side(4)) -> y."""
    import keras

    inputs = keras.Input(shape=(8,), name="x")
    narrow = keras.layers.Dense(4, name="narrow")(keras.layers.Dense(16, name="wide")(inputs))
    side = keras.layers.Dense(4, name="side")(inputs)
    joined = keras.layers.Add(name="join")([narrow, side])
    return keras.Model(inputs, keras.layers.Dense(1, name="y")(joined))


def shapes_that_cannot_work(titanic: pd.DataFrame) -> None:
    study = with_model(joined_model)
    study.model.layers.include("narrow")  # 'join' would add 16 units to 4
    experiment.launch(ok_train, study)


def non_callable_model_generator(titanic: pd.DataFrame) -> None:
    AblationStudy().model.set_base_model_generator("dense_model")  # type: ignore[arg-type]


def non_callable_dataset_generator(titanic: pd.DataFrame) -> None:
    AblationStudy().set_dataset_generator(42)  # type: ignore[arg-type]


def generator_returning_a_dict(titanic: pd.DataFrame) -> None:
    study = with_model(lambda: {"layers": 3})
    study.model.layers.include("my_dense_two")
    experiment.launch(ok_train, study)


def generator_that_raises(titanic: pd.DataFrame) -> None:
    def broken() -> Any:
        raise RuntimeError("no weights file")

    study = with_model(broken)
    study.model.layers.include("my_dense_two")
    experiment.launch(ok_train, study)


def custom_model_without_base(titanic: pd.DataFrame) -> None:
    study = AblationStudy()
    study.model.add_custom_model_generator(dense_model, "wide")
    experiment.launch(ok_train, study)


def empty_study(titanic: pd.DataFrame) -> None:
    experiment.launch(ok_train, AblationStudy())


def not_a_study(titanic: pd.DataFrame) -> None:
    experiment.launch(ok_train, titanic)  # type: ignore[arg-type]


def train_not_callable(titanic: pd.DataFrame) -> None:
    study = with_model()
    study.model.layers.include("my_dense_two")
    experiment.launch("train", study)  # type: ignore[arg-type]


def train_with_an_unknown_parameter(titanic: pd.DataFrame) -> None:
    def train(model_function: Any, learning_rate: float) -> float:
        return learning_rate

    study = with_model()
    study.model.layers.include("my_dense_two")
    experiment.launch(train, study)


def launch_option(**options: Any) -> Callable[[pd.DataFrame], None]:
    def launch(titanic: pd.DataFrame) -> None:
        study = with_model()
        study.model.layers.include("my_dense_two")
        experiment.launch(ok_train, study, **options)

    return launch


BAD_DECLARATIONS: list[tuple[Callable[[pd.DataFrame], None], type[Exception], str]] = [
    (unknown_feature, UnknownComponentError, "feature 'cabin_deck' is not a column"),
    (label_as_feature, StudyError, "'survived' is the study's label"),
    (unknown_label, UnknownComponentError, "label 'survival' is not a column"),
    (feature_twice, StudyError, "feature 'sex' is already included"),
    (feature_group_of_one, StudyError, "a feature group needs at least two names"),
    (feature_group_with_unknown_member, UnknownComponentError, "feature 'cabin_deck'"),
    (no_rows, DatasetError, "the training data has no rows"),
    (empty_test_split, DatasetError, "test_fraction=0.1 of 3 rows leaves the test split empty"),
    (bad_test_fraction, DatasetError, r"test_fraction must be in \[0, 1\); got 1.5"),
    (infinite_feature_value, DatasetError, r"column 'age' holds an infinite .* in 14 of 1309 rows"),
    (typo_with_a_dataset_generator, UnknownComponentError, "the same data without feature 'pa"),
    (unknown_layer, UnknownComponentError, "'my_dense_four'"),
    (input_layer_ablated, ModelSurgeryError, "'inp'.*input"),
    (output_layer_ablated, ModelSurgeryError, "'output'.*output"),
    (layer_twice, StudyError, "layer 'my_dense_two' is already included"),
    (group_with_unknown_layer, UnknownComponentError, "'my_dense_nine'"),
    (prefix_matching_nothing, UnknownComponentError, "'conv'"),
    (unknown_module_end, UnknownComponentError, "'block_z'"),
    (module_start_not_reaching_end, ModelSurgeryError, "'proj_1'.*'block_a'"),
    (module_start_equals_end, StudyError, "a module needs two different layers"),
    (shapes_that_cannot_work, ModelSurgeryError, "'join'"),
    (non_callable_model_generator, StudyError, "must be callable; got str"),
    (non_callable_dataset_generator, StudyError, "must be callable; got int"),
    (generator_returning_a_dict, StudyError, "dict"),
    (generator_that_raises, StudyError, "no weights file"),
    (custom_model_without_base, StudyError, "no base model generator"),
    (empty_study, StudyError, "nothing to ablate"),
    (not_a_study, StudyError, "study must be an AblationStudy; got DataFrame"),
    (train_not_callable, TrainFunctionError, "must be callable; got str"),
    (train_with_an_unknown_parameter, TrainFunctionError, "'learning_rate' has no default"),
    (
        launch_option(repeats=0),
        StudyError,
        "repeats must be a positive integer, or 'auto' for a sequential study; got 0",
    ),
    (launch_option(trial_timeout=-1), StudyError, "trial_timeout must be a positive number"),
    (launch_option(trial_timeout=math.inf), StudyError, "trial_timeout must be a number of"),
    (launch_option(schedule="fastest"), StudyError, "schedule must be one of"),
    (launch_option(max_trial_retries=-1), StudyError, "max_trial_retries must be an integer"),
    (launch_option(max_failures=1.5), StudyError, "max_failures must be an integer of 0"),
    (launch_option(fatal_errors=["MemoryError"]), StudyError, "must be exception classes"),
    (launch_option(direction="up"), StudyError, "direction must be 'max' or 'min'; got 'up'"),
    (launch_option(ablator="lofo"), StudyError, "'lofo'"),
    (launch_option(num_workers=0), StudyError, "num_workers must be a positive integer"),
    (launch_option(resume=True, overwrite=True), StudyError, "contradict each other"),
]


def last_job_id(spark: Any) -> int:
    """Run a marker job and return its id (job ids count every job the context ran)."""
    sc = spark.sparkContext
    sc.setJobGroup("bad-input-marker", "marker")
    try:
        sc.parallelize([1], 1).count()
        return max(sc.statusTracker().getJobIdsForGroup("bad-input-marker"))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)


def study_jobs_between(spark: Any, before: int, after: int) -> list[str | None]:
    """The groups of the jobs that ran between two marker jobs, but the workers' warm-up.

    `launch` starts a warm-up job with the checks that build models (the Python workers import
    Keras meanwhile, docs/performance.md); it is cancelled when the study is refused, and is
    no job of the study.
    """
    store = spark.sparkContext._jsc.sc().statusStore()
    groups = []
    for job_id in range(before + 1, after):
        group = store.job(job_id).jobGroup()
        groups.append(group.get() if group.isDefined() else None)
    return [g for g in groups if not (g or "").startswith("autoablation-warmup-")]


def test_there_are_at_least_twenty_cases() -> None:
    assert len(BAD_DECLARATIONS) >= 20


@pytest.mark.parametrize(
    ("declare", "error", "message"),
    BAD_DECLARATIONS,
    ids=[case[0].__name__ if case[0].__name__ != "launch" else "" for case in BAD_DECLARATIONS],
)
def test_a_bad_declaration_is_refused_before_any_spark_job(
    spark: Any,
    titanic: pd.DataFrame,
    declare: Callable[[pd.DataFrame], None],
    error: type[Exception],
    message: str,
) -> None:
    before = last_job_id(spark)
    with pytest.raises(error, match=message):
        declare(titanic)
    assert study_jobs_between(spark, before, last_job_id(spark)) == []  # no job of the study


def bad_returns(reporter: Any) -> Any:
    return {
        "base": 0.5,
        "pclass": None,
        "sex": math.nan,
        "age": "0.9",
        "sibsp": {"accuracy": 0.9},
        "parch": [0.9],
    }[reporter.ablated]


def test_bad_return_values_fail_their_trials_with_the_reason(
    spark: Any, titanic: pd.DataFrame
) -> None:
    study = titanic_study(titanic)
    study.features.include("pclass", "sex", "age", "sibsp", "parch")
    result = experiment.launch(bad_returns, study, name="bad-returns", spark=spark, verbose=0)
    frame = result.to_pandas().set_index("ablated")
    assert frame.loc["base", "status"] == "ok"
    errors = frame["error"].drop("base").to_dict()
    assert set(frame["status"].drop("base")) == {"failed"}
    assert errors == {
        "pclass": "the training function returned None; return a number or a dict holding 'metric'",
        "sex": "the training function's return value is nan; expected a finite number",
        "age": "the training function's return value is '0.9' (str); expected a number",
        "sibsp": "the training function returned a dict without the optimization key "
        "'metric'; its keys are: 'accuracy'",
        "parch": "the training function's return value is [0.9] (list); expected a number",
    }
