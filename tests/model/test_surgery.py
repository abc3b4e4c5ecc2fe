"""Config surgery on the configs of real Keras models; the rebuild is in model/test_build.py."""

import keras
import pytest

from autoablation import ModelSurgeryError, UnknownComponentError
from autoablation._model.surgery import (
    declared_input_shapes,
    input_layer_names,
    layer_names,
    normalize_config,
    output_layer_names,
    remove_layers,
    set_input_width,
)
from tests.helpers import dense_model


def residual_model() -> keras.Model:
    inputs = keras.Input(shape=(6,), name="inp")
    a = keras.layers.Dense(8, name="a")(inputs)
    b = keras.layers.Dense(8, name="b")(a)
    added = keras.layers.Add(name="add")([a, b])
    outputs = keras.layers.Dense(1, name="out")(added)
    return keras.Model(inputs, outputs)


def test_normalize_drops_pinned_build_shapes_and_keeps_the_graph() -> None:
    from autoablation._model.build import fresh_layer_names

    with fresh_layer_names():  # other tests of this process built models before
        config = normalize_config(dense_model().get_config())
    assert "build_config" not in str(config)
    assert layer_names(config) == [
        "input_layer",
        "my_dense_one",
        "my_dense_two",
        "my_dense_three",
        "output",
    ]
    assert input_layer_names(config) == ["input_layer"] and output_layer_names(config) == ["output"]


def test_sequential_removal_drops_the_entry() -> None:
    config = normalize_config(dense_model().get_config())
    edited = remove_layers(config, ["my_dense_two"])
    assert "my_dense_two" not in layer_names(edited)
    assert "my_dense_two" in layer_names(config)  # the input is not modified


def test_functional_bypass_feeds_the_layer_input_to_its_consumers() -> None:
    config = normalize_config(residual_model().get_config())
    edited = remove_layers(config, ["b"])
    add = next(entry for entry in edited["layers"] if entry["name"] == "add")
    sources = [t["config"]["keras_history"][0] for t in add["inbound_nodes"][0]["args"][0]]
    assert sources == ["a", "a"]


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        (
            "dense_9",
            UnknownComponentError,
            r"'dense_9' not found.*its layers are: inp, a, b, add, out",
        ),
        ("inp", ModelSurgeryError, "is the model's input"),
        ("out", ModelSurgeryError, "is an output layer"),
        ("add", ModelSurgeryError, r"takes 2 inputs \(a, b\)"),
    ],
)
def test_layers_that_cannot_be_removed_are_named(
    name: str, error: type[Exception], message: str
) -> None:
    config = normalize_config(residual_model().get_config())
    with pytest.raises(error, match=message):
        remove_layers(config, [name], entry="layers.include")


def test_a_shared_layer_cannot_be_bypassed() -> None:
    inputs = keras.Input(shape=(4,), name="inp")
    shared = keras.layers.Dense(4, name="shared")
    outputs = keras.layers.Dense(1, name="out")(shared(shared(inputs)))
    config = normalize_config(keras.Model(inputs, outputs).get_config())
    with pytest.raises(ModelSurgeryError, match="called 2 times"):
        remove_layers(config, ["shared"])


def test_input_width_follows_the_data() -> None:
    config = normalize_config(dense_model(5).get_config())
    assert declared_input_shapes(config) == [[None, 5]]
    assert declared_input_shapes(set_input_width(config, 5, 4)) == [[None, 4]]


def test_input_width_is_checked_against_the_data() -> None:
    config = normalize_config(dense_model(7).get_config())
    with pytest.raises(ModelSurgeryError, match=r"input shape is \(None, 7\).*5 feature columns"):
        set_input_width(config, 5, 4)


def test_a_model_without_declared_input_is_left_alone() -> None:
    config = normalize_config(dense_model(None).get_config())
    assert set_input_width(config, 5, 4) == config


def test_multi_input_models_cannot_take_the_feature_matrix() -> None:
    left, right = keras.Input(shape=(3,), name="l"), keras.Input(shape=(3,), name="r")
    outputs = keras.layers.Dense(1, name="out")(keras.layers.Concatenate(name="cat")([left, right]))
    config = normalize_config(keras.Model([left, right], outputs).get_config())
    with pytest.raises(ModelSurgeryError, match="has 2 inputs"):
        set_input_width(config, 3, 2)


