"""The driver side of a sequential study: which repeats run, from the results so far."""

from __future__ import annotations

import numpy as np
import pytest

from autoablation import StudyError
from autoablation._core.trial import Component, ComponentKind, Trial, TrialResult, TrialStatus
from autoablation._driver.sequential import SequentialPlanner
from autoablation._results.sequential import SequentialDesign
from autoablation._study.ablators import with_repeats

EFFECTS = {"base": 0.0, "strong": -0.2, "null": 0.0}


def configurations(*names: str) -> list[Trial]:
    features = [Component(ComponentKind.FEATURE, n, features=(n,)) for n in names]
    return [Trial.create("base", "base")] + [
        Trial.create("feature", c.name, (c,)) for c in features
    ]


def run(planner: SequentialPlanner, queue: list[Trial]) -> list[TrialResult]:
    """Run every queued trial in order, as slots would, asking the planner after each."""
    rng = np.random.default_rng(1)
    shared: dict[int, float] = {}
    results: list[TrialResult] = []
    while queue:
        trial = queue.pop(0)
        noise = shared.setdefault(trial.repeat, rng.normal(0, 0.01))  # common to the repeat
        metric = 0.8 + noise + EFFECTS[trial.ablated] + rng.normal(0, 0.005)
        results.append(TrialResult(trial, TrialStatus.OK, metric=metric))
        more, _looks = planner.plan(results)
        queue.extend(more)
    return results


def test_each_component_runs_until_its_own_look_decides_it() -> None:
    universe = with_repeats(configurations("strong", "null"), 16, 0)
    planner = SequentialPlanner(SequentialDesign(2, min_effect=0.05, max_repeats=16), universe)
    first = planner.start()
    assert sorted({t.repeat for t in first}) == list(range(6)) and len(first) == 18
    results = run(planner, first)
    repeats = {
        name: sorted(r.trial.repeat for r in results if r.trial.ablated == name) for name in EFFECTS
    }
    assert repeats["null"] == list(range(6))  # negligible at the first look
    assert repeats["strong"] == list(range(8))  # matters once the exact test can reach it
    assert repeats["base"] == list(range(8))  # the base ran while a component was undecided
    assert planner.finished and len(results) < 3 * 16
    assert len({r.trial.trial_id for r in results}) == len(results)  # nothing ran twice


def test_a_resume_queues_only_what_the_earlier_runs_did_not_finish() -> None:
    universe = with_repeats(configurations("strong", "null"), 16, 0)
    design = SequentialDesign(2, min_effect=0.05, max_repeats=16)
    first = SequentialPlanner(design, universe)
    done = run(first, first.start())
    kept = done[:10]  # the driver died after ten results
    planner = SequentialPlanner(design, universe, kept)
    again = planner.start()
    assert {t.trial_id for t in again}.isdisjoint(r.trial.trial_id for r in kept)
    assert len(again) == 18 - 10


def test_a_design_cannot_take_more_components_than_it_was_fixed_for() -> None:
    universe = with_repeats(configurations("a", "b", "c"), 16, 0)
    planner = SequentialPlanner(SequentialDesign(2, min_effect=0.05), universe)
    with pytest.raises(StudyError, match="fixed for 2; a design cannot grow"):
        planner.start()
