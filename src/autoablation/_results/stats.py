"""Statistics over repeats: each component's metric, and its effect paired against the base.

Repeat i of every configuration runs with the same seed s_i (common random numbers), so a
component's effect is estimated from the per-seed differences ``component(s_i) - base(s_i)``:

* ``mean``, ``std``, ``ci_low``/``ci_high``: the metric across repeats, with a 95% Student-t
  interval for its mean;
* ``delta``, ``delta_ci_low``/``delta_ci_high``: the mean paired difference to the base, with a
  95% t interval;
* ``p_value``: a paired t-test against the base (``scipy.stats.ttest_rel``); ``p_adjusted``:
  Holm's correction across the components (``statsmodels``); ``significant``: p_adjusted < 0.05.

Rows are sorted by harm: the removal that hurts the metric most comes first ("hurts" follows the
study's direction). Where a statistic cannot be computed, it is empty and ``note`` says why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autoablation._core.trial import BASE, TrialResult, TrialStatus

ALPHA = 0.05
CONFIDENCE = 0.95
COLUMNS = (
    "ablated",
    "kind",
    "n",
    "failed",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "note",
)


@dataclass
class _Configuration:
    kind: str
    ablated: str
    by_seed: dict[int, float]
    failed: int


def _configurations(results: Sequence[TrialResult]) -> list[_Configuration]:
    groups: dict[tuple[str, str], _Configuration] = {}
    for result in results:
        key = (result.trial.kind, result.trial.ablated)
        group = groups.setdefault(key, _Configuration(key[0], key[1], {}, 0))
        if result.status is TrialStatus.OK and result.metric is not None:
            group.by_seed[result.trial.seed] = result.metric
        elif result.status.is_final:
            group.failed += 1
    return list(groups.values())


def _interval(values: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    sem = float(stats.sem(values))
    if sem == 0.0:
        mean = float(values.mean())
        return mean, mean
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=values.mean(), scale=sem)
    return float(low), float(high)


def _describe(configuration: _Configuration) -> dict[str, Any]:
    values = np.array(list(configuration.by_seed.values()), dtype=float)
    row: dict[str, Any] = {
        "ablated": configuration.ablated,
        "kind": configuration.kind,
        "n": len(values),
        "failed": configuration.failed,
        "mean": float(values.mean()) if len(values) else math.nan,
        "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "delta": math.nan,
        "delta_ci_low": math.nan,
        "delta_ci_high": math.nan,
        "p_value": math.nan,
        "note": "",
    }
    if len(values) > 1:
        row["ci_low"], row["ci_high"] = _interval(values)
    return row


def _compare(row: dict[str, Any], configuration: _Configuration, base: _Configuration) -> None:
    from scipy import stats

    seeds = sorted(set(configuration.by_seed) & set(base.by_seed))
    if not seeds:
        row["note"] = "no repeat where both this trial and the base trial succeeded"
        return
    ours = np.array([configuration.by_seed[s] for s in seeds])
    theirs = np.array([base.by_seed[s] for s in seeds])
    differences = ours - theirs
    row["delta"] = float(differences.mean())
    if len(seeds) < 2:
        row["note"] = (
            "one repeat where both this trial and the base succeeded: no interval or test "
            "(launch with repeats=2 or more, 5 is usual)"
            if configuration.failed or base.failed
            else "one paired repeat: no interval or test (launch with repeats=2 or more, "
            "5 is usual)"
        )
        return
    if np.ptp(differences) <= 1e-12 * max(1.0, abs(row["delta"])):
        # Every repeat moved the metric by the same amount (a metric counting test examples
        # moves in steps): no spread, so an effect of zero is no evidence and any other is
        # certain as far as these repeats tell.
        row["delta"] = float(differences[0])
        row["delta_ci_low"] = row["delta_ci_high"] = row["delta"]
        row["p_value"] = 1.0 if row["delta"] == 0.0 else 0.0
        row["note"] = "the differences to the base do not vary across repeats"
        return
    row["delta_ci_low"], row["delta_ci_high"] = _interval(differences)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        row["p_value"] = float(stats.ttest_rel(ours, theirs).pvalue)


def _holm(p_values: pd.Series) -> pd.Series:
    from statsmodels.stats.multitest import multipletests

    tested = p_values.dropna()
    adjusted = pd.Series(math.nan, index=p_values.index, dtype=float)
    if len(tested):
        adjusted[tested.index] = multipletests(tested.to_numpy(), alpha=ALPHA, method="holm")[1]
    return adjusted


def ranking(
    results: Sequence[TrialResult], direction: str = "max", effect: str = "removal"
) -> pd.DataFrame:
    """Rank every configuration by importance, with paired statistics.

    Args:
        results: Every repeat of every trial; one without a final result counts in no
            statistic, but its configuration still gets a row.
        direction: ``"max"`` if a higher metric is better, ``"min"`` otherwise.
        effect: ``"removal"`` (LOCO-like: most harmful removal first) or ``"addition"``
            (keep-one: the component that helps most on its own first).

    Returns:
        One row per configuration (the base included), columns as in the module docstring.
    """
    configurations = _configurations(results)
    base = next((c for c in configurations if c.kind == BASE), None)
    rows = []
    for configuration in configurations:
        row = _describe(configuration)
        if configuration.kind == BASE:
            row["delta"] = 0.0 if configuration.by_seed else math.nan
        elif base is None:
            row["note"] = "the study has no base trial to compare with"
        else:
            _compare(row, configuration, base)
        if not configuration.by_seed:
            row["note"] = "no repeat succeeded" if configuration.failed else "no result yet"
        rows.append(row)
    frame = pd.DataFrame(
        rows, columns=[c for c in COLUMNS if c not in ("p_adjusted", "significant")]
    )
    if frame.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    frame["p_adjusted"] = _holm(frame["p_value"])
    frame["significant"] = pd.array(
        [None if math.isnan(p) else bool(p < ALPHA) for p in frame["p_adjusted"]], dtype="boolean"
    )
    harm = -frame["delta"] if direction == "max" else frame["delta"]
    if effect == "addition":
        harm = -harm
    frame = frame.assign(_harm=harm).sort_values(
        "_harm", ascending=False, kind="stable", na_position="last"
    )
    frame = frame.drop(columns="_harm").reset_index(drop=True)
    return frame[list(COLUMNS)].astype({"n": int, "failed": int})
