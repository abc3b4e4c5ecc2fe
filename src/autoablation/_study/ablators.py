"""Ablators: policies that turn a study into the list of trials to run.

An ablator only enumerates trials. It imports neither Spark nor TensorFlow and never builds a
model, so it is cheap to test and safe to call anywhere. The controller owns what happens to the
trials afterwards.

Shipped policies: ``"loco"`` (leave one component out), ``"pairs"`` (LOCO plus every pair,
for interactions) and ``"keep_one"`` (add one in). To write your own, subclass `Ablator`, give
it a ``name`` and implement `Ablator.trials`, then pass an instance as
``experiment.launch(..., ablator=MyAblator())``; see ``docs/ablators.md``.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

from autoablation._core.errors import StudyError
from autoablation._core.trial import BASE, Component, ComponentKind, Trial
from autoablation._study.study import AblationStudy

PAIR = "pair"
KEEP_ONE = "keep_one"


class Ablator(abc.ABC):
    """A policy that lists the trials of a study.

    Implementations must be deterministic (the same study gives the same trials, ids and order)
    and must not import Spark or TensorFlow.
    """

    name: ClassVar[str] = "custom"
    effect: ClassVar[str] = "removal"
    """What a trial's difference to the base measures: ``"removal"`` (the trial lacks the
    component the base has) or ``"addition"`` (the trial has a component the base lacks). It
    decides which way the ranking runs: the most important component first either way."""

    @abc.abstractmethod
    def trials(self, study: AblationStudy) -> list[Trial]:
        """Return every trial of the study, in the order they should be offered to workers.

        Raises:
            StudyError: The study cannot be turned into trials under this policy.
        """

    @staticmethod
    def base_trial(study: AblationStudy) -> Trial:
        """The trial that removes nothing."""
        return Trial.create(BASE, BASE, seed=study.seed)

    @staticmethod
    def removal_trial(study: AblationStudy, component: Component) -> Trial:
        """The trial that removes exactly ``component``."""
        return Trial.create(component.kind.value, component.name, (component,), seed=study.seed)

    @staticmethod
    def require_components(study: AblationStudy) -> list[Component]:
        """The study's components; raises if it ablates nothing."""
        components = study.components()
        if not components:
            raise StudyError(
                "the study includes nothing to ablate: declare at least one component with "
                "study.features.include(...), study.model.layers.include(...), "
                "study.model.add_module(...) or study.model.add_custom_model_generator(...)"
            )
        return components

    @staticmethod
    def removals(components: Sequence[Component]) -> list[Component]:
        """The components that remove something (all but custom models, which replace)."""
        return [c for c in components if c.kind is not ComponentKind.CUSTOM_MODEL]


class LOCO(Ablator):
    """Leave one component out: the base trial, then one trial per component.

    Order: base, data components (features, feature groups), then model components (layers,
    layer groups, modules, custom models), each in declaration order.
    """

    name = "loco"

    def trials(self, study: AblationStudy) -> list[Trial]:
        """Return the base trial and one removal trial per component."""
        components = self.require_components(study)
        return [self.base_trial(study)] + [self.removal_trial(study, c) for c in components]


class Pairs(LOCO):
    """LOCO, plus one trial per pair of components removed together, to expose interactions.

    With n removal components that adds n(n-1)/2 trials, after the LOCO trials. Custom models
    replace the model rather than remove part of it, so they take part in LOCO only.
    """

    name = "pairs"

    def trials(self, study: AblationStudy) -> list[Trial]:
        """Return the LOCO trials and one trial per pair of removal components."""
        trials = super().trials(study)
        for first, second in itertools.combinations(self.removals(study.components()), 2):
            if first.covers(second) or second.covers(first):
                continue  # the pair would train exactly what the larger component's trial does
            label = f"{first.name} & {second.name}"
            trials.append(Trial.create(PAIR, label, (first, second), seed=study.seed))
        return trials


