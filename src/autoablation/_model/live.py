"""What a rebuild takes from the live base model: its custom classes and its Lambda functions.

A trial's model is rebuilt from the base model's config, and a config holds names, not code.
Two kinds of code must come from the model the user's generator has just built, in this very
process:

* **Custom classes** (any layer class outside Keras, and the class of a custom object a layer
  keeps under its config's key, such as ``Dense.kernel_initializer``): handed to
  ``from_config`` as ``custom_objects``, so they need no registration; they still need a
  ``get_config`` that returns their constructor's arguments.
* **Python functions in a layer's config**: a Lambda layer's ``function`` (and callable
  ``output_shape`` or ``mask``), a custom ``activation``. Keras writes a Python lambda into the
  config as marshalled bytecode and refuses to load it back in safe mode, and a named function
  as a name that another process may not find (a notebook's ``__main__``, a function local to
  the generator). Neither is loaded here: each such entry of the config is replaced by a
  reference to the live layer's function object (kept under the same name as the config's
  key), which ``custom_objects`` resolves. The rebuilt layer calls the very function the user's
  generator created, with its own globals and closure; no code is read back from bytes, so
  Keras' safe mode stays on.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

from autoablation._model.configs import model_config
from autoablation._model.surgery import Config, layer_name, normalize_config

_ATTRIBUTES: dict[str, str] = {"output_shape": "_output_shape"}
"""Config keys whose function the live layer keeps under another attribute (Lambda's)."""
_FUNCTIONS = frozenset({"function", "__lambda__"})
"""The ``class_name`` of a Python function serialised in a layer's config."""
REFERENCE_PREFIX = "autoablation>live"


@dataclass
class LiveModel:
    """The base model's config, ready to edit, with the code a rebuild needs from the model.

    Attributes:
        config: The normalised config (see `normalize_config`), Lambda functions referenced.
        custom_objects: Custom layer classes and the referenced live functions, by name.
    """

    config: Config
    custom_objects: dict[str, Any] = field(default_factory=dict)


def live_model(model: Any) -> LiveModel:
    """Read ``model``'s config and the code a rebuild of it needs.

    Raises:
        NotImplementedError: The model has no config (a subclassed model).
        ModelSurgeryError: The config cannot be written as JSON.
    """
    raw = model_config(model)
    objects = _custom_classes(model)
    if isinstance(raw, dict) and isinstance(raw.get("layers"), list):
        _reference_functions(raw["layers"], model, objects, "")
    return LiveModel(normalize_config(raw), objects)


def _custom_classes(model: Any) -> dict[str, Any]:
    """Classes of the model's non-Keras layers, so ``from_config`` can find them."""
    import keras

    found: dict[str, Any] = {}
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        cls = type(layer)
        if not cls.__module__.startswith("keras"):
            found[cls.__name__] = cls
            found[keras.saving.get_registered_name(cls)] = cls
        stack.extend(getattr(layer, "layers", []))
    return found


def _reference_functions(
    entries: list[Any], model: Any, objects: dict[str, Any], path: str
) -> None:
    """Replace each Python function in ``entries``' configs by a reference to the live one."""
    live = {layer.name: layer for layer in getattr(model, "layers", [])}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = layer_name(entry)
        layer = live.get(name)
        inner = entry.get("config")
        if layer is None or not isinstance(inner, dict):
            continue
        for key, value in list(inner.items()):
            if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
                continue
            live_value = getattr(layer, _ATTRIBUTES.get(str(key), str(key)), None)
            if value["class_name"] not in _FUNCTIONS:
                _add_class(objects, value, live_value)
                continue
            function = live_value
            if isinstance(function, types.FunctionType):
                reference = f"{REFERENCE_PREFIX}/{path}{name}/{key}"
                objects[reference] = function
                inner[key] = {
                    "module": None,
                    "class_name": "function",
                    "config": reference,
                    "registered_name": reference,
                }
        nested = inner.get("layers")
        if isinstance(nested, list):
            _reference_functions(nested, layer, objects, f"{path}{name}/")


def _add_class(objects: dict[str, Any], value: dict[str, Any], live_value: Any) -> None:
    """Hand the class of a custom object the layer holds (an initializer...) to the rebuild."""
    cls = type(live_value)
    if live_value is None or cls.__module__.split(".")[0] == "keras":
        return
    if cls.__name__ == value["class_name"]:
        objects[cls.__name__] = cls
        registered = value.get("registered_name")
        if isinstance(registered, str):
            objects[registered] = cls
