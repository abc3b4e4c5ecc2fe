"""Ablators: policies that turn a study into the list of trials to run.

An ablator only enumerates trials. It imports neither Spark nor TensorFlow and never builds a
model, so it is cheap to test and safe to call anywhere. The controller owns what happens to the
trials afterwards.

To write your own, subclass `Ablator`, give it a ``name`` and implement `Ablator.trials`; pass an
instance as ``experiment.launch(..., ablator=MyAblator())``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from autoablation._exceptions import StudyError
from autoablation._study import AblationStudy
from autoablation._trial import BASE, Component, Trial


class Ablator(abc.ABC):
    """A policy that lists the trials of a study.

    Implementations must be deterministic (the same study gives the same trials, ids and order)
    and must not import Spark or TensorFlow.
    """

    name: ClassVar[str] = "custom"

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
                "study.features.include(...) or study.model.layers.include(...)"
            )
        return components


class LOCO(Ablator):
    """Leave one component out: the base trial, then one trial per component.

    Order: base, features in declaration order, then model components in declaration order.
    """

    name = "loco"

    def trials(self, study: AblationStudy) -> list[Trial]:
        """Return the base trial and one removal trial per component."""
        components = self.require_components(study)
        return [self.base_trial(study)] + [self.removal_trial(study, c) for c in components]


_REGISTRY: dict[str, type[Ablator]] = {LOCO.name: LOCO}


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
        StudyError: Two trials share an id (they remove the same components).
    """
    seen: dict[str, Trial] = {}
    for trial in trials:
        if trial.trial_id in seen:
            raise StudyError(
                f"trials {seen[trial.trial_id].label!r} and {trial.label!r} remove the same "
                "components; declare each component once"
            )
        seen[trial.trial_id] = trial
