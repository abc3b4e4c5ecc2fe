"""The ranking: each component's metric, its paired effect, and a decision about it.

Repeat i of every configuration runs with the same seed and the same data split (common
random numbers), so a component's effect is read from the per-repeat differences
``component_i - base_i`` (`autoablation._results.paired` has the tests):

* ``mean``, ``std``, ``ci_low``/``ci_high``: the metric across repeats, with a 95% Student-t
  interval for its mean;
* ``delta``, ``delta_ci_low``/``delta_ci_high``: the mean paired difference to the base, with
  a 95% Student-t interval (none when the differences do not vary: zero spread is no
  evidence of certainty);
* ``p_value``: the exact sign-flip test of the paired differences; ``p_adjusted``: Holm's
  correction across the components; ``equivalence_p``: two one-sided sign-flip tests that the
  effect lies inside ±``min_effect``;
* ``decision``: ``matters`` (p_adjusted <= alpha: the family-wise error of these claims is at
  most alpha), ``negligible`` (equivalence_p <= alpha: the effect lies inside ±min_effect),
  else ``undecided``; ``significant`` is ``decision == "matters"``.

Rows are sorted by harm: the removal that hurts the metric most comes first ("hurts" follows the
study's direction). Where a statistic cannot be computed, it is empty and ``note`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoablation._core.trial import BASE, TrialResult, TrialStatus
from autoablation._results.paired import (
    equivalence_p,
    holm,
    sign_flip_p,
    smallest_p,
    t_interval,
)

ALPHA = 0.05
CONFIDENCE = 0.95
MATTERS, NEGLIGIBLE, UNDECIDED = "matters", "negligible", "undecided"
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
    "equivalence_p",
    "decision",
    "significant",
    "note",
)
METHOD: dict[str, Any] = {
    "version": 1,
    "pairing": "repeat i of every configuration shares its seed and its data split",
    "test": "exact sign-flip (paired randomization) test of the mean difference, two-sided",
    "interval": "Student-t 95% interval of the mean paired difference",
    "correction": "holm",
    "equivalence": "two one-sided sign-flip tests against +-min_effect",
    "alpha": ALPHA,
}
"""How the ranking decides, as the journal and ``study.json`` record it."""


@dataclass
class Configuration:
    """One configuration's runs: its metric by repeat, its final repeats, its failures."""

    kind: str
    ablated: str
    label: str
    by_repeat: dict[int, float] = field(default_factory=dict)
    final: set[int] = field(default_factory=set)
    failed: int = 0


def configurations(results: Sequence[TrialResult]) -> list[Configuration]:
    """Every configuration of a study, in trial order, with its successful runs by repeat."""
    groups: dict[tuple[str, str], Configuration] = {}
    for result in results:
        trial = result.trial
        key = (trial.kind, trial.ablated)
        group = groups.setdefault(key, Configuration(key[0], key[1], trial.label))
        if result.status.is_final:
            group.final.add(trial.repeat)
        if result.status is TrialStatus.OK and result.metric is not None:
            group.by_repeat[trial.repeat] = result.metric
        elif result.status.is_final:
            group.failed += 1
    return list(groups.values())


