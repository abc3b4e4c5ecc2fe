"""Building trial models with real Keras: the driver's checks and the executors' factory."""

import keras
import pytest

from autoablation import ModelSurgeryError, StudyError, Trial, UnknownComponentError
from autoablation._core.trial import Component, ComponentKind
from autoablation._model.build import ModelRecipe, build_trial_model, fresh_layer_names
from autoablation._model.check import check_all_models
from tests.helpers import dense_model


def layer_trial(*names: str) -> Trial:
    component = Component(ComponentKind.LAYER, "+".join(names), layers=names)
    return Trial.create("layer", component.name, (component,))


def feature_trial(name: str) -> Trial:
    component = Component(ComponentKind.FEATURE, name, features=(name,))
    return Trial.create("feature", name, (component,))


def hand_built(width: int, hidden: list[tuple[str, int]]) -> keras.Model:
    layers = [keras.layers.Dense(units, activation="relu", name=name) for name, units in hidden]
    return keras.Sequential(
        [keras.Input(shape=(width,)), *layers, keras.layers.Dense(1, activation="sigmoid")]
    )


FULL = [("my_dense_one", 16), ("my_dense_two", 8), ("my_dense_three", 8)]


@pytest.mark.parametrize("removed", ["my_dense_one", "my_dense_two", "my_dense_three"])
def test_layer_trial_has_the_parameters_of_the_network_built_without_it(removed: str) -> None:
    model = build_trial_model(dense_model, layer_trial(removed), base_width=5, width=5)
    expected = hand_built(5, [layer for layer in FULL if layer[0] != removed])
    assert model.count_params() == expected.count_params()
    assert removed not in [layer.name for layer in model.layers]


def test_feature_trial_model_takes_one_column_less() -> None:
    model = build_trial_model(dense_model, feature_trial("sex"), base_width=5, width=4)
    assert model.input_shape == (None, 4)
    assert model.count_params() == hand_built(4, FULL).count_params()


def test_base_trial_returns_the_generators_model_untouched() -> None:
    model = build_trial_model(dense_model, Trial.create("base", "base"), base_width=5, width=5)
    assert model.count_params() == hand_built(5, FULL).count_params()


def test_functional_single_input_layer_is_bypassed() -> None:
    def functional() -> keras.Model:
        inputs = keras.Input(shape=(5,), name="inp")
        h = keras.layers.Dense(8, name="h1")(inputs)
        h = keras.layers.Dense(8, name="h2")(h)
        return keras.Model(inputs, keras.layers.Dense(1, name="out")(h))

    model = build_trial_model(functional, layer_trial("h2"))
    inputs = keras.Input(shape=(5,))
    by_hand = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8)(inputs)))
    assert model.count_params() == by_hand.count_params()


def test_auto_generated_names_do_not_depend_on_models_built_before() -> None:
    def unnamed() -> keras.Model:
        return keras.Sequential(
            [keras.Input(shape=(3,)), keras.layers.Dense(2), keras.layers.Dense(1)]
        )

    for _ in range(3):
        unnamed()  # the process's global name counter moves on
    with fresh_layer_names():
        names = [layer.name for layer in unnamed().layers]
    assert names == ["dense", "dense_1"]
    model = build_trial_model(unnamed, layer_trial("dense"))
    assert [layer.name for layer in model.layers] == ["dense_1"]


def test_check_all_models_names_the_study_entry_and_lists_the_layers() -> None:
    trials = [Trial.create("base", "base"), layer_trial("my_dense_9")]
    with pytest.raises(UnknownComponentError) as caught:
        check_all_models(dense_model, trials, None, None)
    message = str(caught.value)
    assert "layers.include('my_dense_9')" in message
    assert "input_layer, my_dense_one, my_dense_two, my_dense_three, output" in message


def test_check_all_models_reports_every_bad_trial() -> None:
    trials = [layer_trial("nope"), layer_trial("output")]
    with pytest.raises(
        UnknownComponentError, match=r"'nope'.*\(and 1 more: .*'output' is an output layer"
    ):
        check_all_models(dense_model, trials, None, None)


def test_check_finds_a_base_model_that_cannot_take_the_data() -> None:
    trials = [Trial.create("base", "base")]
    widths = {trials[0].trial_id: 5}
    with pytest.raises(ModelSurgeryError, match="cannot take a batch of 5 feature columns"):
        check_all_models(lambda: dense_model(7), trials, widths, 5)


