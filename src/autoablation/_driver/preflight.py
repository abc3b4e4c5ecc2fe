"""Everything `experiment.launch` checks on the driver before Spark is touched.

The training function's signature, the trials the ablator makes, every trial's data columns,
every trial's model (built once with a forward pass), and whether what must travel to executors
can be serialised. A study that passes runs; one that does not is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from autoablation._core.callables import train_parameters
from autoablation._core.errors import StudyError, TrainFunctionError
from autoablation._core.trial import Trial
from autoablation._data.generated import generator_extras
from autoablation._data.prepared import PreparedData
from autoablation._driver.codeprint import TRAIN_FUNCTION, train_function_key
from autoablation._driver.generators import check_removals
from autoablation._driver.progress import model_checks
from autoablation._driver.resolved import distinct_trials
from autoablation._driver.schedule import ConfigKey, config_key
from autoablation._model.build import ModelRecipe
from autoablation._model.check import ModelChecks, check_all_models
from autoablation._study.ablators import Ablator, check_unique, resolve_ablator
from autoablation._study.study import AblationStudy


@dataclass(frozen=True)
class Preflight:
    """A study that passed every check, ready to run.

    Attributes:
        ablator: The policy.
        trials: Its trials (one repeat).
        data: The prepared data of the default dataset generator, if any.
        recipe: How to build each trial's model, if the study has models.
        dataset_generator: The study's own dataset generator, if any.
        generator_features: The feature names declared with it, if any.
        fingerprint: What makes two runs' results comparable (see ``study_fingerprint``).
        parameters: Which of ``dataset_function``, ``model_function``, ``reporter`` the
            training function takes.
        cost_hints: Each configuration's relative cost, for the scheduler: its model's
            parameter count, else its number of input columns (empty when neither is known).
        projections: For each configuration whose model got learned projections (by trial
            label), what each one is and where it stands (see `Projection.describe`).
    """

    ablator: Ablator
    trials: list[Trial]
    data: PreparedData | None
    recipe: ModelRecipe | None
    dataset_generator: Callable[..., Any] | None
    fingerprint: dict[str, Any]
    parameters: frozenset[str]
    cost_hints: dict[ConfigKey, float] = field(default_factory=dict)
    projections: dict[str, list[str]] = field(default_factory=dict)
    generator_features: tuple[str, ...] | None = None


def _data_digest(data: PreparedData | None) -> str | None:
    if data is None:
        return None
    digest = hashlib.sha256()
    for array in (data.x, data.y, data.test_mask):
        digest.update(array.tobytes())
    digest.update(json.dumps([data.feature_names, data.label.classes]).encode("utf-8"))
    return digest.hexdigest()[:16]


def _qualname(value: Any) -> str | None:
    if value is None:
        return None
    module = getattr(value, "__module__", "?")
    return f"{module}.{getattr(value, '__qualname__', type(value).__name__)}"


def study_fingerprint(
    study: AblationStudy,
    data: PreparedData | None,
    base_model: str | None,
    custom_models: dict[str, str] | None = None,
    projections: Mapping[str, Sequence[str]] | None = None,
    train_function: str | None = None,
) -> dict[str, Any]:
    """What must not change for two runs' results to be comparable (and one to resume another).

    Components and repeats may change: a resumed study with more of them runs only the new
    trials. The data, the split, the base model's and each custom model's architecture, how
    each edited model is repaired (``projections``: for every configuration that edits the
    model, the projection layers it got, none for most), and the training function (its code
    and the values it reads, as far as they can be hashed: see
    `autoablation._driver.codeprint`) may not. The declared shape strategies are not
    fingerprinted themselves: a strategy changes a trial's model only through the projections
    it gets.
    """
    return {
        TRAIN_FUNCTION: train_function,
        "label": study.label_name,
        "test_fraction": study.test_fraction,
        "seed": study.seed,
        "standardize": study.standardize,
        "data": _data_digest(data),
        "dataset_generator": _qualname(study.dataset_generator),
        "base_model": base_model,
        "custom_models": custom_models or {},
        "projections": {label: list(names) for label, names in (projections or {}).items()},
    }


def _check_data(
    study: AblationStudy, trials: Sequence[Trial], data: PreparedData | None
) -> dict[str, int] | None:
    """Check every trial's features against the data; return each trial's input width."""
    generator = study.dataset_generator
    if generator is not None:
        extras = generator_extras(generator)
        if any(t.removed_features for t in trials) and not extras & {
            "ablated_feature",
            "ablated_features",
        }:
            raise StudyError(
                "the study ablates features, but its dataset generator declares no "
                "'ablated_feature' (or 'ablated_features') parameter, so it cannot leave them out"
            )
        check_removals(generator, trials, seed=study.seed)
        return None
    if data is None:
        if any(t.removed_features for t in trials):
            raise StudyError(
                "the study includes features but has no training data; pass a DataFrame, a "
                "CSV/Parquet path or a Spark DataFrame to AblationStudy(...), or set a "
                "dataset generator"
            )
        return None
    widths: dict[str, int] = {}
    for trial in trials:
        kept = data.width(trial.removed_features)  # the trial's input width
        if not kept:
            raise StudyError(
                f"trial {trial.label!r} removes every feature column, leaving no input"
            )
        widths[trial.trial_id] = kept
    return widths


def _recipe(study: AblationStudy, trials: Sequence[Trial]) -> ModelRecipe | None:
    generator = study.model.base_model_generator
    if generator is None:
        if any(t.removes_model_parts for t in trials):
            raise StudyError(
                "the study removes model components but has no base model generator; call "
                "study.model.set_base_model_generator(fn) first"
            )
        if any(t.custom_model for t in trials):
            raise StudyError(
                "the study has custom models but no base model generator for its base trial; "
                "call study.model.set_base_model_generator(fn) first"
            )
        return None
    return ModelRecipe(generator, study.model.custom_models, study.model.shape_strategy)


def _repaired(
    recipe: ModelRecipe,
    trials: Sequence[Trial],
    checks: ModelChecks,
    widths: Mapping[str, int] | None,
) -> tuple[ModelRecipe, dict[str, list[str]], dict[str, list[str]]]:
    """The recipe with the driver's repair decisions; each edited configuration's projections.

    Returns:
        The recipe executors get, the projection layers of every configuration that edits the
        model (for the fingerprint), and the descriptions of those that got any (by label).
    """
    repairs: dict[Any, tuple[str, ...]] = {}
    names: dict[str, list[str]] = {}
    described: dict[str, list[str]] = {}
    for trial in trials:
        if not trial.removes_model_parts:
            continue
        projections = checks.trials[trial.trial_id].projections
        width = widths.get(trial.trial_id) if widths else None
        repairs[recipe.repair_key(trial, width)] = tuple(p.replaces for p in projections)
        names[trial.label] = [p.layer for p in projections]
        if projections:
            described[trial.label] = [p.describe() for p in projections]
    return dataclasses.replace(recipe, repairs=repairs), names, described


def _check_shippable(what: str, value: Any, error: type[Exception] = StudyError) -> None:
    """Serialise what travels in the task closure now, to name what cannot travel."""
    try:
        cloudpickle.dumps(value)
    except Exception as exc:
        raise error(
            f"{what} cannot be sent to executors ({type(exc).__name__}: {exc}); define it at "
            "module level and create clients or sessions inside it"
        ) from exc


def preflight(
    train_fn: Callable[..., Any],
    study: AblationStudy,
    ablator: str | Ablator = "loco",
    *,
    verbose: int = 0,
    before_models: Callable[[], object] | None = None,
) -> Preflight:
    """Check a study against everything that can be known before any Spark job runs.

    ``before_models`` runs once the checks that need no Keras have passed, right before the
    first model is built (which starts the backend's threads): `launch` starts Spark there,
    whose JVM is launched by forking this process.

    With ``verbose >= 1`` a progress bar follows the models being built (see
    `autoablation._driver.progress`).

    Raises:
        StudyError: The study cannot run (with the subclass naming the reason).
        TrainFunctionError: The training function cannot be called or shipped.
    """
    if not isinstance(study, AblationStudy):
        raise StudyError(f"study must be an AblationStudy; got {type(study).__name__}")
    parameters = train_parameters(train_fn)
    policy = resolve_ablator(ablator)
    trials = policy.trials(study)
    check_unique(trials)
    data = study.prepared_data()
    widths = _check_data(study, trials, data)
    recipe = _recipe(study, trials)
    base_model = None
    custom_models: dict[str, str] = {}
    projections: dict[str, list[str]] = {}
    described: dict[str, list[str]] = {}
    hints: dict[ConfigKey, float] = (
        {config_key(t): float(widths[t.trial_id]) for t in trials if t.trial_id in widths}
        if widths
        else {}
    )
    if recipe is not None:
        if before_models is not None:
            before_models()
        base_width = len(data.feature_names) if data is not None else None
        with model_checks(len(trials), verbose) as checked:
            checks = check_all_models(recipe, trials, widths, base_width, on_checked=checked)
        trials = distinct_trials(trials, checks.base_config, policy)
        recipe, projections, described = _repaired(recipe, trials, checks, widths)
        base_model = checks.base.config_digest
        custom_models = {
            t.custom_model: checks.trials[t.trial_id].config_digest
            for t in trials
            if t.custom_model is not None
        }
        hints = {
            config_key(t): float(checks.trials[t.trial_id].params)
            for t in trials
            if t.trial_id in checks.trials
        }
    _check_shippable("the training function", train_fn, TrainFunctionError)
    if recipe is not None:
        _check_shippable("the base model generator", recipe.generator)
        for identifier, generator in recipe.custom_models.items():
            _check_shippable(f"custom model {identifier!r}", generator)
    if study.dataset_generator is not None:
        _check_shippable("the dataset generator", study.dataset_generator)
    return Preflight(
        policy,
        trials,
        data,
        recipe,
        study.dataset_generator,
        study_fingerprint(
            study, data, base_model, custom_models, projections, train_function_key(train_fn)
        ),
        parameters,
        hints,
        described,
        study.generator_feature_names,
    )
