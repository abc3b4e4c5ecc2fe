"""Shape handling for model surgery: learned projections, and finding the layer that clashes.

When a removal makes a layer receive a tensor of another shape than before and the graph no
longer builds, the component's shape strategy decides: ``"error"`` refuses the trial, naming the
layer whose inputs no longer fit (`locate_clash` finds it); ``"project"`` inserts a learned
projection back to the shape the rest of the graph was built for (`Projections`), at the
removals that need one only. Channels-last tensors are assumed, as in Keras.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from autoablation._core.errors import ModelSurgeryError
from autoablation._model.configs import layer_config

Shape = tuple[int | None, ...]


def output_shape(model: Any, history: list[Any]) -> Shape | None:
    """The shape of output ``[layer, node, index]`` in a built model, or None if unknown."""
    name, node, index = history
    layer = next((x for x in getattr(model, "_layers", []) if x.name == name), None)
    if layer is None:
        try:
            layer = model.get_layer(name)
        except ValueError:
            return None
    nodes = getattr(layer, "_inbound_nodes", [])
    if node >= len(nodes) or index >= len(nodes[node].output_tensors):
        return None
    return tuple(nodes[node].output_tensors[index].shape)


def projection_layer(name: str, source: Shape, target: Shape, entry: str) -> Any:
    """A learned layer mapping tensors of shape ``source`` to ``target``.

    The same spatial size: a Dense layer on the last axis (a 1x1 convolution). A spatial size
    smaller by an integer factor: a 1x1 convolution with that stride.

    Raises:
        ModelSurgeryError: The ranks differ, or the spatial size would have to grow or shrink
            by different or non-integer factors.
    """
    import keras

    units = target[-1]
    if len(source) != len(target) or units is None:
        raise ModelSurgeryError(
            f"{entry}: cannot project shape {source} to {target}: the ranks differ"
        )
    spatial_from, spatial_to = source[1:-1], target[1:-1]
    if spatial_from == spatial_to:
        return keras.layers.Dense(units, name=name)
    factors = {
        (a // b if a and b and a % b == 0 and a >= b else None)
        for a, b in zip(spatial_from, spatial_to, strict=True)
    }
    convolutions = {3: keras.layers.Conv1D, 4: keras.layers.Conv2D, 5: keras.layers.Conv3D}
    factor = factors.pop() if len(factors) == 1 else None
    if factor is None or len(source) not in convolutions:
        raise ModelSurgeryError(
            f"{entry}: cannot project shape {source} to {target}: the spatial size would "
            "have to change by a non-integer factor or grow"
        )
    return convolutions[len(source)](units, 1, strides=factor, name=name)


@dataclass(frozen=True)
class Projection:
    """A learned projection a trial's model got where a removal left clashing shapes.

    Attributes:
        layer: The inserted layer's name (``<replaced>_projection``).
        replaces: The removed layer (or module end) whose output it stands in for.
        kind: Its class (``Dense``, ``Conv2D``...).
        source: The shape it receives.
        target: The shape it gives, the removed layer's.
    """

    layer: str
    replaces: str
    kind: str
    source: Shape
    target: Shape

    def describe(self) -> str:
        """``block_b_projection (Dense) in place of 'block_b': (None, 16) -> (None, 24)``."""
        return (
            f"{self.layer} ({self.kind}) in place of {self.replaces!r}: "
            f"{self.source} -> {self.target}"
        )


class Projections:
    """The ``"project"`` strategy as a surgery adapter.

    Shapes come from ``reference``: the model built from the config about to be edited (input
    already resized), so the node indices match the config's. Each projection inserted is
    remembered with its output shape, so later removals of the same trial that read from it
    see the graph as it is being edited.

    Args:
        reference: The model before the removals.
        entry: How the study declared the removals, for messages.
        taken: Layer names in use; each projection's name is added.
        only: Project only where one of these layers was removed (None: wherever a removal
            changes a shape).
    """

    def __init__(
        self,
        reference: Any,
        entry: str,
        taken: set[str],
        only: Collection[str] | None = None,
    ) -> None:
        self._reference = reference
        self._entry = entry
        self._taken = taken
        self._only = only
        self._inserted: dict[str, Shape] = {}
        self.inserted: list[Projection] = []
        """The projections inserted so far, in order."""

    def _shape(self, history: list[Any]) -> Shape | None:
        if history[0] in self._inserted:
            return self._inserted[history[0]]
        return output_shape(self._reference, history)

    def __call__(self, replaced: str, source: list[Any]) -> dict[str, Any] | None:
        """The projection to insert where ``source`` now feeds ``replaced``'s consumers."""
        if self._only is not None and replaced not in self._only:
            return None
        expected = self._shape([replaced, 0, 0])
        given = self._shape(source)
        if expected is None or given is None or expected == given:
            return None
        self._refuse_channels_first(replaced)
        name = f"{replaced}_projection"
        while name in self._taken:
            name += "_"
        self._taken.add(name)
        layer = projection_layer(name, given, expected, self._entry)
        self._inserted[name] = expected
        self.inserted.append(Projection(name, replaced, type(layer).__name__, given, expected))
        serialised: dict[str, Any] = json.loads(json.dumps(layer_config(layer)))
        return serialised

    def _refuse_channels_first(self, replaced: str) -> None:
        try:
            layer = self._reference.get_layer(replaced)
        except ValueError:
            return
        if getattr(layer, "data_format", None) == "channels_first":
            raise ModelSurgeryError(
                f"{self._entry}: layer {replaced!r} is channels-first; the 'project' shape "
                "strategy handles channels-last tensors only"
            )


