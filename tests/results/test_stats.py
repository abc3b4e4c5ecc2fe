"""Paired statistics over repeats, checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoablation import Trial, TrialResult, TrialStatus
from autoablation._core.trial import Component, ComponentKind
from autoablation._results.stats import ranking
from autoablation._study.ablators import repeat_seeds, with_repeats


def run(kind: str, name: str, repeat: int, metric: float | None, ok: bool = True) -> TrialResult:
    removed = () if kind == "base" else (Component(ComponentKind.FEATURE, name, features=(name,)),)
    trial = Trial.create(kind, name, removed, repeat=repeat, seed=100 + repeat)
    return TrialResult(trial, TrialStatus.OK if ok else TrialStatus.FAILED, metric=metric)


BASE = [0.80, 0.82, 0.79, 0.81, 0.83]
STRONG = [0.60, 0.63, 0.58, 0.62, 0.61]
NOISE = [0.81, 0.81, 0.80, 0.80, 0.84]


def study(*extra: tuple[str, list[float]]) -> list[TrialResult]:
    results = [run("base", "base", i, m) for i, m in enumerate(BASE)]
    for name, metrics in extra:
        results += [run("feature", name, i, m) for i, m in enumerate(metrics)]
    return results


def test_means_intervals_and_paired_tests_match_scipy() -> None:
    from scipy import stats

    table = ranking(study(("strong", STRONG), ("noise", NOISE))).set_index("ablated")
    strong = table.loc["strong"]
    differences = np.array(STRONG) - np.array(BASE)
    assert strong["n"] == 5 and strong["mean"] == pytest.approx(np.mean(STRONG))
    assert strong["std"] == pytest.approx(np.std(STRONG, ddof=1))
    half = stats.t.ppf(0.975, 4) * stats.sem(STRONG)
    assert (strong["ci_low"], strong["ci_high"]) == pytest.approx(
        (np.mean(STRONG) - half, np.mean(STRONG) + half)
    )
    assert strong["delta"] == pytest.approx(differences.mean())
    delta_half = stats.t.ppf(0.975, 4) * stats.sem(differences)
    assert strong["delta_ci_low"] == pytest.approx(differences.mean() - delta_half)
    assert strong["p_value"] == pytest.approx(stats.ttest_rel(STRONG, BASE).pvalue)


def test_holm_adjusts_across_components_and_flags_significance() -> None:
    table = ranking(study(("strong", STRONG), ("noise", NOISE))).set_index("ablated")
    p = sorted([table.loc["strong", "p_value"], table.loc["noise", "p_value"]])
    assert table.loc["strong", "p_adjusted"] == pytest.approx(min(1.0, 2 * p[0]))
    assert table.loc["noise", "p_adjusted"] == pytest.approx(max(min(1.0, 2 * p[0]), p[1]))
    assert bool(table.loc["strong", "significant"])
    assert not table.loc["noise", "significant"]
    assert math.isnan(table.loc["base", "p_value"]) and table.loc["base", "delta"] == 0.0


def test_rows_are_sorted_by_harm_and_direction_flips_it() -> None:
    helps = [m + 0.05 for m in BASE]
    results = study(("strong", STRONG), ("helps", helps))
    assert ranking(results, "max")["ablated"].tolist() == ["strong", "base", "helps"]
    assert ranking(results, "min")["ablated"].tolist() == ["helps", "base", "strong"]


def test_pairs_only_seeds_where_both_succeeded() -> None:
    results = study(("strong", STRONG))
    results[0] = run("base", "base", 0, None, ok=False)
    row = ranking(results).set_index("ablated").loc["strong"]
    assert row["n"] == 5
    assert row["delta"] == pytest.approx(np.mean(np.array(STRONG[1:]) - np.array(BASE[1:])))
    assert ranking(results).set_index("ablated").loc["base", "failed"] == 1


def test_one_repeat_leaves_the_statistics_empty_and_says_why() -> None:
    table = ranking([run("base", "base", 0, 0.8), run("feature", "x", 0, 0.7)]).set_index("ablated")
    row = table.loc["x"]
    assert row["delta"] == pytest.approx(-0.1)
    assert all(
        math.isnan(row[c]) for c in ("std", "ci_low", "delta_ci_low", "p_value", "p_adjusted")
    )
    assert row["note"].startswith("one paired repeat: no interval or test")


def test_identical_differences_of_zero_are_not_significant() -> None:
    row = ranking(study(("same", BASE))).set_index("ablated").loc["same"]
    assert row["delta"] == 0.0 and row["p_value"] == 1.0


def test_repeats_share_seeds_across_components() -> None:
    trials = [Trial.create("base", "base"), run("feature", "x", 0, 1.0).trial]
    repeated = with_repeats(trials, 3, 7)
    assert [(t.ablated, t.repeat) for t in repeated] == [
        ("base", 0),
        ("x", 0),
        ("base", 1),
        ("x", 1),
        ("base", 2),
        ("x", 2),
    ]
    seeds = repeat_seeds(7, 3)
    assert [t.seed for t in repeated] == [
        seeds[0],
        seeds[0],
        seeds[1],
        seeds[1],
        seeds[2],
        seeds[2],
    ]
    assert seeds[0] == 7 and len(set(seeds)) == 3
    assert len({t.trial_id for t in repeated}) == 6


def test_constant_differences_are_certain_and_stay_in_the_holm_family() -> None:
    worse = [m - 0.1 for m in BASE]
    table = ranking(study(("worse", worse), ("strong", STRONG), ("noise", NOISE))).set_index(
        "ablated"
    )
    assert table.loc["worse", "p_value"] == 0.0 and bool(table.loc["worse", "significant"])
    assert table.loc["worse", "delta"] == pytest.approx(-0.1)
    assert table.loc["worse", "note"] == "the differences to the base do not vary across repeats"
    assert table.loc["worse", "p_adjusted"] == 0.0  # in the Holm family, not left out


def test_keep_one_puts_the_component_that_helps_most_first() -> None:
    results = [run("base", "none kept", i, m) for i, m in enumerate(BASE)]
    for name, gain in (("noise", 0.0), ("strong", 0.2), ("weak", 0.05)):
        results += [run("feature", name, i, m + gain + 0.001 * i) for i, m in enumerate(BASE)]
    order = ranking(results, "max", "addition")["ablated"].tolist()
    assert order == ["strong", "weak", "noise", "none kept"]


def test_configurations_without_a_result_yet_keep_their_row() -> None:
    pending = TrialResult(run("feature", "later", 0, None).trial, TrialStatus.PENDING)
    table = ranking([*study(), pending]).set_index("ablated")
    assert table.loc["later", "n"] == 0 and table.loc["later", "note"] == "no result yet"
