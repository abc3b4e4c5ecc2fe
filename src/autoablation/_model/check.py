"""The driver's model checks: build each distinct trial model once and run a forward pass."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoablation._core.errors import ModelSurgeryError, StudyError
from autoablation._core.trial import Trial
from autoablation._model.build import ModelGenerator, ModelRecipe, entry_of
from autoablation._model.configs import model_config
from autoablation._model.live import live_model
from autoablation._model.shapes import Projection
from autoablation._model.surgery import Config, normalize_config

logger = logging.getLogger("autoablation.models")


@dataclass(frozen=True)
class ModelCheck:
    """What the driver learnt by building a trial's model once.

    Attributes:
        trial_id: The trial.
        params: The model's parameter count.
        layer_names: Its layers.
        output_shapes: Its outputs' shapes (batch axis left out).
        config_digest: A digest of its architecture.
        projections: The learned projections it got where a removal could not build.
        rebuilt: Whether it was rebuilt from the base model's config.
        compiled: Whether the generator returned it compiled (only a model not rebuilt can be).
    """

    trial_id: str
    params: int
    layer_names: tuple[str, ...]
    output_shapes: tuple[tuple[int | None, ...], ...] = ()
    config_digest: str = ""
    projections: tuple[Projection, ...] = ()
    rebuilt: bool = False
    compiled: bool = False


def config_digest(model: Any) -> str:
    """A digest of a model's architecture (its config without build shapes)."""
    try:
        config = normalize_config(model_config(model))
    except Exception:  # subclassed models have no full config
        return f"class:{type(model).__module__}.{type(model).__qualname__}"
    text = json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ModelChecks:
    """The driver's checks: the base model's, and each trial's by id.

    Attributes:
        base: The base model's check.
        trials: Each trial's check, by trial id.
        base_config: The base model's normalised config (None for a model without one), to
            resolve what each declaration removes.
    """

    base: ModelCheck
    trials: dict[str, ModelCheck]
    base_config: Config | None = None


PROBE_LENGTH = 32
"""Length given to input dimensions the model leaves open (sequences, images of any size)."""


def _zeros(tensor: Any) -> Any:
    shape = (2, *[PROBE_LENGTH if d is None else int(d) for d in tensor.shape[1:]])
    dtype = str(getattr(tensor, "dtype", "float32"))
    if dtype == "string":
        return np.full(shape, "", dtype=object)
    return np.zeros(shape, dtype=dtype)


def _probe_inputs(model: Any, width: int | None) -> Any:
    """Zeros shaped and typed like the model's inputs (or like the study's data)."""
    if width is not None:
        return np.zeros((2, width), dtype=np.float32)
    arrays = [_zeros(tensor) for tensor in getattr(model, "inputs", None) or []]
    if not arrays:
        return None
    return arrays[0] if len(arrays) == 1 else arrays


def _forward(model: Any, probe: Any) -> Any:
    """The model's outputs for ``probe``, in inference mode.

    On JAX the pass is compiled whole: run eagerly, JAX compiles every operation on its own
    the first time it sees its shapes (MobileNetV2's first pass took 11.7 s that way here,
    1.9 s compiled). Should the compiled pass fail, the eager one runs and raises the error
    in Keras' own words.
    """
    import keras

    if keras.backend.backend() == "jax" and model.built:
        import jax

        def infer(trainable: Any, non_trainable: Any, inputs: Any) -> Any:
            return model.stateless_call(trainable, non_trainable, inputs, training=False)[0]

        try:
            return jax.jit(infer)(
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                probe,
            )
        except Exception as exc:
            logger.debug("the compiled probe failed (%s); running it eagerly", exc)
    return model(probe, training=False)


def _symbolic_shapes(model: Any) -> tuple[tuple[int | None, ...], ...]:
    outputs = getattr(model, "outputs", None) or []
    return tuple(tuple(t.shape[1:]) for t in outputs)


def _recipe(recipe: ModelRecipe | ModelGenerator) -> ModelRecipe:
    return recipe if isinstance(recipe, ModelRecipe) else ModelRecipe(recipe)


def check_trial_model(
    recipe: ModelRecipe | ModelGenerator,
    trial: Trial,
    *,
    base_width: int | None = None,
    width: int | None = None,
    forward: bool = True,
) -> ModelCheck:
    """Build a trial's model and run one forward pass on zeros to prove it works.

    Args:
        recipe: How to build the trial's model (or a base model generator).
        trial: The trial.
        base_width: Feature columns of the full data, when the default dataset feeds it.
        width: Feature columns the trial keeps; the probe batch has this width.
        forward: Run the forward pass; without it, output shapes come from the graph.

    Raises:
        StudyError: As `build_trial_model`, or the model cannot take the study's data.
    """
    return _check(_recipe(recipe), trial, base_width, width, forward)[0]


