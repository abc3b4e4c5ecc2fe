"""The printed ranking: ``print(result)``, like the AutoAblation paper's Tables 1 and 2.

Components from the most harmful removal to the most beneficial, the base among them, each
with its mean metric, its paired difference to the base and, with repeats, 95% intervals,
Holm-adjusted p-values and a decision; then one line per thing a reader must know to trust it:
how decisions were made, why a statistic is empty, what pairing saved, and how many repeats
would settle what is still undecided.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from autoablation._core.trial import BASE
from autoablation._results.stats import ALPHA, UNDECIDED


def number(value: float, low: float, high: float, *, signed: bool) -> str:
    """A value with its interval, ``+0.0123 [+0.0100, +0.0150]``; empty for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    form = "{:+.4f}" if signed else "{:.4f}"
    text = form.format(value)
    if not math.isnan(low):
        text += f" [{form.format(low)}, {form.format(high)}]"
    return text


def align(headings: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Lines of a plain-text table: numbers right-aligned, text left-aligned."""
    columns = zip(headings, *rows, strict=True)
    widths = [max(len(str(cell)) for cell in column) for column in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headings)] + [line(row) for row in rows]


def ranking_lines(ranking: pd.DataFrame) -> list[str]:
    """The table itself: a heading line and one line per configuration."""
    repeated = bool(ranking["n"].max() > 1)
    headings = ["rank", "kind", "ablated", "n", "metric", "vs base"]
    if repeated:
        headings += ["p (Holm)", "decision"]
    rows = []
    records: list[dict[Any, Any]] = ranking.to_dict("records")
    for rank, row in enumerate(records, 1):
        n = f"{row['n']}/{row['n'] + row['failed']}" if row["failed"] else str(row["n"])
        metric = number(row["mean"], row["ci_low"], row["ci_high"], signed=False)
        delta = (
            ""
            if row["kind"] == BASE
            else number(row["delta"], row["delta_ci_low"], row["delta_ci_high"], signed=True)
        )
        cells = [str(rank) if row["n"] else "", str(row["kind"]), str(row["ablated"]), n]
        cells += [metric, delta]
        if repeated:
            cells.append("" if pd.isna(row["p_adjusted"]) else f"{row['p_adjusted']:.3g}")
            cells.append(str(row["decision"]))
        rows.append(cells)
    return align(headings, rows, right={0, 3})


def method_line(components: int, min_effect: float | None, sequential: str | None) -> str:
    """How the decisions were made, in one line."""
    if sequential is not None:
        return "  " + sequential
    margin = (
        f"negligible: an equivalence test (p <= {ALPHA:g}) puts it inside +-{min_effect:g}"
        if min_effect is not None
        else "nothing is negligible without min_effect (launch(..., min_effect=...))"
    )
    return (
        f"  [..]: 95% interval; p (Holm): exact sign-flip test, Holm-adjusted across "
        f"{components} components; matters: p (Holm) <= {ALPHA:g}; {margin}"
    )


def pairing_line(correlation: float, gain: float, repeats: int) -> str | None:
    """What pairing saved, or None when no component has the repeats to tell."""
    if math.isnan(correlation) or math.isnan(gain):
        return None
    saved = (
        f"paired, an effect needs {gain:.1f}x fewer repeats than with unpaired runs"
        if gain > 1.05
        else "pairing saved nothing here"
    )
    return (
        f"  pairing: components' runs correlate with the base's (median r = {correlation:.2f} "
        f"over {repeats} repeats); {saved}"
    )


def settle_line(
    ranking: pd.DataFrame, plan: pd.DataFrame | None, min_effect: float | None
) -> str | None:
    """How many repeats would settle the undecided components, in one line."""
    undecided = ranking[(ranking["kind"] != BASE) & (ranking["decision"] == UNDECIDED)]
    if undecided.empty:
        return None
    count = f"{len(undecided)} undecided component{'s' if len(undecided) > 1 else ''}"
    if min_effect is None or plan is None:
        return (
            f"  to settle the {count}: give the smallest effect worth knowing, "
            "result.plan(min_effect) says how many repeats"
        )
    keys = set(zip(undecided["kind"], undecided["ablated"], strict=True))
    rows = plan[[(k, a) in keys for k, a in zip(plan["kind"], plan["ablated"], strict=True)]]
    needed = rows["repeats"].dropna()
    if needed.empty:
        return (
            f"  to settle the {count}: too little spread in these repeats to plan from; "
            "run a few more"
        )
    low, high = int(needed.min()), int(needed.max())
    span = str(high) if low == high else f"{low} to {high}"
    unknown = len(rows) - len(needed)
    rest = f" ({unknown} cannot be planned yet)" if unknown else ""
    return (
        f"  to settle the {count}: about {span} repeats to detect {min_effect:g} with power "
        f"0.8{rest}; result.plan({min_effect:g}) has each one's"
    )
