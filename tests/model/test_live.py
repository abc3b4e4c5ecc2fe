"""What a rebuild takes from the live model: Lambda functions; and compiled base models."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from autoablation import StudyError, Trial
from autoablation._core.trial import Component, ComponentKind
from autoablation._model.build import ModelRecipe
from autoablation._model.check import check_all_models

SCALE = 3.0


def with_lambdas() -> keras.Model:
    """A lambda reading a module global (keras) and a closure; local named functions."""
    offset = 0.5

    def shift(t: Any) -> Any:
        return t + offset

    def doubled_relu(t: Any) -> Any:  # a custom activation, registered nowhere
        return keras.ops.relu(t) * 2

    class Halves(keras.initializers.Initializer):  # a custom object, registered nowhere
        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            return keras.ops.full(shape, 0.5, dtype=dtype)

    inputs = keras.Input(shape=(4,), name="inp")
    x = keras.layers.Lambda(lambda t: keras.ops.tanh(t) * SCALE + offset, name="squash")(inputs)
    x = keras.layers.Dense(8, activation=doubled_relu, name="d1")(x)
    x = keras.layers.Lambda(shift, name="shift")(x)
    x = keras.layers.Dense(8, kernel_initializer=Halves(), name="d2")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def layer_trial(name: str) -> Trial:
    return Trial.create("layer", name, (Component(ComponentKind.LAYER, name, layers=(name,)),))


def feature_trial(name: str) -> Trial:
    component = Component(ComponentKind.FEATURE, name, features=(name,))
    return Trial.create("feature", name, (component,))


@pytest.mark.parametrize(
    ("trial", "width"), [(layer_trial("d2"), 4), (feature_trial("f0"), 3)], ids=["layer", "feature"]
)
def test_a_model_with_lambda_layers_is_rebuilt_with_its_own_functions(
    trial: Trial, width: int
) -> None:
    model = ModelRecipe(with_lambdas).build(trial, base_width=4, width=width)
    squash = model.get_layer("squash")
    probe = np.linspace(-1, 1, 2 * width, dtype="float32").reshape(2, width)
    expected = np.tanh(probe) * SCALE + 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(squash(probe)), expected, rtol=1e-6)
    assert model.get_layer("shift").function(1.0) == 1.5
    assert model.get_layer("d1").activation.__name__ == "doubled_relu"
    assert float(model.get_layer("d1").activation(keras.ops.convert_to_tensor(-1.0))) == 0.0
    assert model(probe).shape == (2, 1)


def test_the_driver_checks_every_trial_of_a_lambda_model() -> None:
    trials = [Trial.create("base", "base"), layer_trial("d1"), layer_trial("squash")]
    checks = check_all_models(with_lambdas, trials, None, None)
    assert "squash" not in checks.trials[trials[2].trial_id].layer_names
    model = ModelRecipe(with_lambdas).build(trials[1])
    assert type(model.get_layer("d2").kernel_initializer).__name__ == "Halves"


def compiled() -> keras.Model:
    model = with_lambdas()
    model.compile("adam", "mse")
    return model


def test_a_compiled_base_model_is_refused_when_trials_rebuild_it() -> None:
    trials = [Trial.create("base", "base"), layer_trial("d2")]
    with pytest.raises(StudyError, match="returns a compiled model") as caught:
        check_all_models(compiled, trials, None, None)
    message = str(caught.value)
    assert "'layer:d2'" in message and "compile it in the training function" in message


def test_a_compiled_base_model_is_accepted_when_no_trial_rebuilds_it() -> None:
    trials = [Trial.create("base", "base"), feature_trial("f0")]
    checks = check_all_models(compiled, trials, None, None)  # a dataset generator's features
    assert checks.base.compiled and not checks.trials[trials[1].trial_id].rebuilt
