"""Model surgery on Keras 3 model configs: remove layers, resize the input.

Everything here edits plain JSON-compatible dicts (the output of ``model.get_config()`` after a
JSON round trip); nothing imports Keras. `autoablation._model.build` rebuilds a model from the
edited config, on the driver to validate and on executors to train.

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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from autoablation._core.errors import ModelSurgeryError, UnknownComponentError
from autoablation._core.names import did_you_mean

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


Adapter = Callable[[str, History], "Config | None"]
"""Given a replaced layer and the tensor now feeding its consumers, return a layer entry to
insert between them (``module``/``class_name``/``config``), or None when none is needed."""


def nested_layers(config: Config) -> dict[str, tuple[str, ...]]:
    """Layers of nested models, each with the path of models it sits in (outermost first).

    A nested model is a layer of the base model whose own config holds a layer list (a
    ``keras.Model`` called as a layer); its layers are not layers of the base model.
    """
    found: dict[str, tuple[str, ...]] = {}

    def walk(layers: list[Any], path: tuple[str, ...]) -> None:
        for entry in layers:
            inner = entry.get("config", {}).get("layers") if isinstance(entry, dict) else None
            if isinstance(inner, list):
                outer = (*path, layer_name(entry))
                for member in inner:
                    found.setdefault(layer_name(member), outer)
                walk(inner, outer)

    walk(config["layers"], ())
    return found


def _unknown(config: Config, name: str, entry: str) -> UnknownComponentError:
    names = layer_names(config)
    path = nested_layers(config).get(name)
    if path is not None:
        where = " > ".join(repr(p) for p in path)
        return UnknownComponentError(
            f"{entry}: layer {name!r} sits inside the nested model {where}, not in the base "
            f"model itself, so it cannot be removed on its own; remove the nested model as a "
            f"whole with study.model.layers.include({path[0]!r}), or build the base model "
            f"without nesting {path[-1]!r} to remove its layers one by one"
        )
    return UnknownComponentError(
        f"{entry}: layer {name!r} not found in the base model{did_you_mean(name, names)} "
        f"(its layers are: {', '.join(names)})"
    )


def _check_removable(config: Config, name: str, entry: str) -> None:
    if name not in layer_names(config):
        raise _unknown(config, name, entry)
    if name in input_layer_names(config):
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} is the model's input; it cannot be removed"
        )
    if name in output_layer_names(config):
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} is an output layer of the model; it cannot be removed"
        )


def _sources(entry: Config) -> list[str]:
    """Names of the layers whose outputs a functional layer entry reads."""
    return [str(h[0]) for h in _histories(entry.get("inbound_nodes", []))]


def _check_single_output(config: Config, name: str, entry: str) -> None:
    used = {
        (history[1], history[2])
        for layer in config["layers"]
        for history in _histories(layer.get("inbound_nodes", []))
        if history[0] == name
    }
    if used - {(0, 0)}:
        outputs = ", ".join(f"output {t} of call {n}" for n, t in sorted(used))
        raise ModelSurgeryError(
            f"{entry}: layer {name!r} has several outputs in use ({outputs}); only a "
            "single-output layer can be bypassed by wiring its input to its consumers"
        )


def _tensors(node: Any) -> Iterator[Config]:
    """Yield every serialised tensor reference (``__keras_tensor__`` dict) inside ``node``."""
    if isinstance(node, dict):
        if node.get("class_name") == _TENSOR:
            yield node
            return
        for value in node.values():
            yield from _tensors(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tensors(value)


def _rewire(config: Config, replaced: str, source: Config, adapter: Adapter | None) -> None:
    """Point every reference to ``replaced``'s output at the ``source`` tensor (or an adapter)."""
    history = list(source["config"]["keras_history"])
    target = history
    inserted = adapter(replaced, history) if adapter is not None else None
    if inserted is not None:
        name = inserted["config"]["name"]
        node = {"args": [copy.deepcopy(source)], "kwargs": {}}
        config["layers"].append({**inserted, "name": name, "inbound_nodes": [node]})
        target = [name, 0, 0]
    for layer in config["layers"]:
        for history in _histories(layer.get("inbound_nodes", [])):
            if history[0] == replaced:
                history[:] = target
    config["output_layers"] = _replace_endpoint(config["output_layers"], replaced, target)