def test_check_reports_parameter_counts() -> None:
    trials = [Trial.create("base", "base"), layer_trial("my_dense_two")]
    checks = check_all_models(dense_model, trials, None, None)
    assert (
        checks.trials[trials[1].trial_id].params == hand_built(5, [FULL[0], FULL[2]]).count_params()
    )


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        (lambda: "not a model", "must return a keras.Model; it returned str"),
        (lambda: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_bad_generators_are_refused(generator, message: str) -> None:
    with pytest.raises(StudyError, match=message):
        build_trial_model(generator, Trial.create("base", "base"))


def test_surviving_layers_keep_the_base_models_weights() -> None:
    def pretrained() -> keras.Model:
        model = dense_model(5)
        model.get_layer("my_dense_one").set_weights(
            [w * 0 + 7 for w in model.get_layer("my_dense_one").get_weights()]
        )
        return model

    model = build_trial_model(pretrained, layer_trial("my_dense_three"), base_width=5, width=5)
    assert all((w == 7).all() for w in model.get_layer("my_dense_one").get_weights())
    widened = build_trial_model(pretrained, feature_trial("sex"), base_width=5, width=4)
    assert not (widened.get_layer("my_dense_one").get_weights()[0] == 7).all()  # input changed


def test_a_removal_that_changes_the_output_shape_is_refused_before_launch() -> None:
    def cnn() -> keras.Model:
        return keras.Sequential(
            [
                keras.Input(shape=(8, 8, 1)),
                keras.layers.Conv2D(2, 3, name="conv"),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(1, name="out"),
            ]
        )

    trials = [Trial.create("base", "base"), layer_trial("flatten")]
    with pytest.raises(
        ModelSurgeryError, match=r"output shape changes from \(None, 1\) to \(None, 6, 6, 1\)"
    ):
        check_all_models(cnn, trials, None, None)


def module_trial(start: str, end: str) -> Trial:
    component = Component(ComponentKind.MODULE, f"{start}..{end}", modules=((start, end),))
    return Trial.create("module", component.name, (component,))


def group_trial(*layers: str, prefix: str | None = None) -> Trial:
    component = Component(
        ComponentKind.LAYER_GROUP,
        prefix or "+".join(layers),
        layers=layers,
        prefixes=(prefix,) if prefix else (),
    )
    return Trial.create("layer_group", component.name, (component,))


def custom_trial(identifier: str) -> Trial:
    component = Component(ComponentKind.CUSTOM_MODEL, identifier, custom_model=identifier)
    return Trial.create("custom_model", identifier, (component,))


def residual_by_hand(projections: list[int]) -> keras.Model:
    """The residual model written out again, with the given projection stack."""
    inputs = keras.Input(shape=(8,))
    stem = keras.layers.Dense(16)(inputs)
    block = keras.layers.Dense(16)(keras.layers.Dense(16)(stem))
    x = keras.layers.Add()([stem, block])
    for units in projections:
        x = keras.layers.Dense(units)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def test_each_kind_of_model_trial_has_the_parameters_of_the_network_built_by_hand() -> None:
    from tests.helpers import dense_chain, residual_model

    recipe = ModelRecipe(residual_model, {"wide": lambda: dense_chain(8, [32])})
    cases = {
        group_trial("proj_1", "proj_2"): residual_by_hand([]),
        group_trial(prefix="proj_"): residual_by_hand([]),
        module_trial("stem", "block_add"): dense_chain(8, [16, 12, 12]),
        layer_trial("proj_1"): residual_by_hand([12]),
        custom_trial("wide"): dense_chain(8, [32]),
        Trial.create("base", "base"): residual_by_hand([12, 12]),
    }
    for trial, by_hand in cases.items():
        assert recipe.build(trial).count_params() == by_hand.count_params(), trial.label


def widening_block() -> keras.Model:
    """block_b maps 24 features back to 16, so bypassing it breaks the Add."""
    inputs = keras.Input(shape=(8,), name="inp")
    stem = keras.layers.Dense(16, name="stem")(inputs)
    a = keras.layers.Dense(24, name="block_a")(stem)
    b = keras.layers.Dense(16, name="block_b")(a)
    added = keras.layers.Add(name="block_add")([stem, b])
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(added))


