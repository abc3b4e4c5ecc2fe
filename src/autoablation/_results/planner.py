"""The power planner: how many repeats would detect a given effect, from a pilot study.

A finished study (however small) shows how much each component's paired differences vary.
From that spread, `plan` finds the fewest repeats with which the ranking's test detects an
effect of ``min_effect`` with the requested power, the family-wise correction in force: the
first Holm step, ``alpha / components``, which is Bonferroni's level and so never optimistic.

The power is the two-sided paired t-test's (noncentral t); the exact sign-flip
test the ranking uses is a little less powerful at small samples (under 0.01 in power at the
sizes that matter, measured by ``bench/statistics.py``), so the plan asks for 0.01 more than
requested. It never goes under the repeats the sign-flip test needs to reach the level at all.
The spread is the pilot's estimate: with three repeats it is rough, and the plan with it.

Pairing is what makes this affordable: a component's runs and the base's share their seed and
split, so they move together, and the variance of their difference is smaller than the sum of
their variances by twice their covariance. `pairing` measures that gain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoablation._core.trial import BASE, TrialResult
from autoablation._results.stats import ALPHA, configurations, paired, repeats_to_reach

POWER_MARGIN = 0.01
"""Power asked of the t-test above the requested, for the sign-flip test's small loss to it."""
MOST = 10_000
"""The plan says "more than this" instead of searching further."""
COLUMNS = ("ablated", "kind", "n", "sd", "d_z", "repeats", "correlation", "pairing_gain", "note")


def t_power(d_z: float, repeats: npt.ArrayLike, level: float) -> npt.NDArray[np.float64]:
    """Power of the two-sided paired t-test at ``level`` for an effect of ``d_z``.

    From the noncentral t distribution (scipy). statsmodels' ``TTestPower`` gives the same
    numbers but NaN where the far tail underflows; that tail is counted as 0 here.
    """
    from scipy import stats

    n = np.asarray(repeats, dtype=float)
    df = n - 1
    shift = d_z * np.sqrt(n)
    critical = stats.t.isf(level / 2, df)
    lower = np.nan_to_num(stats.nct.cdf(-critical, df, shift), nan=0.0)
    return np.asarray(stats.nct.sf(critical, df, shift) + lower, dtype=float)


def repeats_for(d_z: float, power: float, level: float) -> int | None:
    """Fewest repeats for a two-sided test at ``level`` to detect ``d_z`` with ``power``.

    None when even `MOST` repeats would not do.
    """
    floor = max(2, repeats_to_reach(level))
    if d_z <= 0 or not math.isfinite(d_z):
        return None
    target = min(power + POWER_MARGIN, 0.999)
    sizes = np.arange(floor, MOST + 1)
    start = 0
    while start < len(sizes):  # in blocks: most plans end within the first
        block = sizes[start : start + 256]
        powers = t_power(d_z, block, level)
        enough = np.flatnonzero(powers >= target)
        if len(enough):
            return int(block[enough[0]])
        start += 256
    return None


def _correlation(ours: np.ndarray, theirs: np.ndarray) -> float:
    if len(ours) < 3 or ours.std() == 0 or theirs.std() == 0:
        return math.nan
    return float(np.corrcoef(ours, theirs)[0, 1])


def _gain(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Variance of an unpaired difference over that of the paired one (> 1: pairing helped)."""
    if len(ours) < 3:
        return math.nan
    paired_variance = float(np.var(ours - theirs, ddof=1))
    unpaired = float(np.var(ours, ddof=1) + np.var(theirs, ddof=1))
    return unpaired / paired_variance if paired_variance > 0 else math.nan


def plan(
    results: Sequence[TrialResult],
    min_effect: float,
    power: float = 0.8,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Per component, the repeats needed to detect ``min_effect`` with ``power``.

    Args:
        results: The pilot study's runs.
        min_effect: The effect to detect, in metric units.
        power: The chance of finding it to matter, if it is there.
        alpha: The family-wise error rate of the ranking's claims.

    Returns:
        One row per component: ``n`` (paired repeats in the pilot), ``sd`` (of the paired
        differences), ``d_z`` (min_effect / sd), ``repeats`` (needed in all; empty where the
        pilot cannot tell), ``correlation`` (of the component's runs with the base's),
        ``pairing_gain`` (how many times fewer repeats pairing needs than unpaired runs would),
        ``note``.

    Raises:
        ValueError: ``min_effect`` not a positive number, or ``power`` outside (0, 1).
    """
    if not (isinstance(min_effect, (int, float)) and 0 < min_effect < math.inf):
        raise ValueError(f"min_effect must be a positive number (metric units); got {min_effect!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1); got {power!r}")
    groups = configurations(results)
    base = next((g for g in groups if g.kind == BASE), None)
    components = [g for g in groups if g.kind != BASE]
    level = alpha / max(1, len(components))
    rows: list[dict[str, Any]] = []
    for group in components:
        row: dict[str, Any] = dict.fromkeys(COLUMNS, math.nan)
        row.update(ablated=group.ablated, kind=group.kind, n=0, repeats=None, note="")
        rows.append(row)
        if base is None:
            row["note"] = "no base trial to compare with"
            continue
        ours, theirs = paired(group, base)
        row["n"] = len(ours)
        if len(ours) < 2:
            row["note"] = "fewer than two paired repeats: no spread to plan from"
            continue
        sd = float(np.std(ours - theirs, ddof=1))
        row.update(sd=sd, correlation=_correlation(ours, theirs), pairing_gain=_gain(ours, theirs))
        if sd == 0:
            row["note"] = "the differences do not vary: the pilot cannot tell their spread"
            continue
        row["d_z"] = min_effect / sd
        row["repeats"] = repeats_for(min_effect / sd, power, level)
        if row["repeats"] is None:
            row["note"] = f"more than {MOST} repeats"
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["repeats"] = frame["repeats"].astype("Int64")
    return frame.astype({"n": int})


def pairing(results: Sequence[TrialResult]) -> tuple[float, float]:
    """The median correlation of components' runs with the base's, and the median gain.

    NaN when no component has three paired repeats with some spread.
    """
    groups = configurations(results)
    base = next((g for g in groups if g.kind == BASE), None)
    if base is None:
        return math.nan, math.nan
    correlations, gains = [], []
    for group in groups:
        if group.kind == BASE:
            continue
        ours, theirs = paired(group, base)
        correlations.append(_correlation(ours, theirs))
        gains.append(_gain(ours, theirs))
    kept = [c for c in correlations if not math.isnan(c)]
    kept_gains = [g for g in gains if not math.isnan(g)]
    if not kept or not kept_gains:
        return math.nan, math.nan
    return float(np.median(kept)), float(np.median(kept_gains))
