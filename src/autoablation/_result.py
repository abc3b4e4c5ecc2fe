"""The result of an experiment: one row per trial, and a ranked table of the components.

The ranked table reads like the AutoAblation paper's Tables 1 and 2: components sorted from the
most harmful removal to the most beneficial, the base trial among them, with each metric's
difference to the base.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from autoablation._trial import BASE, TrialResult, TrialStatus

COLUMNS = (
    "trial_id",
    "kind",
    "ablated",
    "metric",
    "status",
    "error",
    "duration_s",
    "started_at",
    "finished_at",
    "worker",
    "attempts",
    "repeat",
    "seed",
)


class ExperimentResult:
    """Every trial's outcome, with tables for analysis and display.

    Attributes:
        name: The experiment's name.
        trials: One `TrialResult` per trial, in trial order.
        optimization_key: The metric's name.
        direction: ``"max"`` if higher is better, ``"min"`` otherwise.
        ablator: The policy that produced the trials.
        duration_s: Wall time of the experiment on the driver.
        job_group: The Spark job group the trials ran under (empty if none).
    """

    def __init__(
        self,
        name: str,
        trials: Sequence[TrialResult],
        *,
        optimization_key: str = "metric",
        direction: str = "max",
        ablator: str = "loco",
        duration_s: float | None = None,
        job_group: str = "",
    ) -> None:
        self.name = name
        self.trials = list(trials)
        self.optimization_key = optimization_key
        self.direction = direction
        self.ablator = ablator
        self.duration_s = duration_s
        self.job_group = job_group

    @property
    def base(self) -> TrialResult | None:
        """The base trial's result, if the study had one."""
        return next((t for t in self.trials if t.trial.kind == BASE), None)

    @property
    def ok(self) -> bool:
        """Whether every trial succeeded."""
        return all(t.status is TrialStatus.OK for t in self.trials)

    def to_pandas(self) -> pd.DataFrame:
        """One row per trial.

        Columns: ``trial_id``, ``kind``, ``ablated``, ``metric``, ``status``, ``error``,
        ``duration_s``, ``started_at``, ``finished_at`` (epoch seconds), ``worker``,
        ``attempts``, ``repeat``, ``seed``, then any other value the training function returned
        in its dict (prefixed ``output_`` where the name is taken).
        """
        rows: list[dict[str, Any]] = []
        for t in self.trials:
            row: dict[str, Any] = {
                "trial_id": t.trial.trial_id,
                "kind": t.trial.kind,
                "ablated": t.trial.ablated,
                "metric": t.metric,
                "status": t.status.value,
                "error": t.error,
                "duration_s": t.duration_s,
                "started_at": t.started_at,
                "finished_at": t.finished_at,
                "worker": t.worker,
                "attempts": t.attempts,
                "repeat": t.trial.repeat,
                "seed": t.trial.seed,
            }
            for key, value in t.outputs.items():
                row[f"output_{key}" if key in COLUMNS else key] = value
            rows.append(row)
        frame = pd.DataFrame(rows, columns=None if rows else list(COLUMNS))
        return frame.astype({"metric": "float64", "duration_s": "float64"})

    def table(self) -> pd.DataFrame:
        """Components ranked from the most harmful removal to the most beneficial.

        Successful trials come first, sorted so that the worst metric (by ``direction``)
        leads; ``delta`` is the metric minus the base trial's. Trials that did not succeed
        follow, unranked.
        """
        frame = self.to_pandas()
        base = self.base
        base_metric = base.metric if base is not None and base.status is TrialStatus.OK else None
        ok = frame[frame["status"] == TrialStatus.OK.value].sort_values(
            "metric", ascending=self.direction == "max", kind="stable"
        )
        ok = ok.assign(rank=pd.array(range(1, len(ok) + 1), dtype="Int64"))
        rest = frame[frame["status"] != TrialStatus.OK.value]
        rest = rest.assign(rank=pd.array([None] * len(rest), dtype="Int64"))
        ranked = pd.concat([ok, rest]) if len(rest) else ok
        ranked = ranked.assign(
            delta=ranked["metric"] - base_metric if base_metric is not None else float("nan")
        )
        return ranked[
            ["rank", "kind", "ablated", "metric", "delta", "status", "duration_s", "worker"]
        ].reset_index(drop=True)

    def _header(self) -> str:
        better = "higher" if self.direction == "max" else "lower"
        counts = pd.Series([t.status.value for t in self.trials]).value_counts()
        states = ", ".join(f"{n} {s}" for s, n in counts.items())
        took = f", {self.duration_s:.1f}s" if self.duration_s is not None else ""
        return (
            f"Ablation study {self.name!r} ({self.ablator}): {len(self.trials)} trials "
            f"({states}), {self.optimization_key!r}, {better} is better{took}"
        )

    def __str__(self) -> str:
        table = self.table()
        if table.empty:
            return self._header() + "\n(no trials)"
        rows = [
            [
                "" if pd.isna(rank) else str(int(rank)),
                kind,
                ablated,
                "" if pd.isna(metric) else f"{metric:.4f}",
                "" if pd.isna(delta) or kind == BASE else f"{delta:+.4f}",
                status,
                "" if pd.isna(duration) else f"{duration:.1f}",
                worker,
            ]
            for rank, kind, ablated, metric, delta, status, duration, worker in table.itertuples(
                index=False
            )
        ]
        lines = [self._header(), *_align(_HEADINGS, rows, right={0, 3, 4, 6})]
        for t in self.trials:
            if t.status is not TrialStatus.OK:
                reason = t.error.strip().splitlines()[-1] if t.error.strip() else t.status.value
                lines.append(f"  {t.trial.label}: {reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<p>{self._header()}</p>" + self.table().to_html(index=False, na_rep="")

    def __repr__(self) -> str:
        return f"<ExperimentResult {self.name!r}: {len(self.trials)} trials>"


_HEADINGS = ["rank", "kind", "ablated", "metric", "vs base", "status", "time (s)", "worker"]


def _align(headings: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Lines of a plain-text table: numbers right-aligned, text left-aligned."""
    columns = zip(headings, *rows, strict=True)
    widths = [max(len(str(cell)) for cell in column) for column in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headings)] + [line(row) for row in rows]
