"""Building a trial's model: the base model generator, then surgery, then a rebuild.

The same code runs on the driver (to validate every trial before launch) and on executors (as
the ``model_function`` handed to the training function), so both see the same model. Keras is
imported only when a model is built.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from autoablation._core.errors import ModelSurgeryError, StudyError
from autoablation._core.trial import Component, Trial
from autoablation._model.live import live_model
from autoablation._model.names import fresh_layer_names
from autoablation._model.rebuild import Narrowed, rebuild
from autoablation._model.repair import output_shapes, remove_with_repairs
from autoablation._model.shapes import Projection
from autoablation._model.surgery import set_input_width

ModelGenerator = Callable[[], Any]
RepairKey = tuple[Any, ...]
"""A configuration's model as far as repairs go: its ``Trial.model_key`` and input width."""

_models_built = 0


def models_built() -> int:
    """How many trial models this process has built (the worker frees memory after one)."""
    return _models_built


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


@dataclass(frozen=True)
class BuiltModel:
    """A trial's model and how it was made.

    Attributes:
        model: The uncompiled ``keras.Model``.
        projections: The learned projections it got where a removal could not build.
        rebuilt: Whether it was rebuilt from the base model's config (False: the generator's
            model itself, as the base trial and custom models get).
    """

    model: Any
    projections: tuple[Projection, ...] = ()
    rebuilt: bool = False


def build_trial(
    generator: ModelGenerator,
    trial: Trial,
    *,
    base_width: int | None = None,
    width: int | None = None,
    custom_models: Mapping[str, ModelGenerator] | None = None,
    shape_strategy: str = "error",
    repairs: Collection[str] | None = None,
) -> BuiltModel:
    """Build the uncompiled model of ``trial``, with what was done to it.

    Args:
        generator: The study's base model generator.
        trial: What to remove (or which custom model to train).
        base_width: Number of feature columns in the full data, when the default dataset
            generator feeds the model.
        width: Number of feature columns this trial's data keeps.
        custom_models: The study's custom model generators by identifier.
        shape_strategy: The study's default, ``"error"`` or ``"project"``, for components
            that declare none (see ``set_shape_strategy``).
        repairs: The removed layers that get a projection, as the driver decided; None to
            decide here (see `autoablation._model.repair`).

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
        return BuiltModel(model)
    entry = entry_of(trial)
    try:
        live = live_model(model)
    except NotImplementedError as exc:
        raise ModelSurgeryError(
            f"{entry}: the base model ({type(model).__name__}) has no config, so it "
            "cannot be rebuilt without a component; use a Sequential or functional keras.Model"
        ) from exc
    config = live.config
    narrowed = None
    if resize:
        assert base_width is not None and width is not None
        config = set_input_width(config, base_width, width)
        narrowed = Narrowed(base_width, width, trial.removed_features)
    projections: tuple[Projection, ...] = ()
    if removes:
        rebuilt, projections = remove_with_repairs(
            config,
            trial,
            live.custom_objects,
            entry,
            default_strategy=shape_strategy,
            outputs=output_shapes(model),
            narrowed=narrowed,
            decided=repairs,
        )
    else:
        rebuilt = rebuild(config, live.custom_objects, entry, narrowed=narrowed)
    _carry_weights(model, rebuilt)
    return BuiltModel(rebuilt, projections, rebuilt=True)


def build_trial_model(
    generator: ModelGenerator,
    trial: Trial,
    *,
    base_width: int | None = None,
    width: int | None = None,
    custom_models: Mapping[str, ModelGenerator] | None = None,
    shape_strategy: str = "error",
) -> Any:
    """Return the uncompiled model of ``trial`` (see `build_trial`)."""
    return build_trial(
        generator,
        trial,
        base_width=base_width,
        width=width,
        custom_models=custom_models,
        shape_strategy=shape_strategy,
    ).model


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
        shape_strategy: The study's default shape strategy, ``"error"`` or ``"project"``.
        repairs: For each configuration the driver checked (see `repair_key`), the removed
            layers that get a projection; executors build exactly that model.
    """

    generator: ModelGenerator
    custom_models: Mapping[str, ModelGenerator] = field(default_factory=dict)
    shape_strategy: str = "error"
    repairs: Mapping[RepairKey, tuple[str, ...]] = field(default_factory=dict)

    @staticmethod
    def repair_key(trial: Trial, width: int | None) -> RepairKey:
        """What decides a trial's repairs: its model components and its input width."""
        return (*trial.model_key, width)

    def build_trial(
        self, trial: Trial, *, base_width: int | None = None, width: int | None = None
    ) -> BuiltModel:
        """Build the trial's model with what was done to it (see `build_trial`)."""
        return build_trial(
            self.generator,
            trial,
            base_width=base_width,
            width=width,
            custom_models=self.custom_models,
            shape_strategy=self.shape_strategy,
            repairs=self.repairs.get(self.repair_key(trial, width)),
        )

    def build(
        self, trial: Trial, *, base_width: int | None = None, width: int | None = None
    ) -> Any:
        """Build the trial's uncompiled model (see `build_trial`)."""
        return self.build_trial(trial, base_width=base_width, width=width).model
