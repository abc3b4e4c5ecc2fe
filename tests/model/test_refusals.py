"""Refusals that lead to the fix: nested models, shared layers, near misses, fixed shapes."""

from __future__ import annotations

import keras
import pytest

from autoablation import ModelSurgeryError, Trial, UnknownComponentError
from autoablation._core.trial import Component, ComponentKind
from autoablation._model.build import ModelRecipe


def layer_trial(name: str) -> Trial:
    return Trial.create("layer", name, (Component(ComponentKind.LAYER, name, layers=(name,)),))


def nested() -> keras.Model:
    """inp -> encoder (a nested model: inner_a, inner_dense) -> mid -> out."""
    inner_inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(6, name="inner_a")(inner_inputs)
    encoder = keras.Model(inner_inputs, keras.layers.Dense(3, name="inner_dense")(hidden))
    encoder.name = "encoder"
    inputs = keras.Input(shape=(4,), name="inp")
    x = keras.layers.Dense(5, name="mid")(encoder(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def test_a_layer_of_a_nested_model_is_refused_naming_the_model_to_remove_instead() -> None:
    with pytest.raises(UnknownComponentError) as caught:
        ModelRecipe(nested).build(layer_trial("inner_dense"))
    message = str(caught.value)
    assert "'inner_dense' sits inside the nested model 'encoder'" in message
    assert "study.model.layers.include('encoder')" in message


def test_the_nested_model_can_be_removed_as_a_whole() -> None:
    model = ModelRecipe(nested).build(layer_trial("encoder"))
    assert [x.name for x in model.layers] == ["inp", "mid", "out"]


def test_a_prefix_matching_only_nested_layers_says_where_they_are() -> None:
    group = Component(ComponentKind.LAYER_GROUP, "inner*", prefixes=("inner",))
    with pytest.raises(UnknownComponentError, match="nested model\\(s\\) 'encoder' match it"):
        ModelRecipe(nested).build(Trial.create("layer_group", "inner*", (group,)))


def test_a_near_miss_layer_name_gets_a_suggestion() -> None:
    with pytest.raises(UnknownComponentError, match=r"'mdi' not found .*; did you mean 'mid'\?"):
        ModelRecipe(nested).build(layer_trial("mdi"))


def shared() -> keras.Model:
    """inp -> a -> shared -> shared -> b -> out: one Dense layer called twice."""
    inputs = keras.Input(shape=(4,), name="inp")
    twice = keras.layers.Dense(4, name="shared")
    x = keras.layers.Dense(4, name="a")(inputs)
    x = keras.layers.Dense(4, name="b")(twice(twice(x)))
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def test_a_shared_layer_is_refused_pointing_to_add_module_which_removes_it() -> None:
    with pytest.raises(ModelSurgeryError, match="add_module\\(start, end\\)"):
        ModelRecipe(shared).build(layer_trial("shared"))
    module = Component(ComponentKind.MODULE, "a..b", modules=(("a", "b"),))
    model = ModelRecipe(shared).build(Trial.create("module", "a..b", (module,)))
    assert [x.name for x in model.layers] == ["inp", "a", "out"]


def fixed_reshape() -> keras.Model:
    inputs = keras.Input(shape=(4,), name="inp")
    x = keras.layers.Reshape((4, 1), name="as_sequence")(inputs)
    x = keras.layers.Flatten(name="flat")(keras.layers.Conv1D(2, 2, name="conv")(x))
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def test_a_feature_trial_that_breaks_a_fixed_reshape_blames_the_feature_and_names_the_fix() -> None:
    feature = Component(ComponentKind.FEATURE, "age", features=("age",))
    trial = Trial.create("feature", "age", (feature,))
    with pytest.raises(ModelSurgeryError) as caught:
        ModelRecipe(fixed_reshape).build(trial, base_width=4, width=3)
    message = str(caught.value)
    assert "the input is 3 columns wide instead of 4, because the trial removes feature 'age'" in (
        message
    )
    assert "layer 'as_sequence' (Reshape)" in message
    assert "keras.layers.Reshape((-1, 1))" in message
    assert "set_shape_strategy" not in message  # a projection would not help a feature trial
    assert "\x1b[" not in message


def test_the_suggested_reshape_makes_the_feature_trial_build() -> None:
    def following() -> keras.Model:
        inputs = keras.Input(shape=(4,), name="inp")
        x = keras.layers.Reshape((-1, 1), name="as_sequence")(inputs)
        x = keras.layers.Flatten(name="flat")(keras.layers.Conv1D(2, 2, name="conv")(x))
        return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))

    feature = Component(ComponentKind.FEATURE, "age", features=("age",))
    model = ModelRecipe(following).build(
        Trial.create("feature", "age", (feature,)), base_width=4, width=3
    )
    assert model.input_shape == (None, 3)
