"""What launch refuses before Spark starts, for the study language of issue 3."""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import pytest

from autoablation import AblationStudy, StudyError, TrainFunctionError
from autoablation._driver.preflight import preflight
from tests.helpers import dense_model


def train(dataset_function: Any, model_function: Any) -> float:
    return 1.0


def test_a_generator_that_cannot_leave_features_out_is_refused(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex")
    study.set_dataset_generator(lambda num_epochs, batch_size: None)
    with pytest.raises(StudyError, match="declares no 'ablated_feature'"):
        preflight(train, study)


def test_a_generator_with_the_wrong_signature_is_refused(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_two")
    study.set_dataset_generator(lambda: None)
    with pytest.raises(StudyError, match=r"must accept \(num_epochs, batch_size\)"):
        preflight(train, study)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda s: s.model.add_module("a", "b"), "removes model components but has no base"),
        (
            lambda s: s.model.add_custom_model_generator(dense_model, "c"),
            "custom models but no base model generator",
        ),
    ],
)
def test_model_components_need_a_base_model(declare: Any, message: str) -> None:
    study = AblationStudy()
    declare(study)
    with pytest.raises(StudyError, match=message):
        preflight(train, study)


def test_a_training_function_that_cannot_travel_is_named() -> None:
    lock = threading.Lock()

    def locked_train(dataset_function: Any, model_function: Any) -> float:
        with lock:
            return 1.0

    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_two")
    with pytest.raises(TrainFunctionError, match="the training function cannot be sent"):
        preflight(locked_train, study)


def test_a_prefix_that_matches_nothing_is_refused_before_launch() -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include_groups(prefix="conv")
    with pytest.raises(StudyError, match="no layer that can be removed starts with 'conv'"):
        preflight(train, study)


def test_keep_one_over_every_feature_leaves_no_input(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include(["pclass", "sex", "age", "sibsp", "parch"])
    with pytest.raises(StudyError, match="removes every feature column"):
        preflight(train, study, "keep_one")


def test_a_checked_study_carries_what_executors_need(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include_groups(["sibsp", "parch"])
    study.model.set_base_model_generator(dense_model)
    study.model.add_module("my_dense_one", "my_dense_two")
    study.model.set_shape_strategy("project")
    checked = preflight(train, study, "pairs")
    assert [t.kind for t in checked.trials] == ["base", "feature_group", "module", "pair"]
    assert checked.recipe is not None and checked.recipe.shape_strategy == "project"
    assert checked.data is not None and checked.dataset_generator is None


def test_the_scheduler_gets_each_configurations_parameter_count(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex")
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_one")
    hints = preflight(train, study).cost_hints
    assert hints[("base", "base")] == dense_model(5).count_params()
    assert hints[("feature", "sex")] == dense_model(4).count_params()
    assert hints[("layer", "my_dense_one")] < hints[("feature", "sex")]  # a layer fewer


def test_without_a_model_the_hint_is_the_number_of_input_columns(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex", "age")
    assert preflight(train, study).cost_hints == {
        ("base", "base"): 5.0,
        ("feature", "sex"): 4.0,
        ("feature", "age"): 4.0,
    }


def test_a_prefix_group_equal_to_a_list_group_is_refused_naming_both() -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include_groups(prefix="my_dense")
    study.model.layers.include_groups(["my_dense_one", "my_dense_two", "my_dense_three"])
    with pytest.raises(StudyError) as caught:
        preflight(train, study)
    message = str(caught.value)
    assert "layers.include_groups(prefix='my_dense')" in message
    assert "layers.include_groups(['my_dense_one', 'my_dense_two', 'my_dense_three'])" in message
    assert "remove the same layers (my_dense_one, my_dense_three, my_dense_two)" in message


def test_a_module_equal_to_a_layer_group_is_refused() -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.add_module("my_dense_one", "my_dense_three")
    study.model.layers.include_groups(["my_dense_two", "my_dense_three"])
    with pytest.raises(StudyError, match="remove the same layers") as caught:
        preflight(train, study)
    assert "model.add_module('my_dense_one', 'my_dense_three')" in str(caught.value)
    assert "layers.include_groups(['my_dense_two', 'my_dense_three'])" in str(caught.value)


def test_a_pair_that_trains_what_a_module_trains_is_left_out() -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.add_module("my_dense_one", "my_dense_three")
    study.model.layers.include("my_dense_two")
    checked = preflight(train, study, "pairs")
    assert [t.label for t in checked.trials] == [
        "base",
        "layer:my_dense_two",
        "module:my_dense_one..my_dense_three",
    ]


def test_keep_one_refuses_components_that_share_a_layer_once_resolved() -> None:
    study = AblationStudy()
    study.model.set_base_model_generator(dense_model)
    study.model.add_module("my_dense_one", "my_dense_three")
    study.model.layers.include_groups(prefix="my_dense_t")
    with pytest.raises(StudyError, match=r"keep_one cannot keep .* both remove layer"):
        preflight(train, study, "keep_one")


def residual() -> Any:
    """stem(16) -> widen(32) -> back(16) -> add(stem, back) -> out: back's removal clashes."""
    import keras

    inputs = keras.Input(shape=(5,), name="inp")
    stem = keras.layers.Dense(16, name="stem")(inputs)
    back = keras.layers.Dense(16, name="back")(keras.layers.Dense(32, name="widen")(stem))
    added = keras.layers.Add(name="add")([stem, back])
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(added))


def test_the_projections_each_configuration_got_are_recorded(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex")
    study.model.set_base_model_generator(residual)
    study.model.layers.include("back", "widen", shape_strategy="project")
    checked = preflight(train, study)
    assert checked.projections == {
        "layer:back": ["back_projection (Dense) in place of 'back': (None, 32) -> (None, 16)"]
    }
    assert checked.fingerprint["projections"] == {
        "layer:back": ["back_projection"],
        "layer:widen": [],
    }
    assert "shape_strategy" not in checked.fingerprint
    assert checked.recipe is not None
    assert sorted(checked.recipe.repairs.values()) == [(), ("back",)]


def test_a_table_made_from_an_array_passes_the_checks_with_numbered_features() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(30, 3)))  # columns 0, 1, 2: it crashed with KeyError
    table[3] = (table[0] > 0).astype(int)
    study = AblationStudy(table, label_name=3)
    study.features.include(0, 2)
    study.model.set_base_model_generator(lambda: dense_model(3))
    checked = preflight(train, study)
    assert [t.ablated for t in checked.trials] == ["base", "0", "2"]
    assert checked.data is not None and checked.data.feature_names == ("0", "1", "2")
