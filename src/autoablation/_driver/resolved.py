"""What each declaration removes once the model's layer names are known, and what that rules out.

Declarations are compared as written when they are made (`check_unique`), but a prefix group
and a list of the same layers, or a module and a group of its layers, only turn out to be the
same removal once the base model is built. Two trials that remove the same layers and features
would train the same model twice and rank it twice, so the driver compares resolved removals
before launch: a repeated removal is refused naming both declarations; a pair trial that
trains what another trial trains is left out (as the pairs ablator leaves out pairs it can
see are covered); and keep-one components that share a layer are refused, since keeping one
would still remove part of it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any

from autoablation._core.errors import StudyError
from autoablation._core.trial import Component, Trial
from autoablation._model.build import entry_of
from autoablation._model.surgery import Config, removed_layer_names
from autoablation._study.ablators import PAIR, Ablator

logger = logging.getLogger("autoablation")


class Resolver:
    """Resolves components against one base model config, each component once."""

    def __init__(self, config: Config | None) -> None:
        self._config = config
        self._cache: dict[Component, frozenset[str]] = {}

    def layers(self, component: Component) -> frozenset[str]:
        """The layers ``component`` removes (empty for features, custom models, no config)."""
        if self._config is None or not component.removes_model_parts:
            return frozenset()
        if component not in self._cache:
            self._cache[component] = frozenset(
                removed_layer_names(
                    self._config,
                    component.layers,
                    prefixes=component.prefixes,
                    modules=component.modules,
                    entry=component.name,
                )
            )
        return self._cache[component]

    def removal(self, trial: Trial) -> tuple[Any, ...]:
        """What the trial trains without: features, layers, custom model, and its repeat."""
        layers = frozenset().union(*(self.layers(c) for c in trial.removed))
        return (frozenset(trial.removed_features), layers, trial.custom_model, trial.repeat)


def distinct_trials(
    trials: Sequence[Trial], config: Config | None, ablator: Ablator
) -> list[Trial]:
    """The trials without pair trials that repeat another; refuse any other repeat.

    Raises:
        StudyError: Two declared components remove the same layers (and features), or
            keep-one components share a layer.
    """
    resolver = Resolver(config)
    if ablator.effect == "addition":
        _refuse_shared_layers(trials, resolver)
    seen: dict[tuple[Any, ...], Trial] = {}
    kept: list[Trial] = []
    for trial in trials:
        key = resolver.removal(trial)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = trial
            kept.append(trial)
        elif trial.kind == PAIR:
            logger.info(
                "trial %r trains what trial %r trains (the same layers once resolved); left out",
                trial.label,
                earlier.label,
            )
        else:
            removed = ", ".join(sorted(key[1])) or ", ".join(sorted(key[0]))
            raise StudyError(
                f"{entry_of(earlier)} and {entry_of(trial)} remove the same layers ({removed}) "
                "once the model's layer names are known, so they would train the same model "
                "twice; declare that removal once"
            )
    return kept


def _refuse_shared_layers(trials: Sequence[Trial], resolver: Resolver) -> None:
    components = list(dict.fromkeys(c for t in trials for c in t.removed))
    for first, second in itertools.combinations(components, 2):
        shared = resolver.layers(first) & resolver.layers(second)
        if shared:
            raise StudyError(
                f"keep_one cannot keep {first.name!r} alone while removing {second.name!r}: "
                f"both remove layer(s) {', '.join(sorted(shared))}; declare components that "
                "do not overlap"
            )
