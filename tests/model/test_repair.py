"""The ``project`` shape strategy repairs only removals that cannot build, per component."""

from __future__ import annotations

import keras
import pytest

from autoablation import ModelSurgeryError, Trial
from autoablation._core.trial import Component, ComponentKind
from autoablation._model.build import ModelRecipe
from autoablation._model.check import check_all_models


def layer(name: str, strategy: str | None = None) -> Component:
    return Component(ComponentKind.LAYER, name, layers=(name,), shape_strategy=strategy)


def trial_of(*components: Component) -> Trial:
    kind = components[0].kind.value if len(components) == 1 else "pair"
    return Trial.create(kind, " & ".join(c.name for c in components), components)


def widening() -> keras.Model:
    """inp(8) -> a(16) -> wide(32, relu) -> b(8) -> out(1): every layer infers its input."""
    inputs = keras.Input(shape=(8,), name="inp")
    x = keras.layers.Dense(16, activation="relu", name="a")(inputs)
    x = keras.layers.Dense(32, activation="relu", name="wide")(x)
    x = keras.layers.Dense(8, activation="relu", name="b")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(x))


def test_a_removal_that_builds_as_it_is_gets_no_projection() -> None:
    """Removing a Dense 16->32 relu is a smaller model, not a linear map of the same size."""
    base = widening()
    model = ModelRecipe(widening, shape_strategy="project").build(trial_of(layer("wide")))
    assert [x.name for x in model.layers] == ["inp", "a", "b", "out"]
    assert model.count_params() != base.count_params()
    inputs = keras.Input(shape=(8,))
    by_hand = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.Dense(8)(keras.layers.Dense(16)(inputs)))
    )
    assert model.count_params() == by_hand.count_params()


def two_blocks() -> keras.Model:
    """blk_b feeds an Add (its removal clashes); blk_c feeds a Dense (its removal builds).

    inp(8) -> a(16) -> blk_b(32) -> add(blk_b, side(32)) -> blk_c(64) -> d(4) -> out(1)
    """
    inputs = keras.Input(shape=(8,), name="inp")
    a = keras.layers.Dense(16, name="a")(inputs)
    b = keras.layers.Dense(32, name="blk_b")(a)
    added = keras.layers.Add(name="add")([b, keras.layers.Dense(32, name="side")(inputs)])
    c = keras.layers.Dense(64, name="blk_c")(added)
    d = keras.layers.Dense(4, name="d")(c)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(d))


def test_a_group_gets_a_projection_only_at_the_removal_that_clashes() -> None:
    group = Component(ComponentKind.LAYER_GROUP, "blk*", prefixes=("blk",))
    built = ModelRecipe(two_blocks, shape_strategy="project").build_trial(trial_of(group))
    assert [p.layer for p in built.projections] == ["blk_b_projection"]
    assert built.projections[0].source == (None, 16) and built.projections[0].target == (None, 32)
    names = [x.name for x in built.model.layers]
    assert "blk_c_projection" not in names and "blk_b_projection" in names
    assert built.model.get_layer("d").input.shape == (None, 32)  # reads the Add directly


def test_the_strategy_is_per_component() -> None:
    recipe = ModelRecipe(two_blocks)  # the study's default stays "error"
    repaired = recipe.build_trial(trial_of(layer("blk_b", "project")))
    assert [p.layer for p in repaired.projections] == ["blk_b_projection"]
    with pytest.raises(ModelSurgeryError, match="shape_strategy='project'") as caught:
        recipe.build(trial_of(layer("blk_b")))
    assert "layer 'add' (Add) cannot take inputs of shapes" in str(caught.value)


def test_a_component_declared_error_is_not_repaired_under_a_project_default() -> None:
    with pytest.raises(ModelSurgeryError, match="layer 'add' \\(Add\\)"):
        ModelRecipe(two_blocks, shape_strategy="project").build(trial_of(layer("blk_b", "error")))


def test_a_pair_projects_only_where_its_project_component_was_removed() -> None:
    """side's removal clashes too (the Add gets 8 wide), but side was declared "error"."""
    with pytest.raises(ModelSurgeryError, match="the 'project' shape strategy cannot repair it"):
        ModelRecipe(two_blocks).build(trial_of(layer("blk_b", "project"), layer("side")))


def test_the_driver_records_each_configurations_projections_for_the_executors() -> None:
    trials = [
        Trial.create("base", "base"),
        trial_of(layer("blk_b", "project")),
        trial_of(layer("blk_c", "project")),
    ]
    checks = check_all_models(ModelRecipe(two_blocks), trials, None, None)
    assert [p.layer for p in checks.trials[trials[1].trial_id].projections] == ["blk_b_projection"]
    assert checks.trials[trials[2].trial_id].projections == ()
    decided = ModelRecipe(two_blocks, repairs={ModelRecipe.repair_key(trials[1], None): ("blk_b",)})
    model = decided.build(trial_of(layer("blk_b")))  # no strategy needed: the driver decided
    assert "blk_b_projection" in [x.name for x in model.layers]


def sigmoid_after_dense() -> keras.Model:
    inputs = keras.Input(shape=(4,), name="inp")
    x = keras.layers.Dense(1, name="last")(keras.layers.Dense(8, name="d")(inputs))
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="act")(x))


def test_a_removal_that_changes_the_output_shape_is_repaired_or_refused() -> None:
    trials = [Trial.create("base", "base"), trial_of(layer("last", "project"))]
    checks = check_all_models(sigmoid_after_dense, trials, None, None)
    assert [p.target for p in checks.trials[trials[1].trial_id].projections] == [(None, 1)]
    with pytest.raises(ModelSurgeryError, match=r"output shape changes .*shape_strategy='project'"):
        check_all_models(sigmoid_after_dense, [trials[0], trial_of(layer("last"))], None, None)