class KeepOne(Ablator):
    """Add one in: a base trial without every component, then one trial keeping each one.

    The base trial removes every removal component at once; the trial for component c removes
    all of them except c. A positive difference to the base (for a metric to maximise) means
    the component helps on its own. Custom models take no part.
    """

    name = "keep_one"
    effect = "addition"

    def trials(self, study: AblationStudy) -> list[Trial]:
        """Return the all-removed base trial and one trial per component kept alone."""
        removals = self.removals(self.require_components(study))
        if not removals:
            raise StudyError("keep_one needs components to remove; custom models only replace")
        for first, second in itertools.combinations(removals, 2):
            if first.overlaps(second):
                raise StudyError(
                    f"keep_one cannot keep {first.name!r} alone while removing {second.name!r}: "
                    "they remove something in common; declare components that do not overlap"
                )
        trials = [Trial.create(BASE, "none kept", removals, seed=study.seed)]
        for kept in removals:
            others = [c for c in removals if c is not kept]
            trials.append(Trial.create(KEEP_ONE, kept.name, others, seed=study.seed))
        return trials


_REGISTRY: dict[str, type[Ablator]] = {cls.name: cls for cls in (LOCO, Pairs, KeepOne)}


def resolve_ablator(ablator: str | Ablator) -> Ablator:
    """Return the ablator named by ``ablator`` (case-insensitive), or ``ablator`` itself.

    Raises:
        StudyError: No ablator has that name, or the argument is not an ablator.
    """
    if isinstance(ablator, Ablator):
        return ablator
    if isinstance(ablator, str) and ablator.lower() in _REGISTRY:
        return _REGISTRY[ablator.lower()]()
    raise StudyError(
        f"unknown ablator {ablator!r}; use one of {', '.join(sorted(_REGISTRY))} "
        "or an instance of autoablation.Ablator"
    )


def check_unique(trials: Sequence[Trial]) -> None:
    """Raise if two trials would run the same configuration.

    Raises:
        StudyError: Two trials share an id, or remove the same things in another order.
    """
    seen: dict[Any, Trial] = {}
    for trial in trials:
        for key in (trial.trial_id, trial.removal):
            if key in seen:
                raise StudyError(
                    f"trials {seen[key].label!r} and {trial.label!r} remove the same "
                    "components; declare each component once"
                )
            seen[key] = trial


def repeat_seeds(study_seed: int, repeats: int) -> list[int]:
    """One seed per repeat, shared by every component (common random numbers).

    Repeat 0 uses the study's seed itself, so a study with one repeat trains as declared;
    later repeats draw independent seeds from NumPy's ``SeedSequence``.
    """
    import numpy as np

    spawned = np.random.SeedSequence(study_seed).spawn(max(0, repeats - 1))
    return [study_seed] + [int(s.generate_state(1)[0]) for s in spawned]


def with_repeats(
    trials: Sequence[Trial], repeats: int, study_seed: int, *, vary_split: bool = False
) -> list[Trial]:
    """Every trial ``repeats`` times: repeat i of every trial gets the same seed s_i.

    With ``vary_split``, s_i also seeds repeat i's train/test split (its ``split_seed``), so
    the repeat index drives every random stream of a trial; repeat 0's is the study's own
    seed, so it holds out the study's own rows. Without, every repeat uses the study's split.

    Trials come repeat by repeat (all of repeat 0, then repeat 1...), so an interrupted study
    has compared every component before it repeats any.

    Raises:
        StudyError: ``repeats`` is not a positive integer.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise StudyError(f"repeats must be a positive integer; got {repeats!r}")
    seeds = repeat_seeds(study_seed, repeats)
    return [
        Trial.create(
            t.kind,
            t.ablated,
            t.removed,
            repeat=i,
            seed=seeds[i],
            split_seed=seeds[i] if vary_split else None,
        )
        for i in range(repeats)
        for t in trials
    ]