def paired(
    configuration: Configuration, base: Configuration
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The metrics of the repeats where both the configuration and the base succeeded."""
    repeats = sorted(set(configuration.by_repeat) & set(base.by_repeat))
    ours = np.array([configuration.by_repeat[r] for r in repeats], dtype=float)
    theirs = np.array([base.by_repeat[r] for r in repeats], dtype=float)
    return ours, theirs


@dataclass(frozen=True)
class Comparisons:
    """The paired statistics of a batch of comparisons (one entry per comparison)."""

    delta: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    p_value: npt.NDArray[np.float64]
    equivalence_p: npt.NDArray[np.float64]


def compare(differences: npt.ArrayLike, min_effect: float | None = None) -> Comparisons:
    """Mean, 95% interval, sign-flip p and equivalence p of each row of paired differences.

    Args:
        differences: Paired differences, repeats on the last axis (two or more).
        min_effect: The equivalence margin; None leaves ``equivalence_p`` empty.
    """
    d = np.asarray(differences, dtype=float)
    low, high = t_interval(d, CONFIDENCE)
    p = sign_flip_p(d)
    equivalent = np.full(p.shape, math.nan) if min_effect is None else equivalence_p(d, min_effect)
    return Comparisons(d.mean(axis=-1), low, high, p, equivalent)


def decide(
    p_values: npt.ArrayLike, equivalence: npt.ArrayLike, alpha: float = ALPHA
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.str_]]:
    """Holm-adjusted p-values and the decision of each comparison of a family (last axis).

    ``matters`` when the adjusted p is at most ``alpha``; otherwise ``negligible`` when the
    equivalence p is at most ``alpha``; otherwise ``undecided`` (also where there is no test).
    """
    adjusted = holm(p_values)
    equivalent = np.asarray(equivalence, dtype=float)
    decision = np.where(
        adjusted <= alpha, MATTERS, np.where(equivalent <= alpha, NEGLIGIBLE, UNDECIDED)
    )
    return adjusted, decision


def significance(frame: pd.DataFrame) -> pd.Series:
    """The ``significant`` column: whether each component's decision is ``matters``."""
    flags = [
        None if kind == BASE else decision == MATTERS
        for kind, decision in zip(frame["kind"], frame["decision"], strict=True)
    ]
    return pd.Series(pd.array(flags, dtype="boolean"), index=frame.index)


def repeats_to_reach(level: float) -> int:
    """The fewest paired repeats with which the sign-flip test can give ``p <= level``."""
    return max(1, math.ceil(1 + math.log2(1 / level) - 1e-12))


def _describe(configuration: Configuration) -> dict[str, Any]:
    values = np.array(list(configuration.by_repeat.values()), dtype=float)
    row: dict[str, Any] = dict.fromkeys(COLUMNS, math.nan)
    row.update(
        ablated=configuration.ablated,
        kind=configuration.kind,
        n=len(values),
        failed=configuration.failed,
        decision=UNDECIDED,
        note="",
    )
    if len(values):
        row["mean"] = float(values.mean())
    if len(values) > 1:
        row["std"] = float(values.std(ddof=1))
        low, high = t_interval(values[None, :], CONFIDENCE)
        row["ci_low"], row["ci_high"] = float(low[0]), float(high[0])
    return row


def _compare(
    row: dict[str, Any], configuration: Configuration, base: Configuration, min_effect: float | None
) -> None:
    ours, theirs = paired(configuration, base)
    if not len(ours):
        row["note"] = "no repeat where both this trial and the base trial succeeded"
        return
    differences = ours - theirs
    row["delta"] = float(differences.mean())
    if len(differences) < 2:
        row["note"] = (
            "one repeat where both this trial and the base succeeded: no interval or test"
            if configuration.failed or base.failed
            else "one paired repeat: no interval or test"
        ) + " (launch with more repeats; result.plan(min_effect) says how many)"
        return
    result = compare(differences[None, :], min_effect)
    row["delta_ci_low"], row["delta_ci_high"] = float(result.low[0]), float(result.high[0])
    row["p_value"] = float(result.p_value[0])
    row["equivalence_p"] = float(result.equivalence_p[0])
    if math.isnan(row["delta_ci_low"]):
        row["note"] = (
            "the differences to the base do not vary across repeats: no interval "
            "(the sign-flip p-value still holds)"
        )


def _reach_note(frame: pd.DataFrame, alpha: float) -> pd.Series:
    """Notes on rows whose repeats are too few for any test to reach the first Holm step."""
    tested = frame["p_value"].notna()
    family = int(tested.sum())
    if not family:
        return frame["note"]
    first_step = alpha / family
    needed = repeats_to_reach(first_step)
    notes = frame["note"].copy()
    for index, n in zip(frame.index[tested], frame["n"][tested].astype(int), strict=True):
        if smallest_p(n) > first_step and not notes[index]:
            notes[index] = (
                f"{n} repeats cannot show an effect: with {family} components the exact test "
                f"needs p <= {first_step:.3g}, which takes at least {needed} repeats"
            )
    return notes


def ranking(
    results: Sequence[TrialResult],
    direction: str = "max",
    effect: str = "removal",
    *,
    min_effect: float | None = None,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Rank every configuration by importance, with paired statistics and decisions.

    Args:
        results: Every repeat of every trial; one without a final result counts in no
            statistic, but its configuration still gets a row.
        direction: ``"max"`` if a higher metric is better, ``"min"`` otherwise.
        effect: ``"removal"`` (LOCO-like: most harmful removal first) or ``"addition"``
            (keep-one: the component that helps most on its own first).
        min_effect: The smallest effect worth knowing, in metric units; None: nothing is
            ``negligible``.
        alpha: The family-wise error rate of the ``matters`` claims (and the level of the
            equivalence tests).

    Returns:
        One row per configuration (the base included), columns as in the module docstring.
    """
    groups = configurations(results)
    base = next((c for c in groups if c.kind == BASE), None)
    rows = []
    for configuration in groups:
        row = _describe(configuration)
        if configuration.kind == BASE:
            row["delta"] = 0.0 if configuration.by_repeat else math.nan
            row["decision"] = ""
        elif base is None:
            row["note"] = "the study has no base trial to compare with"
        else:
            _compare(row, configuration, base, min_effect)
        if not configuration.by_repeat:
            row["note"] = "no repeat succeeded" if configuration.failed else "no result yet"
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    components = frame["kind"] != BASE
    adjusted, decision = decide(
        frame.loc[components, "p_value"], frame.loc[components, "equivalence_p"], alpha
    )
    frame.loc[components, "p_adjusted"] = adjusted
    frame.loc[components, "decision"] = decision
    frame["significant"] = significance(frame)
    frame["note"] = _reach_note(frame, alpha)
    harm = -frame["delta"] if direction == "max" else frame["delta"]
    if effect == "addition":
        harm = -harm
    frame = frame.assign(_harm=harm).sort_values(
        "_harm", ascending=False, kind="stable", na_position="last"
    )
    frame = frame.drop(columns="_harm").reset_index(drop=True)
    return frame[list(COLUMNS)].astype({"n": int, "failed": int})


def scores(results: Sequence[TrialResult]) -> pd.DataFrame:
    """The repeats x configurations matrix of metrics (NaN where a run has no metric).

    Columns are the configurations' labels (``base``, ``feature:age``...) in trial order; the
    index is the repeat. ``scores.to_numpy()`` is the runs x tasks shape rliable takes per
    algorithm, and each column is a sample of scores for deepsig.
    """
    groups = configurations(results)
    repeats = sorted({r.trial.repeat for r in results})
    data: Mapping[str, list[float]] = {
        c.label: [c.by_repeat.get(r, math.nan) for r in repeats] for c in groups
    }
    frame = pd.DataFrame(data, index=pd.Index(repeats, name="repeat"), dtype=float)
    frame.columns.name = "configuration"
    return frame
