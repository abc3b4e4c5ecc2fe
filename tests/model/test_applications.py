"""Module ablation of Keras Applications models nobody here wrote (built with weights=None).

The layers each module trial must lose are computed by this file's own traversal of the built
Keras graph, not by the surgery code under test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from autoablation import ModelSurgeryError, Trial
from autoablation._core.trial import Component, ComponentKind
from autoablation._model.build import ModelRecipe, fresh_layer_names


def inception() -> keras.Model:
    return keras.applications.InceptionV3(weights=None, input_shape=(75, 75, 3), classes=10)


def resnet() -> keras.Model:
    return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)


def mobilenet() -> keras.Model:
    return keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10)


def module_trial(start: str, end: str) -> Trial:
    component = Component(ComponentKind.MODULE, f"{start}..{end}", modules=((start, end),))
    return Trial.create("module", component.name, (component,))


def parents(model: keras.Model) -> dict[str, set[str]]:
    """Layer name -> names of the layers it reads, from Keras's own node objects."""
    graph: dict[str, set[str]] = {}
    for layer in model.layers:
        graph[layer.name] = {
            parent.operation.name for node in layer._inbound_nodes for parent in node.parent_nodes
        }
    return graph


def expected_module(model: keras.Model, start: str, end: str) -> set[str]:
    """Every layer on a path from start (excluded) to end (included)."""
    graph = parents(model)
    ancestors: dict[str, set[str]] = {}

    def up(name: str) -> set[str]:
        if name not in ancestors:
            ancestors[name] = set()
            for parent in graph[name]:
                ancestors[name] |= {parent} | up(parent)
        return ancestors[name]

    return {end} | {name for name in up(end) if start in up(name)}


CASES: list[tuple[Callable[[], keras.Model], str, str, tuple[int, int, int]]] = [
    (inception, "max_pooling2d_1", "mixed0", (75, 75, 3)),  # the paper's Listing 5
    (inception, "mixed0", "mixed1", (75, 75, 3)),
    (inception, "mixed5", "mixed6", (75, 75, 3)),
    (resnet, "conv2_block1_out", "conv2_block2_out", (32, 32, 3)),
    (resnet, "conv3_block2_out", "conv3_block3_out", (32, 32, 3)),
    (mobilenet, "block_1_project_BN", "block_2_add", (32, 32, 3)),
    (mobilenet, "block_3_project_BN", "block_4_add", (32, 32, 3)),
]


@pytest.mark.parametrize(
    ("generator", "start", "end", "shape"),
    CASES,
    ids=[f"{g.__name__}:{s}..{e}" for g, s, e, _ in CASES],
)
def test_a_module_trial_loses_exactly_the_modules_layers_and_still_runs(
    generator: Callable[[], keras.Model], start: str, end: str, shape: tuple[int, int, int]
) -> None:
    with fresh_layer_names():
        base = generator()
    module = expected_module(base, start, end)
    assert len(module) > 3  # a real block, not a single layer
    ablated = ModelRecipe(generator).build(module_trial(start, end))
    base_names = {layer.name for layer in base.layers}
    ablated_names = {layer.name for layer in ablated.layers}
    assert base_names - ablated_names == module
    assert ablated_names <= base_names
    outputs = ablated(np.zeros((1, *shape), dtype=np.float32), training=False)
    assert tuple(outputs.shape) == (1, 10)


def test_auto_named_layers_mean_the_same_layer_however_many_models_came_before() -> None:
    for _ in range(2):
        inception()  # moves this process's layer-name counter on
    with fresh_layer_names():
        base = inception()
    module = expected_module(base, "max_pooling2d_1", "mixed0")
    ablated = ModelRecipe(inception).build(module_trial("max_pooling2d_1", "mixed0"))
    assert {layer.name for layer in base.layers} - {
        layer.name for layer in ablated.layers
    } == module


def test_a_block_that_changes_shape_is_refused_with_the_clashing_layer() -> None:
    with pytest.raises(ModelSurgeryError) as caught:
        ModelRecipe(resnet).build(module_trial("conv2_block3_out", "conv3_block1_out"))
    message = str(caught.value)
    assert "model.add_module('conv2_block3_out', 'conv3_block1_out')" in message
    assert "layer 'conv3_block2_add' (Add) cannot take inputs of shapes" in message


def test_a_learned_projection_repairs_a_block_that_changes_shape() -> None:
    with fresh_layer_names():
        base = resnet()
    trial = module_trial("conv2_block3_out", "conv3_block1_out")
    ablated = ModelRecipe(resnet, shape_strategy="project").build(trial)
    projection = ablated.get_layer("conv3_block1_out_projection")
    assert isinstance(projection, keras.layers.Conv2D)
    assert projection.strides == (2, 2) and projection.filters == 512
    module = expected_module(base, "conv2_block3_out", "conv3_block1_out")
    names = {layer.name for layer in ablated.layers}
    assert names == {layer.name for layer in base.layers} - module | {projection.name}
    for layer in ablated.layers:  # the rest of the graph keeps its shapes
        if layer.name in {layer.name for layer in base.layers}:
            assert layer.output.shape == base.get_layer(layer.name).output.shape, layer.name
    assert tuple(ablated(np.zeros((1, 32, 32, 3), dtype=np.float32)).shape) == (1, 10)


def test_pretrained_weights_survive_a_module_removal() -> None:
    def marked() -> Any:
        model = mobilenet()
        conv = model.get_layer("Conv1")
        conv.set_weights([np.full(w.shape, 0.5, dtype=w.dtype) for w in conv.get_weights()])
        return model

    ablated = ModelRecipe(marked).build(module_trial("block_1_project_BN", "block_2_add"))
    assert all((w == 0.5).all() for w in ablated.get_layer("Conv1").get_weights())
