"""Calibration: a few hundred simulated studies of known truth, decided by the library's code.

``bench/statistics.py`` runs the same checks on thousands of studies. Here each rate is held to
its target within its Monte-Carlo tolerance: the binomial 99.9% quantile of the count a true
rate on target gives in this many studies (`calibration.most_allowed` / `least_allowed`). A
calibrated library fails one such check by chance once in a thousand runs; a miscalibrated
one (the old paired t-test claimed an effect in 13.6% of all-null studies of a stepped metric
at three repeats) fails it.
"""

from __future__ import annotations

import numpy as np
import pytest

from autoablation import ExperimentResult, Trial, TrialResult, TrialStatus
from autoablation._core.trial import Component, ComponentKind
from autoablation._results import calibration as cal
from autoablation._results.planner import repeats_for
from autoablation._results.sequential import SequentialDesign
from autoablation._results.stats import ALPHA

STUDIES = 300
COMPONENTS = 10


def as_results(metrics: np.ndarray) -> list[TrialResult]:
    """One simulated study, ``(1 + components, repeats)``, as the runs a study would give."""
    results = []
    for index, row in enumerate(metrics):
        name = "base" if index == 0 else f"c{index}"
        removed = () if index == 0 else (Component(ComponentKind.FEATURE, name, features=(name,)),)
        kind = "base" if index == 0 else "feature"
        for repeat, metric in enumerate(row):
            trial = Trial.create(kind, name, removed, repeat=repeat)
            results.append(TrialResult(trial, TrialStatus.OK, metric=float(metric)))
    return results


@pytest.mark.parametrize("stepped", [False, True], ids=["continuous", "accuracy262"])
@pytest.mark.parametrize("repeats", [3, 5, 10])
def test_all_null_studies_rarely_claim_anything(stepped: bool, repeats: int) -> None:
    rng = np.random.default_rng(100 + repeats)
    metrics = cal.draw_metrics(rng, STUDIES, np.zeros(COMPONENTS), repeats, stepped=stepped)
    outcome = cal.fixed_design(cal.paired_differences(metrics))
    assert cal.family_error(outcome.decision, True) <= cal.most_allowed(ALPHA, STUDIES)


@pytest.mark.parametrize("stepped", [False, True], ids=["continuous", "accuracy262"])
@pytest.mark.parametrize("repeats", [3, 10])
def test_the_95_percent_interval_holds_a_planted_effect(stepped: bool, repeats: int) -> None:
    rng = np.random.default_rng(200 + repeats)
    metrics = cal.draw_metrics(rng, STUDIES, [-0.01], repeats, stepped=stepped)
    outcome = cal.fixed_design(cal.paired_differences(metrics))
    rate = cal.coverage(outcome.low, outcome.high, -0.01)  # an empty interval is a miss
    assert cal.least_allowed(0.93, STUDIES) <= rate <= cal.most_allowed(0.97, STUDIES)


def test_the_planned_repeats_give_the_planned_power() -> None:
    rng = np.random.default_rng(300)
    repeats = repeats_for(1.0, 0.8, ALPHA)
    assert repeats == 11
    effects = np.ones((STUDIES, 1))
    outcome = cal.fixed_design(cal.standard_differences(rng, effects, repeats))
    assert cal.power(outcome.decision, True) >= cal.least_allowed(0.8, STUDIES)


def test_the_sequential_design_keeps_alpha_on_all_null_studies() -> None:
    rng = np.random.default_rng(400)
    design = SequentialDesign(COMPONENTS, min_effect=1.0)
    null = np.zeros((STUDIES, COMPONENTS))
    outcome = cal.sequential_design(design, cal.standard_differences(rng, null, 16))
    assert cal.family_error(outcome.decision, True) <= cal.most_allowed(ALPHA, STUDIES)
    assert (outcome.stopped_at <= 16).all()


def test_the_sequential_design_saves_runs_on_the_mixture_at_the_planned_power() -> None:
    rng = np.random.default_rng(500)
    design = SequentialDesign(COMPONENTS, min_effect=1.0, max_repeats=24)
    effects = cal.mixture(STUDIES, COMPONENTS)
    outcome = cal.sequential_design(design, cal.standard_differences(rng, effects, 24))
    ones = int((effects == 1).sum())
    assert cal.power(outcome.decision, effects == 1) >= cal.least_allowed(0.8, ones)
    assert cal.family_error(outcome.decision, effects == 0) <= cal.most_allowed(ALPHA, STUDIES)
    planned = repeats_for(1.0, 0.8, ALPHA / COMPONENTS)  # the fixed design for the same claims
    assert planned == 18
    saved = 1 - outcome.runs.mean() / ((COMPONENTS + 1) * planned)
    assert saved >= 0.30


def test_the_simulations_decide_as_the_ranking_does() -> None:
    rng = np.random.default_rng(600)
    metrics = cal.draw_metrics(rng, 4, [-0.02, 0.0, 0.003], 10, stepped=True)
    outcome = cal.fixed_design(cal.paired_differences(metrics), min_effect=0.01)
    for study in range(4):
        result = ExperimentResult("sim", as_results(metrics[study]), min_effect=0.01)
        table = result.ranking().set_index("ablated")
        names = [f"c{i}" for i in range(1, 4)]
        assert table.loc[names, "decision"].tolist() == outcome.decision[study].tolist()
        assert table.loc[names, "delta_ci_low"].to_numpy() == pytest.approx(
            outcome.low[study], nan_ok=True
        )


def test_the_simulations_look_as_a_sequential_study_does() -> None:
    rng = np.random.default_rng(700)
    design = SequentialDesign(3, min_effect=0.01)
    metrics = cal.draw_metrics(rng, 4, [-0.02, 0.0, 0.006], 16)
    outcome = cal.sequential_design(design, cal.paired_differences(metrics))
    for study in range(4):
        status = design.status(as_results(metrics[study]))
        keys = [("feature", f"c{i}") for i in range(1, 4)]
        assert [status.decisions[key] for key in keys] == outcome.decision[study].tolist()
        assert [status.wanted[key] for key in keys] == outcome.stopped_at[study].tolist()
