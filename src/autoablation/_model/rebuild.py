"""Rebuilding a model from an edited config, and saying why when Keras cannot.

Keras' own error names neither the layer nor the reason a trial changed its shapes; a failed
rebuild is replayed layer by layer (`locate_clash`) and the message says which layer clashes,
what made its input change (a removal, or a feature that left the input narrower) and what to
do about it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from autoablation._core.errors import ModelSurgeryError
from autoablation._model.names import fresh_layer_names
from autoablation._model.shapes import Clash, error_line, locate_clash
from autoablation._model.surgery import Config, is_functional, layer_name

_UNKNOWN_OBJECT = ("Could not locate", "Unknown ", "could not be deserialized")


@dataclass(frozen=True)
class Narrowed:
    """A trial's input is narrower than the base model's because it removes features.

    Attributes:
        base_width: Feature columns of the full data.
        width: Feature columns the trial keeps.
        features: The features the trial removes.
    """

    base_width: int
    width: int
    features: tuple[str, ...]

    def describe(self) -> str:
        """``the input is 3 columns wide instead of 4, because the trial removes feature 'x'``."""
        names = ", ".join(repr(f) for f in self.features)
        plural = "s" if len(self.features) > 1 else ""
        return (
            f"the input is {self.width} columns wide instead of {self.base_width}, because the "
            f"trial removes feature{plural} {names}"
        )


def rebuild(
    config: Config,
    custom_objects: dict[str, Any],
    entry: str,
    *,
    hint: str = "",
    narrowed: Narrowed | None = None,
) -> Any:
    """Build a model from an edited config; a failure names the layer whose inputs clash.

    Args:
        config: The edited, normalised config.
        custom_objects: Custom classes and live functions (see `autoablation._model.live`).
        entry: The trial and its declaration, opening every message.
        hint: Appended to a clash caused by a removal (how to repair it).
        narrowed: Set when the clash can only come from a narrower input (a feature trial):
            the message then blames the feature and suggests a shape that follows the input.

    Raises:
        ModelSurgeryError: Keras cannot build the config.
    """
    import keras

    model_class = keras.Model if is_functional(config) else keras.Sequential
    try:
        with fresh_layer_names():
            # from_config pops keys out of the dict it is given; keep ours for the diagnosis
            return model_class.from_config(copy.deepcopy(config), custom_objects=custom_objects)
    except Exception as exc:
        with fresh_layer_names():
            clash = locate_clash(config, custom_objects)
        raise ModelSurgeryError(_message(config, entry, exc, clash, hint, narrowed)) from exc


def _message(
    config: Config,
    entry: str,
    exc: Exception,
    clash: Clash | None,
    hint: str,
    narrowed: Narrowed | None,
) -> str:
    if clash is not None and narrowed is not None:
        return f"{entry}: {narrowed.describe()}; {clash.describe()}; {_follow_input(config, clash)}"
    if clash is not None:
        return f"{entry}: after the removal, {clash.describe()}{hint}"
    reason = error_line(exc)
    advice = ""
    if any(marker in reason for marker in _UNKNOWN_OBJECT):
        advice = (
            "; a custom layer needs a get_config() that returns its constructor's arguments, "
            "and a custom function or object inside a layer's config (an activation, an "
            "initializer) must be registered with @keras.saving.register_keras_serializable() "
            "in a module every executor can import"
        )
    rebuilt = "the trial's model cannot be rebuilt from the base model's config"
    return f"{entry}: {rebuilt}: {reason}{advice}"


def _follow_input(config: Config, clash: Clash) -> str:
    """How to make the clashing layer follow a narrower input."""
    entry = next((e for e in config["layers"] if layer_name(e) == clash.layer), None)
    target = (entry or {}).get("config", {}).get("target_shape")
    if clash.kind == "Reshape" and isinstance(target, list) and target:
        fixed = tuple(target)
        suggested = (-1, *target[1:])
        return (
            f"its target shape {fixed} is fixed to the full input; write "
            f"keras.layers.Reshape({suggested}) so that it follows the input (-1 takes the size "
            "that is left), or leave this feature out of the study"
        )
    return (
        "give that layer a shape that follows its input instead of one fixed to the number of "
        "features, or leave this feature out of the study"
    )
