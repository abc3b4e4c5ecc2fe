"""Paired tests over repeats: the exact sign-flip test, its equivalence form, intervals, Holm.

Repeat i of a component and of the base share their seed and their data split, so a
component's effect is read from the paired differences ``d_i = component_i - base_i``. If
removing the component changes nothing, the two runs of a repeat are exchangeable and each
``d_i`` is as likely as ``-d_i``: given the observed ``|d_i|``, the ``2**n`` sign patterns are
equally likely. The exact sign-flip test (Fisher's randomization test for paired data) counts
the patterns whose sum is at least as extreme as the observed one. It needs neither normality
nor a continuous metric: steps and ties are counted as they are, and ``n`` equal differences
give ``p = 2 / 2**n`` (0.25 for three repeats), never 0.

Every function here takes a batch: an array whose last axis holds the repeats of one
comparison, so one call tests thousands of simulated components as fast as one. The
statistics of `autoablation._results.stats` and the sequential design call them, and so do the
calibration simulations: the benchmark measures exactly the code the library runs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Alternative = Literal["two-sided", "greater", "less"]

EXACT_UP_TO = 40
"""Most repeats tested by full enumeration; more are tested on `RESAMPLES` random patterns."""
RESAMPLES = 20_000
"""Random sign patterns beyond `EXACT_UP_TO` repeats; p-values are then multiples of 1/20,001."""
_TIES = 1e-9
"""Sums within this share of ``sum(|d|)`` of the observed one count as ties (float error)."""
_CELLS = 1 << 22
"""Most half-sums held at once (32 MiB): rows are tested in chunks of this size."""


def _half_sums(half: FloatArray) -> FloatArray:
    """Every signed sum of each row's values: shape (rows, 2**columns)."""
    columns = half.shape[1]
    patterns = (np.arange(1 << columns)[:, None] >> np.arange(columns)) & 1
    return half @ (1.0 - 2.0 * patterns).T


def _count_at_least(d: FloatArray, threshold: FloatArray) -> FloatArray:
    """Per row, how many sign patterns give a sum of at least ``threshold``.

    Meet in the middle: the sums of the first half of the signs are matched against the
    sorted sums of the second half, so ``2**n`` patterns cost ``2**(n/2)`` searches.
    Rows are scaled so every sum lies in [-1, 1]; each row is shifted by 4 to search all rows
    in one sorted array.
    """
    rows, n = d.shape
    half = n // 2
    first = np.sort(_half_sums(d[:, :half]), axis=1)[:, ::-1]  # queries come out ascending
    second = np.sort(_half_sums(d[:, half:]), axis=1)
    width = second.shape[1]
    shift = 4.0 * np.arange(rows)[:, None]
    flat = (second + shift).ravel()
    queries = (threshold[:, None] - first + shift).ravel()
    below = np.searchsorted(flat, queries, side="left").reshape(rows, -1)
    below = np.clip(below - width * np.arange(rows)[:, None], 0, width)
    return np.asarray((width - below).sum(axis=1), dtype=float)


def _exact(d: FloatArray, alternative: Alternative) -> FloatArray:
    scale = np.abs(d).sum(axis=1)
    scale[scale == 0.0] = 1.0
    d = d / scale[:, None]
    observed = d.sum(axis=1)
    if alternative == "greater":
        count = _count_at_least(d, observed - _TIES)
    elif alternative == "less":  # the null distribution is symmetric: S <= s iff -S >= -s
        count = _count_at_least(d, -observed - _TIES)
    else:
        count = 2.0 * _count_at_least(d, np.abs(observed) - _TIES)
    return np.asarray(np.minimum(1.0, count / 2.0 ** d.shape[1]), dtype=float)


def _resampled(d: FloatArray, alternative: Alternative) -> FloatArray:
    """Monte-Carlo sign-flip p-values: (1 + patterns at least as extreme) / (1 + patterns).

    Counting the observed pattern keeps the test valid; the patterns come from a fixed seed,
    so a report recomputes the same p-values.
    """
    signs = 1.0 - 2.0 * np.random.default_rng(0).integers(0, 2, size=(RESAMPLES, d.shape[1]))
    observed = d.sum(axis=1)
    tolerance = _TIES * np.abs(d).sum(axis=1)
    count = np.zeros(len(d))
    for start in range(0, RESAMPLES, 2_000):
        sums = signs[start : start + 2_000] @ d.T  # (patterns, rows)
        if alternative == "greater":
            count += (sums >= observed - tolerance).sum(axis=0)
        elif alternative == "less":
            count += (sums <= observed + tolerance).sum(axis=0)
        else:
            count += (np.abs(sums) >= np.abs(observed) - tolerance).sum(axis=0)
    return np.asarray((1.0 + count) / (1.0 + RESAMPLES), dtype=float)


