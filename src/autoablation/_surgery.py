"""Model surgery on Keras 3 model configs: remove layers, resize the input.

Everything here edits plain JSON-compatible dicts (the output of ``model.get_config()`` after a
JSON round trip); nothing imports Keras. `autoablation._models` rebuilds a model from the edited
config, on the driver to validate and on executors to train.

Two config shapes are handled:
    * Sequential: ``{"layers": [{"class_name", "config": {"name", ...}}, ...]}``; removing a
      layer drops it from the list and the next layer takes its input.
    * Functional: every layer entry has ``"name"`` and ``"inbound_nodes"`` whose arguments
      reference tensors as ``{"class_name": "__keras_tensor__", "config": {"keras_history":
      [layer, node, index]}}``; a removed single-input layer is bypassed by pointing every
      reference to its output at its input.

Keras 3 stores each layer's built input shape (``build_config``) and the Sequential model's
``build_input_shape``; both pin the old shapes, so `normalize_config` drops the former and
`set_input_width` rewrites the latter. Downstream layers then infer their shapes again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

from autoablation._exceptions import ModelSurgeryError, UnknownComponentError

Config = dict[str, Any]
History = list[Any]  # [layer_name, node_index, tensor_index]

_PINNED_KEYS = frozenset({"build_config", "compile_config"})
_TENSOR = "__keras_tensor__"


def normalize_config(config: Any) -> Config:
    """Return a JSON-normalised deep copy of a model config without pinned build shapes.

    Raises:
        ModelSurgeryError: The config is not JSON-serialisable (a custom layer returning
            arbitrary objects from ``get_config``).
    """
    try:
        plain = json.loads(json.dumps(config))
    except (TypeError, ValueError) as exc:
        raise ModelSurgeryError(
            f"the base model's config cannot be written as JSON, so its layers cannot be "
            f"removed: {exc}"
        ) from exc

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in _PINNED_KEYS}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    result = strip(plain)
    if not isinstance(result, dict) or not isinstance(result.get("layers"), list):
        raise ModelSurgeryError(
            "the base model has no layer list in its config; layer ablation needs a "
            "Sequential or functional keras.Model"
        )
    return result


def is_functional(config: Config) -> bool:
    """Whether a config describes a functional graph (as opposed to a Sequential stack)."""
    return "input_layers" in config and "output_layers" in config


def layer_name(entry: Config) -> str:
    """The name of a layer entry in either config shape."""
    return str(entry.get("name") or entry.get("config", {}).get("name"))


def layer_names(config: Config) -> list[str]:
    """Every layer's name, in config order."""
    return [layer_name(entry) for entry in config["layers"]]


def _histories(node: Any) -> Iterator[History]:
    """Yield every tensor reference (``keras_history`` list) inside ``node``."""
    if isinstance(node, dict):
        if node.get("class_name") == _TENSOR:
            yield node["config"]["keras_history"]
            return
        for value in node.values():
            yield from _histories(value)
    elif isinstance(node, list):
        for value in node:
            yield from _histories(value)


def _endpoint_names(spec: Any) -> set[str]:
    """Layer names in an ``input_layers``/``output_layers`` spec (leaf, list or dict)."""
    if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
        return {spec[0]}
    if isinstance(spec, dict):
        return set().union(*(_endpoint_names(v) for v in spec.values())) if spec else set()
    if isinstance(spec, list):
        return set().union(*(_endpoint_names(v) for v in spec)) if spec else set()
    return set()


def _replace_endpoint(spec: Any, old: str, new: History) -> Any:
    if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
        return list(new) if spec[0] == old else spec
    if isinstance(spec, dict):
        return {k: _replace_endpoint(v, old, new) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_replace_endpoint(v, old, new) for v in spec]
    return spec


def input_layer_names(config: Config) -> list[str]:
    """Names of the layers that feed data into the model."""
    if is_functional(config):
        return sorted(_endpoint_names(config["input_layers"]))
    return [layer_name(e) for e in config["layers"][:1] if e.get("class_name") == "InputLayer"]


def output_layer_names(config: Config) -> list[str]:
    """Names of the layers whose outputs the model returns."""
    if is_functional(config):
        return sorted(_endpoint_names(config["output_layers"]))
    return [layer_name(config["layers"][-1])] if config["layers"] else []