def _check(
    recipe: ModelRecipe, trial: Trial, base_width: int | None, width: int | None, forward: bool
) -> tuple[ModelCheck, Any]:
    import keras

    built = recipe.build_trial(trial, base_width=base_width, width=width)
    model = built.model
    probe = _probe_inputs(model, width) if forward else None
    shapes = _symbolic_shapes(model)
    if probe is not None:
        try:
            outputs = _forward(model, probe)
        except Exception as exc:
            what = f"a batch of {width} feature columns" if width is not None else "its inputs"
            raise ModelSurgeryError(
                f"{entry_of(trial)}: the model cannot take {what}: {str(exc).strip()}"
            ) from exc
        shapes = tuple(tuple(t.shape[1:]) for t in keras.tree.flatten(outputs))
    names = tuple(layer.name for layer in model.layers)
    params = int(model.count_params()) if model.built else 0
    check = ModelCheck(
        trial.trial_id,
        params,
        names,
        shapes,
        config_digest(model),
        built.projections,
        built.rebuilt,
        bool(getattr(model, "compiled", False)),
    )
    return check, model


def _base_config(model: Any) -> Config | None:
    try:
        return live_model(model).config
    except Exception:  # a subclassed model has no config; no layer of it can be removed
        return None


def _refuse_compiled(
    base: ModelCheck, checks: Mapping[str, ModelCheck], trials: Sequence[Trial]
) -> None:
    """A compiled base model with rebuilt trials would train compiled and uncompiled models."""
    rebuilt = [t for t in trials if checks[t.trial_id].rebuilt]
    if not base.compiled or not rebuilt:
        return
    names = ", ".join(repr(t.label) for t in rebuilt[:3]) + (" ..." if len(rebuilt) > 3 else "")
    raise StudyError(
        "the base model generator returns a compiled model, but trials "
        f"{names} rebuild it from its config, which holds no compilation (optimizer, loss, "
        "metrics): they would train uncompiled while the base trial trains compiled. Return "
        "the model uncompiled and compile it in the training function: model = "
        "model_function(); model.compile(...); every trial is then compiled the same way"
    )


def _shapes(shapes: tuple[tuple[int | None, ...], ...]) -> str:
    return ", ".join(str((None, *shape)) for shape in shapes)


def check_all_models(
    recipe: ModelRecipe | ModelGenerator,
    trials: Sequence[Trial],
    widths: Mapping[str, int] | None,
    base_width: int | None,
    on_checked: Callable[[Trial], None] | None = None,
) -> ModelChecks:
    """Check every trial's model, building each distinct architecture once.

    Every model must build, take a batch shaped like its data, and give outputs shaped like
    the base model's (or it could not train on the same labels). ``on_checked`` is called
    after each trial's check (a progress bar on the driver).

    Raises:
        StudyError: The first trial whose model fails; the message lists the others too.
    """
    recipe = _recipe(recipe)
    checks: dict[str, ModelCheck] = {}
    errors: list[StudyError] = []
    base_trial = Trial.create("base", "base")
    forward = True
    try:
        base, base_model = _check(recipe, base_trial, None, base_width, True)
    except ModelSurgeryError as exc:
        if base_width is not None:
            raise
        # Zeros do not suit every input (token ids, strings...): check the graphs only.
        logger.warning(
            "the base model cannot take a batch of zeros (%s); checking shapes only", exc
        )
        forward = False
        base, base_model = _check(recipe, base_trial, None, None, False)
    base_config = _base_config(base_model)
    del base_model
    cache: dict[tuple[Any, ...], ModelCheck] = {(base_trial.model_key, base_width): base}
    for trial in trials:
        width = widths.get(trial.trial_id) if widths else None
        key = (trial.model_key, width)
        try:
            if key not in cache:
                cache[key] = check_trial_model(
                    recipe, trial, base_width=base_width, width=width, forward=forward
                )
            hit = cache[key]
            if hit.output_shapes != base.output_shapes:
                repairable = any(
                    (c.shape_strategy or recipe.shape_strategy) != "project"
                    for c in trial.removed
                    if c.removes_model_parts
                )
                raise ModelSurgeryError(
                    f"{entry_of(trial)}: the model's output shape changes from "
                    f"{_shapes(base.output_shapes)} to {_shapes(hit.output_shapes)}, so it "
                    "cannot be trained on the same labels"
                    + (
                        "; shape_strategy='project' inserts a learned projection back to the "
                        "output's shape where the tensor keeps its rank"
                        if repairable
                        else ""
                    )
                )
            checks[trial.trial_id] = dataclasses.replace(hit, trial_id=trial.trial_id)
        except StudyError as exc:
            errors.append(exc)
        if on_checked is not None:
            on_checked(trial)
    if errors:
        first = errors[0]
        if len(errors) > 1:
            others = "; ".join(str(e) for e in errors[1:])
            raise type(first)(f"{first} (and {len(errors) - 1} more: {others})") from first
        raise first
    _refuse_compiled(base, checks, trials)
    return ModelChecks(base, checks, base_config)