def test_a_shape_clash_names_the_trial_and_the_layer() -> None:
    with pytest.raises(ModelSurgeryError) as caught:
        ModelRecipe(widening_block).build(layer_trial("block_b"))
    message = str(caught.value)
    assert message.startswith(
        "trial 'layer:block_b' (layers.include('block_b')): after the removal"
    )
    assert "layer 'block_add' (Add) cannot take inputs of shapes (None, 16), (None, 24)" in message
    assert "set_shape_strategy('project')" in message


def test_the_project_strategy_inserts_a_learned_projection_and_keeps_the_rest() -> None:
    base = widening_block()
    model = ModelRecipe(widening_block, shape_strategy="project").build(layer_trial("block_b"))
    projection = model.get_layer("block_b_projection")
    assert isinstance(projection, keras.layers.Dense) and projection.units == 16
    assert {layer.name for layer in model.layers} == (
        {layer.name for layer in base.layers} - {"block_b"} | {"block_b_projection"}
    )
    assert model(keras.ops.zeros((2, 8))).shape == (2, 1)


def test_a_custom_model_trial_needs_its_generator() -> None:
    with pytest.raises(StudyError, match="no custom model 'missing'"):
        ModelRecipe(dense_model).build(custom_trial("missing"))


def chained_blocks() -> keras.Model:
    """inp -> a -> [b1, b = a + b1] -> [c1, c = b + c1] -> out: two residual blocks in a row."""
    inputs = keras.Input(shape=(8,), name="inp")
    a = keras.layers.Dense(8, name="a")(inputs)
    b = keras.layers.Add(name="b")([a, keras.layers.Dense(8, name="b1")(a)])
    c = keras.layers.Add(name="c")([b, keras.layers.Dense(8, name="c1")(b)])
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(c))


def modules_trial(*bounds: tuple[str, str]) -> Trial:
    removed = tuple(
        Component(ComponentKind.MODULE, f"{s}..{e}", modules=((s, e),)) for s, e in bounds
    )
    return Trial.create("pair", " & ".join(c.name for c in removed), removed)


@pytest.mark.parametrize("order", [(("a", "b"), ("b", "c")), (("b", "c"), ("a", "b"))])
def test_chained_modules_are_removed_whatever_their_order(order: tuple) -> None:
    model = ModelRecipe(chained_blocks).build(modules_trial(*order))
    assert [layer.name for layer in model.layers] == ["inp", "a", "out"]


def test_a_functional_module_cannot_end_at_an_output() -> None:
    with pytest.raises(ModelSurgeryError, match="'out' is an output layer of the model; a module"):
        ModelRecipe(chained_blocks).build(module_trial("c", "out"))


def widening_chain() -> keras.Model:
    """inp -> a(16) -> blk_b(32) -> blk_c(64) -> add(blk_c, side(64)) -> out."""
    inputs = keras.Input(shape=(8,), name="inp")
    a = keras.layers.Dense(16, name="a")(inputs)
    c = keras.layers.Dense(64, name="blk_c")(keras.layers.Dense(32, name="blk_b")(a))
    added = keras.layers.Add(name="add")([c, keras.layers.Dense(64, name="side")(inputs)])
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(added))


@pytest.mark.parametrize(
    "trial",
    [group_trial(prefix="blk"), group_trial("blk_b", "blk_c"), group_trial("blk_c", "blk_b")],
    ids=["prefix", "in-order", "reversed"],
)
def test_projections_follow_the_graph_as_it_is_edited(trial: Trial) -> None:
    model = ModelRecipe(widening_chain, shape_strategy="project").build(trial)
    assert {"blk_b", "blk_c"}.isdisjoint(layer.name for layer in model.layers)
    assert model.get_layer("add").input[0].shape == (None, 64)
    assert model(keras.ops.zeros((2, 8))).shape == (2, 1)


def conv_stack(*, reshape: bool = True) -> keras.Model:
    """Three strided convolutions; with ``reshape``, a fixed Reshape of c3's (2, 2, 32) output."""
    fixed = [keras.layers.Reshape((4, 32), name="fixed")] if reshape else []
    return keras.Sequential(
        [
            keras.Input(shape=(16, 16, 3)),
            keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1"),
            keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2"),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", name="c3"),
            *fixed,
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(1, name="out"),
        ]
    )


