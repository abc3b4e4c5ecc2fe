"""Building a trial's model: the base model generator, then surgery, then a rebuild.

The same code runs on the driver (to validate every trial before launch) and on executors (as
the ``model_function`` handed to the training function), so both see the same model. Keras is
imported only when a model is built.
"""

from __future__ import annotations

import collections
import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from autoablation._core.errors import ModelSurgeryError, StudyError
from autoablation._core.trial import Component, Trial
from autoablation._model.shapes import Projections, locate_clash
from autoablation._model.surgery import (
    is_functional,
    layer_names,
    normalize_config,
    remove_layers,
    set_input_width,
)

ModelGenerator = Callable[[], Any]

_models_built = 0


def models_built() -> int:
    """How many trial models this process has built (the worker frees memory after one)."""
    return _models_built


@contextlib.contextmanager
def fresh_layer_names() -> Iterator[None]:
    """Auto-generate layer names as a fresh Python process would (``dense``, ``dense_1``...).

    Keras numbers unnamed layers with a per-thread counter. Building the base model inside this
    context makes ``max_pooling2d_1`` name the same layer on the driver and on every executor,
    however many models the process built before; the caller's counter is restored afterwards.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a Keras without this private module: names depend on history
        yield
        return
    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def _custom_objects(model: Any) -> dict[str, Any]:
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


def call_base_generator(generator: ModelGenerator) -> Any:
    """Call the base model generator with fresh layer names and check it returns a model.

    Raises:
        StudyError: The generator raised or returned something other than a ``keras.Model``.
    """
    import keras

    try:
        with fresh_layer_names():
            model = generator()
    except Exception as exc:
        raise StudyError(f"the base model generator raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, keras.Model):
        raise StudyError(
            "the base model generator must return a keras.Model; "
            f"it returned {type(model).__name__}"
        )
    return model


def _declaration(component: Component) -> str:
    """How the study declared a model component, e.g. ``layers.include('dense_1')``."""
    if component.custom_model is not None:
        return f"model.add_custom_model_generator(..., {component.custom_model!r})"
    if component.modules:
        return "; ".join(f"model.add_module({a!r}, {b!r})" for a, b in component.modules)
    if component.prefixes:
        return f"layers.include_groups(prefix={component.prefixes[0]!r})"
    if len(component.layers) > 1:
        return f"layers.include_groups({list(component.layers)!r})"
    return f"layers.include({component.layers[0]!r})"


def entry_of(trial: Trial) -> str:
    parts = [_declaration(c) for c in trial.removed if c.removes_model_parts or c.custom_model]
    return f"trial {trial.label!r} ({'; '.join(parts)})" if parts else f"trial {trial.label!r}"


def build_trial_model(
    generator: ModelGenerator,
    trial: Trial,
    *,
    base_width: int | None = None,
    width: int | None = None,
    custom_models: Mapping[str, ModelGenerator] | None = None,
    shape_strategy: str = "error",
) -> Any:
    """Return the uncompiled model of ``trial``.

    Args:
        generator: The study's base model generator.
        trial: What to remove (or which custom model to train).
        base_width: Number of feature columns in the full data, when the default dataset
            generator feeds the model.
        width: Number of feature columns this trial's data keeps.
        custom_models: The study's custom model generators by identifier.
        shape_strategy: ``"error"`` or ``"project"`` (see ``set_shape_strategy``).

    Raises:
        StudyError: A generator failed or returned no model.
        UnknownComponentError: A removed layer or module bound does not exist.
        ModelSurgeryError: The removal cannot give a model Keras can build.
    """
    global _models_built
    _models_built += 1
    if trial.custom_model is not None:
        custom = (custom_models or {}).get(trial.custom_model)
        if custom is None:
            raise StudyError(f"{entry_of(trial)}: no custom model {trial.custom_model!r}")
        generator = custom
    model = call_base_generator(generator)
    removes = trial.removes_model_parts
    resize = base_width is not None and width is not None and width != base_width
    if not removes and not resize:
        return model
    entry = entry_of(trial)
    try:
        raw_config = model.get_config()
    except NotImplementedError as exc:
        raise ModelSurgeryError(
            f"{entry}: the base model ({type(model).__name__}) has no config, so it "
            "cannot be rebuilt without a component; use a Sequential or functional keras.Model"
        ) from exc
    config = normalize_config(raw_config)
    custom_objects = _custom_objects(model)
    if resize:
        assert base_width is not None and width is not None
        config = set_input_width(config, base_width, width)
    if removes:
        adapter = None
        if shape_strategy == "project":
            reference = _rebuild(config, custom_objects, entry)  # shapes before the removals
            adapter = Projections(reference, entry, set(layer_names(config)))
        config = remove_layers(
            config,
            trial.removed_layers,
            prefixes=trial.removed_prefixes,
            modules=trial.removed_modules,
            entry=entry,
            adapter=adapter,
        )
    rebuilt = _rebuild(config, custom_objects, entry, shape_strategy)
    _carry_weights(model, rebuilt)
    return rebuilt


def _rebuild(
    config: dict[str, Any], custom_objects: dict[str, Any], entry: str, strategy: str = "error"
) -> Any:
    """Build a model from an edited config; a failure names the layer whose inputs clash."""
    import keras

    model_class = keras.Model if is_functional(config) else keras.Sequential
    try:
        with fresh_layer_names():
            # from_config pops keys out of the dict it is given; keep ours for the diagnosis
            return model_class.from_config(copy.deepcopy(config), custom_objects=custom_objects)
    except Exception as exc:
        with fresh_layer_names():
            clash = locate_clash(config, custom_objects)
        if clash is not None:
            hint = (
                "; declare study.model.set_shape_strategy('project') to insert a learned "
                "projection instead"
                if strategy == "error"
                else ""
            )
            raise ModelSurgeryError(
                f"{entry}: after the removal, {clash.describe()}{hint}"
            ) from exc
        raise ModelSurgeryError(
            f"{entry}: the removal leaves a model Keras cannot build: {str(exc).strip()}"
        ) from exc


def _carry_weights(base: Any, rebuilt: Any) -> None:
    """Give each surviving layer the base model's weights where their shapes still match.

    Pretrained weights therefore survive a removal, and with random initialisation the layers
    a trial keeps start where the base trial's do. A layer whose input changed keeps its own
    fresh weights.
    """
    source = {layer.name: layer for layer in getattr(base, "layers", [])}
    for layer in getattr(rebuilt, "layers", []):
        old = source.get(layer.name)
        if old is None or not layer.weights:
            continue
        weights = old.get_weights()
        if [w.shape for w in weights] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(weights)


@dataclass(frozen=True)
class ModelRecipe:
    """How to build any trial's model; travels to executors in the Spark task closure.

    Attributes:
        generator: The study's base model generator.
        custom_models: Custom model generators by identifier.
        shape_strategy: ``"error"`` or ``"project"``.
    """

    generator: ModelGenerator
    custom_models: Mapping[str, ModelGenerator] = field(default_factory=dict)
    shape_strategy: str = "error"

    def build(
        self, trial: Trial, *, base_width: int | None = None, width: int | None = None
    ) -> Any:
        """Build the trial's uncompiled model (see `build_trial_model`)."""
        return build_trial_model(
            self.generator,
            trial,
            base_width=base_width,
            width=width,
            custom_models=self.custom_models,
            shape_strategy=self.shape_strategy,
        )
