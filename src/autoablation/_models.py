"""Building a trial's model: the base model generator, then surgery, then a rebuild.

The same code runs on the driver (to validate every trial before launch) and on executors (as
the ``model_function`` handed to the training function), so both see the same model. Keras is
imported only when a model is built.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoablation._exceptions import ModelSurgeryError, StudyError
from autoablation._surgery import (
    is_functional,
    normalize_config,
    remove_layers,
    set_input_width,
)
from autoablation._trial import Trial

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


def _entry(trial: Trial) -> str:
    layers = ", ".join(repr(name) for name in trial.removed_layers)
    return (
        f"trial {trial.label!r} (layers.include({layers}))" if layers else f"trial {trial.label!r}"
    )


def build_trial_model(
    generator: ModelGenerator,
    trial: Trial,
    *,
    base_width: int | None = None,
    width: int | None = None,
) -> Any:
    """Return the uncompiled model of ``trial``.

    Args:
        generator: The study's base model generator.
        trial: What to remove.
        base_width: Number of feature columns in the full data, when the default dataset
            generator feeds the model.
        width: Number of feature columns this trial's data keeps.

    Raises:
        StudyError: The generator failed or returned no model.
        UnknownComponentError: A removed layer does not exist.
        ModelSurgeryError: The removal cannot give a model Keras can build.
    """
    import keras

    global _models_built
    _models_built += 1
    model = call_base_generator(generator)
    layers = trial.removed_layers
    resize = base_width is not None and width is not None and width != base_width
    if not layers and not resize:
        return model
    try:
        raw_config = model.get_config()
    except NotImplementedError as exc:
        raise ModelSurgeryError(
            f"{_entry(trial)}: the base model ({type(model).__name__}) has no config, so it "
            "cannot be rebuilt without a component; use a Sequential or functional keras.Model"
        ) from exc
    config = normalize_config(raw_config)
    if layers:
        config = remove_layers(config, layers, entry=_entry(trial))
    if resize:
        assert base_width is not None and width is not None
        config = set_input_width(config, base_width, width)
    model_class = keras.Model if is_functional(config) else keras.Sequential
    try:
        with fresh_layer_names():
            rebuilt = model_class.from_config(config, custom_objects=_custom_objects(model))
    except Exception as exc:
        removed = ", ".join(layers) or "no layer"
        raise ModelSurgeryError(
            f"{_entry(trial)}: removing {removed} leaves a model Keras cannot build: "
            f"{str(exc).strip()}"
        ) from exc
    _carry_weights(model, rebuilt)
    return rebuilt


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
class ModelCheck:
    """What the driver learnt by building a trial's model once."""

    trial_id: str
    params: int
    layer_names: tuple[str, ...]
    output_shapes: tuple[tuple[int | None, ...], ...] = ()


def _probe_inputs(model: Any, width: int | None) -> Any:
    """Zeros shaped like the model's inputs (or like the study's data)."""
    if width is not None:
        return np.zeros((2, width), dtype=np.float32)
    inputs = getattr(model, "inputs", None) or []
    arrays = [
        np.zeros((2, *[1 if d is None else int(d) for d in tensor.shape[1:]]), dtype=np.float32)
        for tensor in inputs
    ]
    if not arrays:
        return None
    return arrays[0] if len(arrays) == 1 else arrays


def check_trial_model(
    generator: ModelGenerator,
    trial: Trial,
    *,
    base_width: int | None = None,
    width: int | None = None,
) -> ModelCheck:
    """Build a trial's model and run one forward pass on zeros to prove it works.

    Raises:
        StudyError: As `build_trial_model`, or the model cannot take the study's data.
    """
    import keras

    model = build_trial_model(generator, trial, base_width=base_width, width=width)
    probe = _probe_inputs(model, width)
    shapes: tuple[tuple[int | None, ...], ...] = ()
    if probe is not None:
        try:
            outputs = model(probe, training=False)
        except Exception as exc:
            what = f"a batch of {width} feature columns" if width is not None else "its inputs"
            raise ModelSurgeryError(
                f"{_entry(trial)}: the model cannot take {what}: {str(exc).strip()}"
            ) from exc
        shapes = tuple(tuple(t.shape[1:]) for t in keras.tree.flatten(outputs))
    names = tuple(layer.name for layer in model.layers)
    params = int(model.count_params()) if model.built else 0
    return ModelCheck(trial.trial_id, params, names, shapes)


def _shapes(shapes: tuple[tuple[int | None, ...], ...]) -> str:
    return ", ".join(str((None, *shape)) for shape in shapes)


def check_all_models(
    generator: ModelGenerator,
    trials: Sequence[Trial],
    widths: dict[str, int] | None,
    base_width: int | None,
) -> dict[str, ModelCheck]:
    """Check every trial's model, building each distinct architecture once.

    Raises:
        StudyError: The first trial whose model cannot be built; the message lists how many
            other trials failed too.
    """
    checks: dict[str, ModelCheck] = {}
    errors: list[StudyError] = []
    base = check_trial_model(generator, Trial.create("base", "base"), width=base_width)
    cache: dict[tuple[tuple[str, ...], int | None], ModelCheck] = {((), base_width): base}
    for trial in trials:
        width = widths.get(trial.trial_id) if widths else None
        key = (trial.removed_layers, width)
        try:
            if key not in cache:
                cache[key] = check_trial_model(generator, trial, base_width=base_width, width=width)
            hit = cache[key]
            if hit.output_shapes != base.output_shapes:
                raise ModelSurgeryError(
                    f"{_entry(trial)}: the model's output shape changes from "
                    f"{_shapes(base.output_shapes)} to {_shapes(hit.output_shapes)}, so it "
                    "cannot be trained on the same labels"
                )
            checks[trial.trial_id] = ModelCheck(
                trial.trial_id, hit.params, hit.layer_names, hit.output_shapes
            )
        except StudyError as exc:
            errors.append(exc)
    if errors:
        first = errors[0]
        if len(errors) > 1:
            others = "; ".join(str(e) for e in errors[1:])
            raise type(first)(f"{first} (and {len(errors) - 1} more: {others})") from first
        raise first
    return checks