@pytest.mark.parametrize("names", [("c2", "c3"), ("c3", "c2")])
def test_a_sequential_run_gets_one_projection_to_the_shape_after_it(names: tuple) -> None:
    base = conv_stack()
    model = ModelRecipe(conv_stack, shape_strategy="project").build(group_trial(*names))
    assert [layer.name for layer in model.layers] == [
        "c1",
        "c3_projection",
        "fixed",
        "flat",
        "out",
    ]
    assert model.get_layer("flat").output.shape == base.get_layer("flat").output.shape


def test_a_sequential_run_that_builds_as_it_is_gets_no_projection() -> None:
    model = ModelRecipe(lambda: conv_stack(reshape=False), shape_strategy="project").build(
        group_trial("c2", "c3")
    )
    assert [layer.name for layer in model.layers] == ["c1", "flat", "out"]


def test_a_feature_and_a_layer_removed_together_are_projected_from_the_new_width() -> None:
    def residual_input() -> keras.Model:
        inputs = keras.Input(shape=(8,), name="inp")
        a = keras.layers.Dense(8, name="a")(inputs)  # bypassed: its consumers read the input
        side = keras.layers.Dense(8, name="side")(inputs)
        return keras.Model(
            inputs, keras.layers.Dense(1, name="out")(keras.layers.Add(name="add")([a, side]))
        )

    feature = Component(ComponentKind.FEATURE, "f0", features=("f0",))
    layer = Component(ComponentKind.LAYER, "a", layers=("a",))
    trial = Trial.create("pair", "f0 & a", (feature, layer))
    model = ModelRecipe(residual_input, shape_strategy="project").build(
        trial, base_width=8, width=7
    )
    assert model.input_shape == (None, 7)
    assert model.get_layer("a_projection").input.shape == (None, 7)
    assert model(keras.ops.zeros((2, 7))).shape == (2, 1)


def test_a_layer_called_outside_the_model_does_not_confuse_the_shapes() -> None:
    def reused() -> keras.Model:
        b = keras.layers.Dense(16, name="b")
        b(keras.Input(shape=(4, 8)))  # a call outside the model shifts b's node indices
        inputs = keras.Input(shape=(10, 8), name="inp")
        c = keras.layers.Dense(32, name="c")(b(inputs))
        added = keras.layers.Add(name="add")([c, keras.layers.Dense(32, name="side")(inputs)])
        return keras.Model(inputs, keras.layers.Dense(1, name="out")(added))

    model = ModelRecipe(reused, shape_strategy="project").build(layer_trial("c"))
    projection = model.get_layer("c_projection")
    assert projection.input.shape == (None, 10, 16) and projection.output.shape == (None, 10, 32)


def test_the_project_strategy_refuses_channels_first_tensors() -> None:
    def channels_first() -> keras.Model:
        inputs = keras.Input(shape=(4, 8, 8), name="inp")
        a = keras.layers.Conv2D(32, 1, data_format="channels_first", name="a")(inputs)
        b = keras.layers.Conv2D(16, 1, strides=2, data_format="channels_first", name="b")(a)
        side = keras.layers.Conv2D(16, 1, strides=2, data_format="channels_first", name="side")(
            inputs
        )
        added = keras.layers.Add(name="add")([b, side])
        return keras.Model(inputs, keras.layers.Dense(1, name="out")(keras.layers.Flatten()(added)))

    with pytest.raises(ModelSurgeryError, match="'b' is channels-first"):
        ModelRecipe(channels_first, shape_strategy="project").build(layer_trial("b"))


def test_token_and_variable_length_inputs_pass_the_driver_check() -> None:
    def tokens() -> keras.Model:
        inputs = keras.Input(shape=(None,), dtype="int32", name="ids")
        x = keras.layers.Embedding(100, 8, name="embed")(inputs)
        x = keras.layers.Conv1D(8, 3, name="conv")(x)
        x = keras.layers.Dense(8, name="extra")(x)
        x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
        return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))

    checks = check_all_models(
        tokens, [Trial.create("base", "base"), layer_trial("extra")], None, None
    )
    assert checks.base.output_shapes == ((1,),)
    assert "extra" not in checks.trials[layer_trial("extra").trial_id].layer_names