class _Surgery:
    """Removals on one functional config, remembering what stands in for each removed layer.

    Removals of one trial may chain (module ``a..b`` then ``b..c``) or overlap (a module and a
    layer inside it): a name an earlier removal took out resolves to the layer now feeding its
    consumers, so the result does not depend on the order of declaration.
    """

    def __init__(self, config: Config, entry: str, adapter: Adapter | None) -> None:
        self.config = config
        self.entry = entry
        self.adapter = adapter
        self.aliases: dict[str, str] = {}

    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def bypass(self, name: str) -> None:
        """Remove one single-input layer, wiring its input to its consumers."""
        if name in self.aliases:
            return  # an earlier removal of this trial took it out
        config, entry = self.config, self.entry
        _check_removable(config, name, entry)
        layers = config["layers"]
        index = layer_names(config).index(name)
        nodes = layers[index].get("inbound_nodes", [])
        if len(nodes) != 1:
            raise ModelSurgeryError(
                f"{entry}: layer {name!r} is called {len(nodes)} times in the graph (a shared "
                "layer), so no single input can stand in for its output; remove the part of "
                "the graph that calls it instead, with study.model.add_module(start, end): "
                "every layer after `start` up to `end`, every call included"
            )
        sources = list(_tensors(nodes[0]))
        if len(sources) != 1:
            inputs = ", ".join(str(t["config"]["keras_history"][0]) for t in sources)
            raise ModelSurgeryError(
                f"{entry}: layer {name!r} takes {len(sources)} inputs ({inputs}); only a "
                "single-input layer can be bypassed (remove a block with model.add_module)"
            )
        _check_single_output(config, name, entry)
        del layers[index]
        self.aliases[name] = str(sources[0]["config"]["keras_history"][0])
        _rewire(config, name, sources[0], self.adapter)

    def remove_module(self, start: str, end: str) -> None:
        """Remove a module; see `module_layers`."""
        if end in self.aliases:
            return  # an earlier, larger removal of this trial took its end out already
        config, entry = self.config, self.entry
        start = self.resolve(start)
        members = module_layers(config, start, end, entry=entry)
        _check_single_output(config, end, entry)
        starts = {
            tuple(t["config"]["keras_history"]): t
            for e in config["layers"]
            if layer_name(e) in members
            for t in _tensors(e.get("inbound_nodes", []))
            if t["config"]["keras_history"][0] == start
        }
        if len(starts) != 1:
            raise ModelSurgeryError(
                f"{entry}: the module reads {len(starts)} different outputs of {start!r}; "
                "it must read exactly one"
            )
        (source,) = starts.values()
        config["layers"] = [e for e in config["layers"] if layer_name(e) not in members]
        for member in members:
            self.aliases[member] = start
        _rewire(config, end, source, self.adapter)


def _remove_sequential(
    config: Config, names: Iterable[str], entry: str, adapter: Adapter | None
) -> None:
    """Drop entries from a Sequential stack; each contiguous run may become one adapter."""
    removed = set(names)
    for name in removed:
        _check_removable(config, name, entry)
    kept: list[Config] = []
    run: list[str] = []
    for item in [*config["layers"], None]:
        current = layer_name(item) if item is not None else None
        if current is not None and current in removed:
            run.append(current)
            continue
        if run and adapter is not None and kept:
            inserted = adapter(run[-1], [layer_name(kept[-1]), 0, 0])
            if inserted is not None:
                kept.append(inserted)
        run = []
        if item is not None:
            kept.append(item)
    config["layers"] = kept


def module_layers(config: Config, start: str, end: str, *, entry: str = "module") -> list[str]:
    """The layers of the module from ``start`` (excluded) to ``end`` (included), in order.

    Raises:
        UnknownComponentError: A bound is not a layer of the model.
        ModelSurgeryError: ``start`` does not lead to ``end``, or layers outside the module
            feed into it or read from inside it.
    """
    names = layer_names(config)
    for bound in (start, end):
        if bound not in names:
            raise _unknown(config, bound, entry)
    if not is_functional(config):
        i, j = names.index(start), names.index(end)
        if i >= j:
            raise ModelSurgeryError(f"{entry}: {start!r} does not come before {end!r} in the model")
        if names[j] in output_layer_names(config):
            raise ModelSurgeryError(f"{entry}: {end!r} is the model's output layer")
        return names[i + 1 : j + 1]
    inbound = {layer_name(e): _sources(e) for e in config["layers"]}
    consumers: dict[str, set[str]] = {n: set() for n in names}
    for layer, sources in inbound.items():
        for source in sources:
            consumers[source].add(layer)
    after_start = _reach(start, consumers)
    before_end = _reach(end, {n: set(s) for n, s in inbound.items()})
    if end not in after_start:
        raise ModelSurgeryError(
            f"{entry}: {start!r} is not an ancestor of {end!r}, so there is no module between them"
        )
    module = (after_start & before_end) | {end}
    outputs = set(output_layer_names(config))
    if end in outputs:
        raise ModelSurgeryError(
            f"{entry}: {end!r} is an output layer of the model; a module cannot end there"
        )
    for layer in module:
        for source in inbound[layer]:
            if source not in module and source != start:
                raise ModelSurgeryError(
                    f"{entry}: layer {layer!r} inside the module takes input from {source!r}, "
                    "which is outside it; a module may only read from its start layer"
                )
        if layer == end:
            continue
        escaping = sorted(consumers[layer] - module)
        if escaping or layer in outputs:
            reader = f"layer {escaping[0]!r}" if escaping else "the model's outputs"
            raise ModelSurgeryError(
                f"{entry}: layer {layer!r} inside the module feeds {reader} outside it; only "
                f"the end layer {end!r} may be read from outside"
            )
    return [n for n in names if n in module]