def sign_flip_p(differences: npt.ArrayLike, alternative: Alternative = "two-sided") -> FloatArray:
    """The exact sign-flip test of a zero mean difference, for each comparison of a batch.

    Args:
        differences: Paired differences, repeats on the last axis (any leading shape).
        alternative: ``"two-sided"``, or ``"greater"``/``"less"`` for a one-sided test that
            the mean difference is above/below zero.

    Returns:
        One p-value per comparison (the leading shape). Exact up to `EXACT_UP_TO` repeats;
        beyond, from `RESAMPLES` random sign patterns with a fixed seed (so a report recomputes
        it).

    Raises:
        ValueError: Fewer than one repeat, or a value that is not finite.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim == 0 or d.shape[-1] < 1:
        raise ValueError("sign_flip_p needs at least one paired difference per comparison")
    if not np.isfinite(d).all():
        raise ValueError("sign_flip_p got a difference that is NaN or infinite")
    leading, n = d.shape[:-1], d.shape[-1]
    flat = d.reshape(-1, n)
    if n > EXACT_UP_TO:
        return _resampled(flat, alternative).reshape(leading)
    chunk = max(1, _CELLS >> (n - n // 2))
    p = np.concatenate(
        [_exact(flat[i : i + chunk], alternative) for i in range(0, len(flat), chunk)]
        or [np.empty(0)]
    )
    return p.reshape(leading)


def smallest_p(repeats: int, alternative: Alternative = "two-sided") -> float:
    """The smallest p-value the sign-flip test can give with ``repeats`` paired differences."""
    return (2.0 if alternative == "two-sided" else 1.0) / 2.0**repeats


def equivalence_p(differences: npt.ArrayLike, margin: float) -> FloatArray:
    """Two one-sided sign-flip tests (TOST) that the mean difference lies inside ±``margin``.

    A small p says the effect is within the margin: both ``mean >= margin`` and
    ``mean <= -margin`` are rejected. p <= alpha exactly when the (1 - 2 alpha) interval of
    the test lies inside the margin.

    Raises:
        ValueError: ``margin`` is not a positive number, or as `sign_flip_p`.
    """
    if not margin > 0 or not np.isfinite(margin):
        raise ValueError(f"the equivalence margin must be a positive number; got {margin!r}")
    d = np.asarray(differences, dtype=float)
    return np.maximum(sign_flip_p(d - margin, "less"), sign_flip_p(d + margin, "greater"))


def t_interval(
    differences: npt.ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Student-t interval of the mean difference, for each comparison of a batch.

    Empty (NaN) where it cannot say anything true: fewer than two repeats, or differences
    that do not vary (a stepped metric that moved by the same step every time has a spread of
    zero, which is no evidence of certainty).
    """
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    n = d.shape[-1]
    mean = d.mean(axis=-1)
    if n < 2:
        nan = np.full(mean.shape, np.nan)
        return nan, nan.copy()
    spread = d.std(axis=-1, ddof=1)
    flat = spread <= 1e-12 * np.maximum(1.0, np.abs(mean))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * spread / np.sqrt(n)
    half = np.where(flat, np.nan, half)
    return mean - half, mean + half


def holm(p_values: npt.ArrayLike) -> FloatArray:
    """Holm's step-down adjustment along the last axis; NaN entries are not in the family.

    The same numbers as ``statsmodels.stats.multitest.multipletests(p, method="holm")`` (a
    test checks it), for a whole batch of families at once.
    """
    p = np.array(p_values, dtype=float, ndmin=1)
    missing = np.isnan(p)
    size = (~missing).sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(missing, np.inf, p), axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    steps = size - np.arange(p.shape[-1])
    scaled = np.where(np.isnan(ranked), np.nan, ranked * np.maximum(steps, 1))
    adjusted = np.minimum(1.0, np.fmax.accumulate(scaled, axis=-1))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return np.where(missing, np.nan, out)