def test_a_layer_whose_second_output_is_used_cannot_be_bypassed() -> None:
    @keras.saving.register_keras_serializable(package="tests")
    class Twin(keras.layers.Layer):
        def call(self, x):  # type: ignore[no-untyped-def]
            return x * 2.0, x * 3.0

    inputs = keras.Input(shape=(3,), name="inp")
    d = keras.layers.Dense(3, name="d")(inputs)
    double, triple = Twin(name="twin")(d)
    outputs = keras.layers.Subtract(name="sub")([double, triple])
    config = normalize_config(keras.Model(inputs, outputs).get_config())
    with pytest.raises(ModelSurgeryError, match="'twin' has several outputs in use"):
        remove_layers(config, ["twin"])


def residual() -> dict:
    from tests.helpers import residual_model

    return normalize_config(residual_model().get_config())


def test_a_module_is_every_layer_between_its_bounds() -> None:
    from autoablation._model.surgery import module_layers

    assert module_layers(residual(), "stem", "block_add") == ["block_a", "block_b", "block_add"]
    assert module_layers(residual(), "block_add", "proj_2") == ["proj_1", "proj_2"]


def test_removing_a_module_feeds_its_start_to_the_ends_consumers() -> None:
    edited = remove_layers(residual(), modules=[("stem", "block_add")])
    assert layer_names(edited) == ["inp", "stem", "proj_1", "proj_2", "out"]
    proj = next(e for e in edited["layers"] if e["name"] == "proj_1")
    assert proj["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["stem", 0, 0]


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        (("proj_1", "stem"), "'proj_1' is not an ancestor of 'stem'"),
        (("block_a", "block_add"), "'block_add' inside the module takes input from 'stem'"),
        (("inp", "block_a"), "'stem' inside the module feeds layer 'block_add' outside it"),
        (("stem", "nope"), r"layer 'nope' not found in the base model \(its layers are: inp, stem"),
        (("stem", "block_ad"), r"'block_ad' not found in the base model; did you mean 'block_add'"),
    ],
)
def test_modules_that_cannot_be_cut_out_are_refused(bounds: tuple[str, str], message: str) -> None:
    with pytest.raises((ModelSurgeryError, UnknownComponentError), match=message):
        remove_layers(residual(), modules=[bounds], entry="model.add_module")


def test_a_module_in_one_branch_of_a_two_input_two_output_graph() -> None:
    from autoablation._model.surgery import module_layers

    left, right = keras.Input(shape=(4,), name="left"), keras.Input(shape=(4,), name="right")
    l1 = keras.layers.Dense(4, name="l1")(left)
    l2 = keras.layers.Dense(4, name="l2")(l1)
    l3 = keras.layers.Dense(4, name="l3")(l2)
    joined = keras.layers.Concatenate(name="join")([l3, right])
    outputs = [keras.layers.Dense(1, name="out_a")(joined), keras.layers.Dense(2, name="out_b")(l3)]
    config = normalize_config(keras.Model([left, right], outputs).get_config())
    assert module_layers(config, "l1", "l3") == ["l2", "l3"]
    edited = remove_layers(config, modules=[("l1", "l3")])
    assert "l2" not in layer_names(edited) and "l3" not in layer_names(edited)
    rebuilt = keras.Model.from_config(edited)
    assert [tuple(t.shape) for t in rebuilt.outputs] == [(None, 1), (None, 2)]


def test_a_sequential_module_is_a_slice_of_the_stack() -> None:
    edited = remove_layers(
        normalize_config(dense_model().get_config()), modules=[("my_dense_one", "my_dense_three")]
    )
    assert layer_names(edited)[1:] == ["my_dense_one", "output"]


def test_prefix_groups_spare_the_input_and_output_layers() -> None:
    from autoablation._model.surgery import prefix_layers

    config = normalize_config(dense_model().get_config())
    assert prefix_layers(config, "my_dense") == ["my_dense_one", "my_dense_two", "my_dense_three"]
    with pytest.raises(
        UnknownComponentError, match="no layer that can be removed starts with 'out'"
    ):
        prefix_layers(config, "out")


def test_a_module_and_a_layer_inside_it_are_removed_once() -> None:
    edited = remove_layers(residual(), ["block_a"], modules=[("stem", "block_add")])
    assert layer_names(edited) == ["inp", "stem", "proj_1", "proj_2", "out"]
