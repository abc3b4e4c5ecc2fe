"""Plots of a result: each component's effect with its interval, and learning curves.

Drawn with matplotlib's non-interactive Agg backend, imported only here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoablation._core.trial import BASE, TrialResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


TOP = 40
"""Components an effects plot shows by default: the largest effects, if there are more."""
TOP_CURVES = 10
"""Learning curves drawn besides the base's: those of the largest effects."""


def largest_effects(ranking: pd.DataFrame, top: int | None) -> pd.DataFrame:
    """The components' rows (no base) of the ``top`` largest absolute differences, in order.

    Raises:
        ValueError: ``top`` is less than 1.
    """
    if top is not None and top < 1:
        raise ValueError(f"top must be at least 1, or None for every component; got {top}")
    rows = ranking[ranking["kind"] != BASE]
    if top is None or len(rows) <= top:
        return rows
    largest = rows["delta"].abs().sort_values(ascending=False, na_position="last")
    return rows[rows.index.isin(largest.index[:top])]


def effects_figure(
    ranking: pd.DataFrame,
    metric: str,
    direction: str,
    title: str,
    effect: str = "removal",
    top: int | None = TOP,
    *,
    min_effect: float | None = None,
) -> Any:
    """A forest plot: each component's difference to the base with its 95% interval.

    The marker says the decision: filled for ``matters``, a grey square for ``negligible``,
    open for ``undecided``. Red marks the direction that matters (a removal that hurts, or a
    component that helps on its own), blue the opposite. With ``min_effect``, the band of
    negligible effects is shaded. Of more than ``top`` components only the ``top`` largest
    differences are drawn (None draws all), and the title says so: hundreds of rows are
    neither readable nor quick to draw.
    """
    plt = _pyplot()
    rows = largest_effects(ranking, top)
    components = int((ranking["kind"] != BASE).sum())
    if len(rows) < components:
        title = f"{title}\n(the {len(rows)} largest of {components} effects)"
    rows = rows.iloc[::-1]  # most harmful at the top
    height = max(2.5, 0.45 * len(rows) + 1.5)
    figure, axis = plt.subplots(figsize=(8, height))
    y = np.arange(len(rows))
    labels = [f"{a}  ({k})" for a, k in zip(rows["ablated"], rows["kind"], strict=True)]
    delta = rows["delta"].to_numpy(dtype=float)
    low = rows["delta_ci_low"].to_numpy(dtype=float)
    high = rows["delta_ci_high"].to_numpy(dtype=float)
    has_interval = ~np.isnan(low)
    decision = rows["decision"].astype(str).to_numpy()
    worse = delta < 0 if direction == "max" else delta > 0
    matters = ~worse if effect == "addition" else worse
    colours = np.where(matters, "#c0392b", "#2471a3")
    if min_effect is not None:
        axis.axvspan(-min_effect, min_effect, color="#bbbbbb", alpha=0.3, zorder=0)
    if has_interval.any():
        axis.errorbar(
            delta[has_interval],
            y[has_interval],
            xerr=[
                delta[has_interval] - low[has_interval],
                high[has_interval] - delta[has_interval],
            ],
            fmt="none",
            ecolor="#555555",
            elinewidth=1.5,
            capsize=4,
            zorder=1,
        )
    negligible = decision == "negligible"
    others = ~negligible
    axis.scatter(
        delta[others],
        y[others],
        s=60,
        c=np.where(decision[others] == "matters", colours[others], "white"),
        edgecolors=colours[others],
        linewidths=1.8,
        zorder=2,
    )
    if negligible.any():
        axis.scatter(delta[negligible], y[negligible], s=60, marker="s", c="#888888", zorder=2)
    axis.axvline(0.0, color="#333333", linewidth=1, linestyle="--")
    axis.set_yticks(y, labels)
    better = "higher" if direction == "max" else "lower"
    difference = "kept alone minus none kept" if effect == "addition" else "ablated minus base"
    band = f"\nshaded: within \u00b1{min_effect:g} (min_effect)" if min_effect is not None else ""
    axis.set_xlabel(
        f"{metric}: {difference} ({better} is better)\n"
        f"bars: 95% CI; filled: matters, square: negligible, open: undecided{band}"
    )
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    axis.margins(y=0.15)
    figure.tight_layout()
    return figure


def curves_figure(
    results: Sequence[TrialResult],
    title: str,
    only: Collection[tuple[str, str]] | None = None,
) -> Any | None:
    """Learning curves of the broadcast metric: the mean over repeats per configuration.

    ``only`` holds the ``(kind, ablated)`` of the configurations to draw; the base is always
    drawn.
    """
    curves: dict[str, list[dict[int, float]]] = defaultdict(list)
    for result in results:
        trial = result.trial
        if only is not None and trial.kind != BASE and (trial.kind, trial.ablated) not in only:
            continue
        if result.history:
            label = result.trial.ablated if result.trial.kind == BASE else result.trial.label
            curves[label].append({step: value for step, value in result.history})
    if not curves:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 5))
    for label, runs in sorted(curves.items(), key=lambda item: item[0] != BASE):
        steps = sorted({s for run in runs for s in run})
        mean = [np.nanmean([run.get(s, math.nan) for run in runs]) for s in steps]
        width = 2.5 if label == BASE else 1.2
        line = axis.plot(steps, mean, linewidth=width, label=label)[0]
        if len(runs) > 1:
            for run in runs:
                points = sorted(run.items())
                axis.plot(*zip(*points, strict=True), color=line.get_color(), alpha=0.15)
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("step (epoch)")
    axis.set_ylabel("broadcast metric")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def save(figure: Any, path: Path) -> Path:
    """Write a figure as PNG and free it."""
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