def _check_removable(config: Config, name: str, entry: str) -> None:
    names = layer_names(config)
    if name not in names:
        raise UnknownComponentError(
            f"{entry}: layer {name!r} not found in the base model; "
            f"its layers are: {', '.join(names)}"
        )
    if name in input_layer_names(config):
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} is the model's input; it cannot be removed"
        )
    if name in output_layer_names(config):
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} is an output layer of the model; it cannot be removed"
        )


def _bypass_functional(config: Config, name: str, entry: str) -> None:
    """Remove one single-input layer from a functional config, wiring its input through."""
    layers = config["layers"]
    index = layer_names(config).index(name)
    nodes = layers[index].get("inbound_nodes", [])
    if len(nodes) != 1:
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} is called {len(nodes)} times in the graph (a shared "
            "layer); only a layer called once can be removed"
        )
    sources = list(_histories(nodes[0]))
    if len(sources) != 1:
        inputs = ", ".join(str(h[0]) for h in sources)
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} takes {len(sources)} inputs ({inputs}); only a "
            "single-input layer can be bypassed by wiring its input to its consumers"
        )
    used = {
        (history[1], history[2])
        for layer in layers
        for history in _histories(layer.get("inbound_nodes", []))
        if history[0] == name
    }
    if used - {(0, 0)}:
        outputs = ", ".join(f"output {t} of call {n}" for n, t in sorted(used))
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} has several outputs in use ({outputs}); only a "
            "single-output layer can be bypassed by wiring its input to its consumers"
        )
    source = list(sources[0])
    del layers[index]
    for layer in layers:
        for history in _histories(layer.get("inbound_nodes", [])):
            if history[0] == name:
                history[:] = source
    config["output_layers"] = _replace_endpoint(config["output_layers"], name, source)


def remove_layers(config: Config, names: Iterable[str], *, entry: str = "layers") -> Config:
    """Return a copy of ``config`` without the named layers.

    Args:
        config: A normalised model config (see `normalize_config`).
        names: Layers to remove.
        entry: How the study declared them, used to open error messages.

    Raises:
        UnknownComponentError: A name is not a layer of the model.
        ModelSurgeryError: A layer is an input or output layer, is shared, or takes several
            inputs in a functional graph.
    """
    result = copy.deepcopy(config)
    for name in names:
        _check_removable(result, name, entry)
        if is_functional(result):
            _bypass_functional(result, name, entry)
        else:
            result["layers"] = [e for e in result["layers"] if layer_name(e) != name]
    return result


def _shape_key(layer_config: Config) -> str | None:
    for key in ("batch_shape", "batch_input_shape"):
        if isinstance(layer_config.get(key), list):
            return key
    return None


def declared_input_shapes(config: Config) -> list[list[int | None]]:
    """The batch shapes the model declares for its inputs (empty when it declares none)."""
    shapes: list[list[int | None]] = []
    wanted = set(input_layer_names(config))
    for entry in config["layers"]:
        if layer_name(entry) in wanted:
            key = _shape_key(entry["config"])
            if key:
                shapes.append(entry["config"][key])
    if not shapes and isinstance(config.get("build_input_shape"), list):
        shapes.append(config["build_input_shape"])
    return shapes


def set_input_width(config: Config, old_width: int, new_width: int) -> Config:
    """Return a copy whose single flat input of width ``old_width`` takes ``new_width``.

    Used for feature trials: the model's input follows the data, and the layers after it infer
    their shapes again. A model that declares no input shape is returned unchanged.

    Raises:
        ModelSurgeryError: The model has several inputs, or its input is not a flat vector of
            ``old_width`` features.
    """
    result = copy.deepcopy(config)
    wanted = set(input_layer_names(result))
    targets: list[list[int | None]] = []
    for entry in result["layers"]:
        if layer_name(entry) in wanted:
            key = _shape_key(entry["config"])
            if key:
                targets.append(entry["config"][key])
    if isinstance(result.get("build_input_shape"), list):
        targets.append(result["build_input_shape"])
    if not targets:
        return result
    if len(wanted) > 1:
        raise ModelSurgeryError(
            f"the base model has {len(wanted)} inputs; the default dataset generator feeds one "
            "feature matrix, so feature trials need a single-input model"
        )
    for shape in targets:
        if len(shape) != 2 or shape[-1] != old_width:
            raise ModelSurgeryError(
                f"the base model's input shape is {tuple(shape)}, but the study's data has "
                f"{old_width} feature columns; declare keras.Input(shape=({old_width},))"
            )
        shape[-1] = new_width
    return result
