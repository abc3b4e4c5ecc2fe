"""The paired tests, checked against scipy and statsmodels on the cases that matter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from autoablation._results.paired import (
    equivalence_p,
    holm,
    sign_flip_p,
    smallest_p,
    t_interval,
)

STEP = 1 / 262
CASES = [
    [0.01, -0.004, 0.02, 0.013, 0.0],  # continuous, a zero among them
    [-STEP, -STEP, -STEP],  # one passenger of 262, three times: the demo's "age"
    [-STEP, -2 * STEP, -STEP, 0.0, -STEP, STEP],  # stepped, with ties
    [0.0, 0.0, 0.0, 0.0],  # no difference at all
    list(np.random.default_rng(1).normal(0.3, 1.0, size=11)),  # odd length
    list(np.random.default_rng(2).normal(0.0, 1.0, size=14)),
]


def scipy_exact(row: list[float], alternative: str) -> float:
    return float(
        stats.permutation_test(
            (np.array(row),),
            np.mean,
            permutation_type="samples",
            n_resamples=np.inf,
            alternative=alternative,
        ).pvalue
    )


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_the_sign_flip_test_equals_scipys_exact_permutation_test(alternative: str) -> None:
    ours = [float(sign_flip_p(row, alternative)) for row in CASES]  # type: ignore[arg-type]
    assert ours == pytest.approx([scipy_exact(row, alternative) for row in CASES], abs=1e-12)


def test_a_batch_gives_the_same_p_values_as_one_at_a_time() -> None:
    rows = np.random.default_rng(3).normal(0.2, 1.0, size=(2, 3, 9))
    batch = sign_flip_p(rows)
    assert batch.shape == (2, 3)
    singles = [[float(sign_flip_p(rows[i, j])) for j in range(3)] for i in range(2)]
    assert batch.tolist() == singles


@pytest.mark.parametrize("n", [3, 5, 8])
def test_equal_differences_are_never_certain(n: int) -> None:
    p = float(sign_flip_p([-STEP] * n))
    assert p == smallest_p(n) == 2 / 2**n and p > 0  # 0.25 for three repeats
    assert float(sign_flip_p([0.0] * n)) == 1.0


def test_beyond_the_exact_limit_random_patterns_are_used_reproducibly() -> None:
    rows = np.random.default_rng(4).normal(0.4, 1.0, size=(3, 41))
    rows[2] = 1.0  # every repeat the same: the smallest p random patterns can give
    first, again = sign_flip_p(rows), sign_flip_p(rows)
    assert first.tolist() == again.tolist()  # a fixed seed: a report recomputes the same
    expected = [t_test_p(row) for row in rows[:2]]
    assert first[:2] == pytest.approx(expected, abs=0.01)
    assert first[2] == 1 / 20_001


def t_test_p(row: np.ndarray) -> float:
    return float(stats.ttest_1samp(row, 0.0).pvalue)  # what 2**41 patterns would give, closely


def test_bad_differences_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        sign_flip_p([0.1, math.nan])
    with pytest.raises(ValueError, match="at least one paired difference"):
        sign_flip_p(np.empty((2, 0)))


def test_equivalence_needs_the_effect_inside_the_margin() -> None:
    tight = [0.001, -0.002, 0.0015, 0.0, -0.001, 0.002, 0.0005, -0.0005]
    assert float(equivalence_p(tight, 0.01)) == pytest.approx(1 / 256)  # every pattern inside
    assert float(equivalence_p([0.02 + d for d in tight], 0.01)) == 1.0  # clearly outside
    assert float(equivalence_p(tight[:3], 0.01)) == 1 / 8  # three repeats cannot say more
    with pytest.raises(ValueError, match="positive number"):
        equivalence_p(tight, 0.0)


def test_the_interval_is_students_and_empty_without_spread() -> None:
    row = np.array(CASES[0])
    low, high = t_interval(row[None, :])
    expected = stats.t.interval(0.95, len(row) - 1, loc=row.mean(), scale=stats.sem(row))
    assert (float(low[0]), float(high[0])) == pytest.approx(expected)
    low, high = t_interval(np.array([[-STEP] * 3, [0.0] * 3]))
    assert np.isnan(low).all() and np.isnan(high).all()  # zero spread says nothing


def test_holm_equals_statsmodels_and_leaves_missing_tests_out() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001])
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    with_gap = holm([0.01, math.nan, 0.04])
    assert math.isnan(with_gap[1])
    assert with_gap[[0, 2]] == pytest.approx(multipletests([0.01, 0.04], method="holm")[1])
    families = holm(np.array([[0.01, 0.04], [0.5, 0.001]]))
    assert families[1] == pytest.approx(multipletests([0.5, 0.001], method="holm")[1])
