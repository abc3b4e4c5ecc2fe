"""Models a new user brings, end to end on Spark: a Lambda layer, a block that needs repair."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from autoablation import AblationStudy, ExperimentResult, experiment

pytestmark = pytest.mark.spark

SCALE = 2.0


def lambda_residual() -> Any:
    """inp(5) -> Lambda(tanh * SCALE) -> stem(8) -> widen(16) -> back(8) -> add(stem, back)."""
    import keras

    inputs = keras.Input(shape=(5,), name="inp")
    x = keras.layers.Lambda(lambda t: keras.ops.tanh(t) * SCALE, name="squash")(inputs)
    stem = keras.layers.Dense(8, activation="relu", name="stem")(x)
    widen = keras.layers.Dense(16, activation="relu", name="widen")(stem)
    back = keras.layers.Dense(8, name="back")(widen)
    added = keras.layers.Add(name="add")([stem, back])
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(added))


def train(dataset_function: Any, model_function: Any) -> dict[str, Any]:
    model = model_function()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(dataset_function(1, 64), epochs=1, verbose=0)
    _, accuracy = model.evaluate(dataset_function(1, 64, split="test"), verbose=0)
    return {"metric": accuracy, "params": model.count_params()}


@pytest.fixture(scope="module")
def result(spark: Any, titanic: pd.DataFrame) -> ExperimentResult:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex")
    study.model.set_base_model_generator(lambda_residual)
    study.model.layers.include("widen", "back", shape_strategy="project")
    return experiment.launch(train, study, name="lambda-residual", spark=spark)


def test_a_lambda_models_feature_and_layer_trials_train(result: ExperimentResult) -> None:
    frame = result.to_pandas().set_index("ablated")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert list(frame.index) == ["base", "sex", "widen", "back"]


def test_only_the_removal_that_cannot_build_gets_a_projection(result: ExperimentResult) -> None:
    import keras

    assert list(result.projections) == ["layer:back"]
    assert result.projections["layer:back"][0].startswith("back_projection (Dense)")
    params = result.to_pandas().set_index("ablated")["params"]
    inputs = keras.Input(shape=(5,))
    stem = keras.layers.Dense(8)(inputs)
    by_hand = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.Add()([stem, keras.layers.Dense(8)(stem)]))
    )
    assert params["widen"] == by_hand.count_params() != params["base"]
    assert params["back"] == params["base"]  # a Dense 16 -> 8 projection in back's place
    assert "note: layer:back trained with a learned projection" in str(result)
    assert result.experiment_dir is not None
    recorded = json.loads((result.experiment_dir / "study.json").read_text())
    assert recorded["projections"] == result.projections
    assert recorded["fingerprint"]["projections"] == {
        "layer:widen": [],
        "layer:back": ["back_projection"],
    }
