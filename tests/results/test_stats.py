"""The ranking: paired statistics over repeats, decisions, and the scores matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoablation import ExperimentResult, Trial, TrialResult, TrialStatus
from autoablation._core.trial import Component, ComponentKind
from autoablation._results.paired import sign_flip_p
from autoablation._results.stats import ranking
from autoablation._study.ablators import repeat_seeds, with_repeats


def run(kind: str, name: str, repeat: int, metric: float | None, ok: bool = True) -> TrialResult:
    removed = () if kind == "base" else (Component(ComponentKind.FEATURE, name, features=(name,)),)
    trial = Trial.create(kind, name, removed, repeat=repeat, seed=100 + repeat)
    return TrialResult(trial, TrialStatus.OK if ok else TrialStatus.FAILED, metric=metric)


BASE = [0.80, 0.82, 0.79, 0.81, 0.83, 0.80, 0.78, 0.82]
STRONG = [0.60, 0.63, 0.58, 0.62, 0.61, 0.59, 0.57, 0.63]
NOISE = [0.81, 0.81, 0.80, 0.80, 0.84, 0.79, 0.79, 0.82]


def study(*extra: tuple[str, list[float]], base: list[float] = BASE) -> list[TrialResult]:
    results = [run("base", "base", i, m) for i, m in enumerate(base)]
    for name, metrics in extra:
        results += [run("feature", name, i, m) for i, m in enumerate(metrics)]
    return results


def test_intervals_are_students_and_the_test_is_the_exact_sign_flip() -> None:
    from scipy import stats

    table = ranking(study(("strong", STRONG), ("noise", NOISE))).set_index("ablated")
    strong = table.loc["strong"]
    differences = np.array(STRONG) - np.array(BASE)
    assert strong["n"] == 8 and strong["mean"] == pytest.approx(np.mean(STRONG))
    half = stats.t.ppf(0.975, 7) * stats.sem(STRONG)
    assert (strong["ci_low"], strong["ci_high"]) == pytest.approx(
        (np.mean(STRONG) - half, np.mean(STRONG) + half)
    )
    assert strong["delta"] == pytest.approx(differences.mean())
    delta_half = stats.t.ppf(0.975, 7) * stats.sem(differences)
    assert strong["delta_ci_low"] == pytest.approx(differences.mean() - delta_half)
    assert strong["p_value"] == pytest.approx(float(sign_flip_p(differences)))
    assert strong["p_value"] == 2 / 2**8  # every repeat lost: the smallest p there is


def test_holm_adjusts_across_components_and_decides() -> None:
    table = ranking(study(("strong", STRONG), ("noise", NOISE))).set_index("ablated")
    p = sorted([table.loc["strong", "p_value"], table.loc["noise", "p_value"]])
    assert table.loc["strong", "p_adjusted"] == pytest.approx(min(1.0, 2 * p[0]))
    assert table.loc["noise", "p_adjusted"] == pytest.approx(max(min(1.0, 2 * p[0]), p[1]))
    assert table.loc["strong", "decision"] == "matters" and bool(table.loc["strong", "significant"])
    assert table.loc["noise", "decision"] == "undecided"  # no min_effect: nothing negligible
    assert not table.loc["noise", "significant"]
    assert math.isnan(table.loc["base", "p_value"]) and table.loc["base", "delta"] == 0.0
    assert table.loc["base", "decision"] == "" and table.loc["base", "significant"] is pd_na()


def pd_na() -> object:
    import pandas as pd

    return pd.NA


def test_an_effect_inside_min_effect_is_negligible() -> None:
    close = [m + 0.001 * (-1) ** i for i, m in enumerate(BASE)]
    table = ranking(study(("close", close), ("strong", STRONG)), min_effect=0.01)
    rows = table.set_index("ablated")
    assert rows.loc["close", "equivalence_p"] == pytest.approx(1 / 256)
    assert rows.loc["close", "decision"] == "negligible"
    assert rows.loc["strong", "decision"] == "matters"
    assert rows.loc["strong", "equivalence_p"] == 1.0


def test_one_passenger_three_times_is_not_an_effect() -> None:
    # The demo's old claim: age moved accuracy by -1/262 in all three repeats, p = 0, starred.
    base = [0.7824, 0.7901, 0.7786]
    age = [m - 1 / 262 for m in base]
    row = ranking(study(("age", age), base=base)).set_index("ablated").loc["age"]
    assert row["p_value"] == 0.25 and row["decision"] == "undecided"
    assert not row["significant"]
    assert math.isnan(row["delta_ci_low"]) and row["note"].startswith(
        "the differences to the base do not vary across repeats: no interval"
    )


def test_too_few_repeats_say_how_many_an_effect_needs() -> None:
    results = study(("strong", STRONG[:3]), ("noise", NOISE[:3]), base=BASE[:3])
    row = ranking(results).set_index("ablated").loc["noise"]
    assert row["note"] == (
        "3 repeats cannot show an effect: with 2 components the exact test needs p <= 0.025, "
        "which takes at least 7 repeats"
    )


def test_rows_are_sorted_by_harm_and_direction_flips_it() -> None:
    helps = [m + 0.05 for m in BASE]
    results = study(("strong", STRONG), ("helps", helps))
    assert ranking(results, "max")["ablated"].tolist() == ["strong", "base", "helps"]
    assert ranking(results, "min")["ablated"].tolist() == ["helps", "base", "strong"]


def test_pairs_only_repeats_where_both_succeeded() -> None:
    results = study(("strong", STRONG))
    results[0] = run("base", "base", 0, None, ok=False)
    row = ranking(results).set_index("ablated").loc["strong"]
    assert row["n"] == 8
    assert row["delta"] == pytest.approx(np.mean(np.array(STRONG[1:]) - np.array(BASE[1:])))
    assert row["p_value"] == pytest.approx(2 / 2**7)
    assert ranking(results).set_index("ablated").loc["base", "failed"] == 1


def test_one_repeat_leaves_the_statistics_empty_and_says_why() -> None:
    table = ranking([run("base", "base", 0, 0.8), run("feature", "x", 0, 0.7)]).set_index("ablated")
    row = table.loc["x"]
    assert row["delta"] == pytest.approx(-0.1)
    assert all(
        math.isnan(row[c]) for c in ("std", "ci_low", "delta_ci_low", "p_value", "p_adjusted")
    )
    assert row["note"].startswith("one paired repeat: no interval or test")
    assert row["decision"] == "undecided"


def test_repeats_share_seeds_and_with_vary_split_their_split() -> None:
    trials = [Trial.create("base", "base"), run("feature", "x", 0, 1.0).trial]
    repeated = with_repeats(trials, 3, 7, vary_split=True)
    assert [(t.ablated, t.repeat) for t in repeated] == [
        ("base", 0),
        ("x", 0),
        ("base", 1),
        ("x", 1),
        ("base", 2),
        ("x", 2),
    ]
    seeds = repeat_seeds(7, 3)
    assert [t.seed for t in repeated] == [s for s in seeds for _ in range(2)]
    assert [t.split_seed for t in repeated] == [t.seed for t in repeated]
    assert seeds[0] == 7 and len(set(seeds)) == 3  # repeat 0 splits as the study does
    assert len({t.trial_id for t in repeated}) == 6
    fixed = with_repeats(trials, 3, 7)
    assert [t.trial_id for t in fixed] == [t.trial_id for t in repeated]  # same trials
    assert all(t.split_seed is None for t in fixed)


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


def test_scores_is_the_repeats_by_configurations_matrix() -> None:
    results = study(("strong", STRONG))
    results[3] = run("base", "base", 3, None, ok=False)
    scores = ExperimentResult("s", results).scores()
    assert scores.shape == (8, 2) and list(scores.columns) == ["base", "feature:strong"]
    assert scores.index.name == "repeat" and list(scores.index) == list(range(8))
    assert scores["feature:strong"].tolist() == STRONG
    assert math.isnan(scores.loc[3, "base"])