def _reach(origin: str, edges: dict[str, set[str]]) -> set[str]:
    """Every node reachable from ``origin`` along ``edges`` (``origin`` excluded)."""
    seen: set[str] = set()
    stack = list(edges.get(origin, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


def prefix_layers(config: Config, prefix: str, *, entry: str = "prefix") -> list[str]:
    """Layers whose name starts with ``prefix``, the model's inputs and outputs excepted.

    Raises:
        UnknownComponentError: No removable layer matches.
    """
    protected = set(input_layer_names(config)) | set(output_layer_names(config))
    names = layer_names(config)
    matches = [n for n in names if n.startswith(prefix) and n not in protected]
    if not matches:
        nested = sorted(
            {path[0] for n, path in nested_layers(config).items() if n.startswith(prefix)}
        )
        inside = (
            f"; layers of the nested model(s) {', '.join(map(repr, nested))} match it, but they "
            "can only be removed with their nested model"
            if nested
            else did_you_mean(prefix, [n for n in names if n not in protected])
        )
        raise UnknownComponentError(
            f"{entry}: no layer that can be removed starts with {prefix!r}{inside} "
            f"(the model's layers are: {', '.join(names)})"
        )
    return matches


def removed_layer_names(
    config: Config,
    names: Iterable[str] = (),
    *,
    prefixes: Iterable[str] = (),
    modules: Iterable[tuple[str, str]] = (),
    entry: str = "layers",
) -> tuple[str, ...]:
    """Every layer the removal takes out, resolved against the model: modules, names, prefixes.

    Two declarations that resolve to the same layers (a prefix group and a list of the same
    layers) train the same model; this is what tells them apart or not.

    Raises:
        UnknownComponentError: A name or module bound is not a layer of the model, or a prefix
            matches none.
        ModelSurgeryError: A module that is not a module (see `module_layers`).
    """
    resolved: list[str] = [
        member
        for start, end in modules
        for member in module_layers(config, start, end, entry=entry)
    ]
    known = set(layer_names(config))
    for name in names:
        if name not in known:
            raise _unknown(config, name, entry)
        resolved.append(name)
    for prefix in prefixes:
        resolved += prefix_layers(config, prefix, entry=entry)
    return tuple(dict.fromkeys(resolved))


def remove_layers(
    config: Config,
    names: Iterable[str] = (),
    *,
    prefixes: Iterable[str] = (),
    modules: Iterable[tuple[str, str]] = (),
    entry: str = "layers",
    adapter: Adapter | None = None,
) -> Config:
    """Return a copy of ``config`` without the given modules, named layers and prefixed layers.

    Modules go first; a named or prefixed layer a module already removed is not removed twice.

    Args:
        config: A normalised model config (see `normalize_config`).
        names: Layers to remove by name.
        prefixes: Remove every layer whose name starts with one of these.
        modules: ``(start, end)`` pairs; see `module_layers`.
        entry: How the study declared them, used to open error messages.
        adapter: Inserts a layer where a removal would change the shape consumers receive.

    Raises:
        UnknownComponentError: A name is not a layer of the model.
        ModelSurgeryError: A removal the graph cannot take (input or output layer, shared or
            multi-input or multi-output layer, a module with outside connections).
    """
    result = copy.deepcopy(config)
    original = layer_names(config)
    modules = list(modules)
    wanted = list(names)
    for name in [*wanted, *(bound for module in modules for bound in module)]:
        if name not in original:
            raise _unknown(config, name, entry)
    for prefix in prefixes:
        wanted += prefix_layers(config, prefix, entry=entry)
    if not is_functional(result):
        inside = [
            m for start, end in modules for m in module_layers(config, start, end, entry=entry)
        ]
        _remove_sequential(result, dict.fromkeys([*inside, *wanted]), entry, adapter)
        return result
    surgery = _Surgery(result, entry, adapter)
    for start, end in modules:
        surgery.remove_module(start, end)
    for name in dict.fromkeys(wanted):
        surgery.bypass(name)
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
