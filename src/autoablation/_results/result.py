"""The result of an experiment: every trial run, a ranking of the components, and plots.

``print(result)`` shows the ranking like the AutoAblation paper's Tables 1 and 2: components
from the most harmful removal to the most beneficial, the base among them, each with its mean
metric, its paired difference to the base and, with repeats, 95% intervals and Holm-adjusted
p-values.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from autoablation._core.trial import BASE, Trial, TrialResult, TrialStatus
from autoablation._results import plots as _plots

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
    """Every trial run's outcome, with a ranking of the components and plots.

    Attributes:
        name: The experiment's name.
        trials: One `TrialResult` per trial run (every repeat), in trial order.
        optimization_key: The metric's name.
        direction: ``"max"`` if higher is better, ``"min"`` otherwise.
        ablator: The policy that produced the trials.
        duration_s: Wall time of the experiment on the driver.
        job_group: The Spark job group the trials ran under (empty if none).
        experiment_dir: Where the journal, logs and plots are, if anywhere.
        effect: ``"removal"`` when trials lack a component the base has (LOCO, pairs),
            ``"addition"`` when they have one the base lacks (keep-one).
        projections: The configurations (by trial label, e.g. ``"layer:block_b"``) whose
            model got a learned projection because the removal could not build without one,
            each with a description of every projection; the others have none.
        backend: The Keras backend the trials trained on (``"tensorflow"``, ``"jax"``,
            ``"torch"``); None when not known.
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
        experiment_dir: Path | None = None,
        effect: str = "removal",
        projections: Mapping[str, Sequence[str]] | None = None,
        backend: str | None = None,
    ) -> None:
        self.name = name
        self.trials = list(trials)
        self.optimization_key = optimization_key
        self.direction = direction
        self.ablator = ablator
        self.duration_s = duration_s
        self.job_group = job_group
        self.experiment_dir = experiment_dir
        self.effect = effect
        self.projections: dict[str, list[str]] = {
            label: list(items) for label, items in (projections or {}).items()
        }
        self.backend = backend

    @property
    def base(self) -> TrialResult | None:
        """The base trial's first result, if the study had one."""
        return next((t for t in self.trials if t.trial.kind == BASE), None)

    @property
    def ok(self) -> bool:
        """Whether every trial succeeded."""
        return all(t.status is TrialStatus.OK for t in self.trials)

    @property
    def repeats(self) -> int:
        """How many repeats the study ran (the highest repeat index plus one)."""
        return 1 + max((t.trial.repeat for t in self.trials), default=0)

    def to_pandas(self) -> pd.DataFrame:
        """One row per trial run.

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

    def ranking(self) -> pd.DataFrame:
        """One row per component (and the base), most harmful removal first.

        Columns: ``ablated``, ``kind``, ``n`` (successful repeats), ``failed``, ``mean``,
        ``std``, ``ci_low``, ``ci_high`` (95%), ``delta`` (component minus base, paired by seed),
        ``delta_ci_low``, ``delta_ci_high``, ``p_value`` (paired t-test against the base),
        ``p_adjusted`` (Holm across components), ``significant`` (p_adjusted < 0.05), ``note``
        (why a statistic is empty, e.g. a single repeat).
        """
        from autoablation._results.stats import ranking

        return ranking(self.trials, self.direction, self.effect)

    def plot(self, path: str | os.PathLike[str], *, top: int | None = _plots.TOP) -> list[Path]:
        """Write the effects plot to ``path`` (PNG), and learning curves next to it.

        The first figure shows each component's difference to the base with its 95% interval
        (filled markers: significant after Holm correction). When trials broadcast metrics, a
        second figure, ``<name>-curves.png``, shows their mean learning curves: the base's
        and those of the 10 largest effects.

        Args:
            path: Where to write the effects plot.
            top: Of more components, draw only the ``top`` largest effects (the title says
                how many there are); None draws every one.

        Returns:
            The paths written.

        Raises:
            ValueError: ``top`` is less than 1.
        """
        target = Path(path)
        verb = "keeping" if self.effect == "addition" else "removing"
        title = f"{self.name}: effect of {verb} each component"
        ranking = self.ranking()
        figure = _plots.effects_figure(
            ranking, self.optimization_key, self.direction, title, self.effect, top
        )
        written = [_plots.save(figure, target)]
        largest = _plots.largest_effects(ranking, _plots.TOP_CURVES)
        shown = set(zip(largest["kind"], largest["ablated"], strict=True))
        curves = _plots.curves_figure(self.trials, f"{self.name}: learning curves", shown)
        if curves is not None:
            written.append(
                _plots.save(curves, target.with_name(f"{target.stem}-curves{target.suffix}"))
            )
        return written

    def _header(self) -> str:
        better = "higher" if self.direction == "max" else "lower"
        counts = pd.Series([t.status.value for t in self.trials]).value_counts()
        states = ", ".join(f"{n} {s}" for s, n in counts.items())
        repeats = f", {self.repeats} repeats" if self.repeats > 1 else ""
        took = f", {self.duration_s:.1f}s" if self.duration_s is not None else ""
        keras = f", Keras on {self.backend}" if self.backend else ""
        return (
            f"Ablation study {self.name!r} ({self.ablator}{repeats}): {len(self.trials)} trials "
            f"({states}), {self.optimization_key!r}, {better} is better{keras}{took}"
        )

    def __str__(self) -> str:
        ranking = self.ranking()
        if ranking.empty:
            return self._header() + "\n(no trials)"
        repeated = bool(ranking["n"].max() > 1)
        headings = ["rank", "kind", "ablated", "n", "metric", "vs base"]
        if repeated:
            headings.append("p (Holm)")
        rows = []
        records: list[dict[Any, Any]] = ranking.to_dict("records")
        for rank, row in enumerate(records, 1):
            n = f"{row['n']}/{row['n'] + row['failed']}" if row["failed"] else str(row["n"])
            metric = _number(row["mean"], row["ci_low"], row["ci_high"], signed=False)
            delta = (
                ""
                if row["kind"] == BASE
                else _number(row["delta"], row["delta_ci_low"], row["delta_ci_high"], signed=True)
            )
            cells = [str(rank) if row["n"] else "", str(row["kind"]), str(row["ablated"]), n]
            cells += [metric, delta]
            if repeated:
                p = "" if pd.isna(row["p_adjusted"]) else f"{row['p_adjusted']:.3g}"
                cells.append(p + (" *" if row["significant"] is True else ""))
            rows.append(cells)
        lines = [self._header(), *_align(headings, rows, right={0, 3})]
        if repeated:
            lines.append("  [..]: 95% interval; *: significant after Holm correction (p < 0.05)")
        notes = sorted({n for n in ranking["note"] if n})
        lines.extend(f"  note: {note}" for note in notes)
        lines.extend(f"  note: {note}" for note in self._projection_notes())
        for t in self.trials:
            if t.status.is_final and t.status is not TrialStatus.OK:
                lines.append(f"  {t.trial.tag}: {t.reason}")
        pending = sum(1 for t in self.trials if not t.status.is_final)
        if pending:
            lines.append(f"  {pending} trials have no result yet")
        return "\n".join(lines)

    def _projection_notes(self) -> list[str]:
        return [
            f"{label} trained with a learned projection, as its removal could not build "
            f"without one: {'; '.join(projections)}"
            for label, projections in self.projections.items()
        ]

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>note: {html.escape(n)}</p>" for n in self._projection_notes())
        return f"<p>{self._header()}</p>" + self.ranking().to_html(index=False, na_rep="") + notes

    def __repr__(self) -> str:
        return f"<ExperimentResult {self.name!r}: {len(self.trials)} trials>"


def _number(value: float, low: float, high: float, *, signed: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    form = "{:+.4f}" if signed else "{:.4f}"
    text = form.format(value)
    if not math.isnan(low):
        text += f" [{form.format(low)}, {form.format(high)}]"
    return text


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


def load(experiment_dir: str | os.PathLike[str]) -> ExperimentResult:
    """The result of a finished or interrupted study, read from its directory (no Spark).

    Trials the journal has no final result for appear with status ``pending``.

    Raises:
        FileNotFoundError: The directory holds no journal.
    """
    from autoablation._results.store import FINGERPRINT_DEFAULTS, JOURNAL, STUDY, read_journal

    directory = Path(experiment_dir)
    journal = directory / JOURNAL
    if not journal.exists():
        raise FileNotFoundError(f"{directory} holds no autoablation journal ({JOURNAL})")
    state = read_journal(journal)
    study_file = directory / STUDY
    document = json.loads(study_file.read_text()) if study_file.exists() else {}
    trials = [Trial.from_dict(t) for t in document.get("trials", [])] or list(state.trials.values())
    options = document.get("options", state.options)
    fingerprint = document.get("fingerprint") or state.fingerprint or {}
    results = [
        state.results.get(t.trial_id)
        or TrialResult(t, TrialStatus.PENDING, history=tuple(state.histories.get(t.trial_id, ())))
        for t in trials
    ]
    return ExperimentResult(
        document.get("name", directory.name),
        results,
        optimization_key=options.get("optimization_key", "metric"),
        direction=options.get("direction", "max"),
        ablator=options.get("ablator", "loco"),
        experiment_dir=directory,
        effect=options.get("effect", "removal"),
        projections=document.get("projections") or {},
        backend=fingerprint.get("backend", FINGERPRINT_DEFAULTS["backend"]),
    )