@dataclass(frozen=True)
class Clash:
    """The first layer that could not be called while rebuilding a graph."""

    layer: str
    kind: str
    input_shapes: tuple[Shape, ...]
    error: str

    def describe(self) -> str:
        """``layer 'add' (Add) cannot take inputs of shapes (None, 8), (None, 4): ...``."""
        shapes = ", ".join(str(s) for s in self.input_shapes) or "its inputs"
        return (
            f"layer {self.layer!r} ({self.kind}) cannot take inputs of shapes {shapes}: "
            f"{self.error}"
        )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_line(exc: BaseException) -> str:
    """The line of a Keras error that says what went wrong, without terminal colour codes.

    Keras wraps a layer's error as ``Exception encountered when calling X.call().`` followed by
    the reason and the arguments; the reason is the line worth quoting.
    """
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    for line in lines:
        if not line.startswith(("Exception encountered when calling", "Arguments received")):
            return line
    return lines[0] if lines else repr(exc)


def locate_clash(config: dict[str, Any], custom_objects: dict[str, Any]) -> Clash | None:
    """Rebuild a functional config layer by layer and return the first layer that fails.

    Keras's own rebuild reports a shape error without the layer's name; this replays it one
    call at a time. It relies on Keras internals, so it returns None where they differ.
    """
    try:
        import keras
        from keras.src.models.functional import deserialize_node
        from keras.src.saving.serialization_lib import deserialize_keras_object
    except ImportError:
        return None
    if "input_layers" not in config:
        return None
    try:
        created = {
            entry["name"]: deserialize_keras_object(entry, custom_objects=custom_objects)
            for entry in config["layers"]
        }
    except Exception:
        return None
    pending = {entry["name"]: list(entry.get("inbound_nodes", [])) for entry in config["layers"]}
    progress = True
    while progress:
        progress = False
        for entry in config["layers"]:
            name = entry["name"]
            while pending[name]:
                try:
                    args, kwargs = deserialize_node(pending[name][0], created)
                except IndexError:
                    break  # an input is not built yet
                except Exception:
                    return None
                try:
                    created[name](*args, **kwargs)
                except Exception as exc:
                    tensors = keras.tree.flatten((args, kwargs))
                    shapes = tuple(tuple(t.shape) for t in tensors if hasattr(t, "shape"))
                    return Clash(name, type(created[name]).__name__, shapes, error_line(exc))
                pending[name].pop(0)
                progress = True
    return None
