"""The result of an experiment: every trial run, a ranking of the components, and plots.

``print(result)`` shows the ranking like the AutoAblation paper's Tables 1 and 2 (see
`autoablation._results.table`): components from the most harmful removal to the most
beneficial, the base among them, each with its mean metric, its paired difference to the base
and, with repeats, 95% intervals, Holm-adjusted p-values and a decision.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from autoablation._core.trial import BASE, TENSORFLOW_IMPORT, Trial, TrialResult, TrialStatus
from autoablation._results import plots as _plots
from autoablation._results import table as _table
from autoablation._results.timings import Timings

if TYPE_CHECKING:
    from autoablation._results.looks import Look
    from autoablation._results.sequential import SequentialDesign

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
    "split_seed",
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
        notes: What the run found worth knowing beside the results (more workers than Spark
            has slots, say); printed under the ranking.
        min_effect: The smallest effect worth knowing (metric units), if the study set one:
            components whose effect lies provably inside it are ``negligible``.
        vary_split: Whether each repeat drew its own train/test split (None: not recorded).
        sequential: The group-sequential design the study ran under, if any: its looks, not
            a fixed-sample test, decide.
        backend: The Keras backend the trials trained on (``"tensorflow"``, ``"jax"``,
            ``"torch"``); None when not known.
        timings: Where the run's wall time went (`Timings`: the Spark session, the checks,
            the workers' start-up, the trials); None for a result read back from a journal.
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
        notes: Sequence[str] = (),
        min_effect: float | None = None,
        vary_split: bool | None = None,
        sequential: SequentialDesign | None = None,
        backend: str | None = None,
        timings: Timings | None = None,
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
        self.notes = list(notes)
        self.min_effect = min_effect
        self.vary_split = vary_split
        self.sequential = sequential
        self.backend = backend
        self.timings = timings

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
        ``attempts``, ``repeat``, ``seed``, ``split_seed`` (the seed of the repeat's train/test
        split; empty for the study's one fixed split), then any other value the training
        function returned in its dict (prefixed ``output_`` where the name is taken).
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
                "split_seed": t.trial.split_seed,
            }
            for key, value in t.outputs.items():
                row[f"output_{key}" if key in COLUMNS else key] = value
            rows.append(row)
        frame = pd.DataFrame(rows, columns=None if rows else list(COLUMNS))
        return frame.astype({"metric": "float64", "duration_s": "float64"})

    def ranking(self) -> pd.DataFrame:
        """One row per component (and the base), most harmful removal first.

        Columns: ``ablated``, ``kind``, ``n`` (successful repeats), ``failed``, ``mean``,
        ``std``, ``ci_low``, ``ci_high`` (95%), ``delta`` (component minus base, paired by
        repeat), ``delta_ci_low``, ``delta_ci_high`` (95% Student-t; empty when the differences
        do not vary), ``p_value`` (exact sign-flip test against the base), ``p_adjusted``
        (Holm across components), ``equivalence_p`` (two one-sided tests against
        ±``min_effect``), ``decision`` (``matters``: p_adjusted <= 0.05; ``negligible``:
        equivalence_p <= 0.05; else ``undecided``), ``significant`` (decision is ``matters``),
        ``note`` (why a statistic is empty, e.g. a single repeat). In a sequential study the
        design's looks decide and ``p_adjusted`` is empty.
        """
        from autoablation._results.stats import ranking, significance

        table = ranking(self.trials, self.direction, self.effect, min_effect=self.min_effect)
        if self.sequential is None or table.empty:
            return table
        decisions = self.sequential.status(self.trials).decisions
        keys = list(zip(table["kind"], table["ablated"], strict=True))
        table["decision"] = [
            decisions.get(key, table.at[i, "decision"]) for i, key in enumerate(keys)
        ]
        table["p_adjusted"] = float("nan")
        table["significant"] = significance(table)
        return table

    def scores(self) -> pd.DataFrame:
        """The repeats x configurations matrix of the metric (NaN where a run has none).

        Columns are the configurations (``base``, ``feature:age``...), rows the repeats: the
        shape rliable takes per algorithm (``{"base": scores[["base"]].to_numpy()}``) and
        deepsig takes per model (``scores["base"]``).
        """
        from autoablation._results.stats import scores

        return scores(self.trials)

    def plan(self, min_effect: float | None = None, power: float = 0.8) -> pd.DataFrame:
        """Per component, the repeats needed to detect ``min_effect`` with ``power``.

        Read from this study as a pilot: the observed spread of each component's paired
        differences, with the family-wise correction in force. Columns: ``ablated``,
        ``kind``, ``n``, ``sd`` (of the paired differences), ``d_z`` (min_effect / sd),
        ``repeats`` (needed in all), ``correlation`` (of the component's runs with the
        base's), ``pairing_gain`` (how many times fewer repeats pairing needs), ``note``.

        Example:
            >>> result.plan(min_effect=0.01)  # accuracy: one point

        Args:
            min_effect: The effect to detect, in metric units; default: the study's own.
            power: The chance of finding it, if it is there.

        Raises:
            ValueError: No ``min_effect`` given and the study set none; or a bad value.
        """
        from autoablation._results.planner import plan

        effect = self.min_effect if min_effect is None else min_effect
        if effect is None:
            raise ValueError(
                "plan needs min_effect, the smallest effect worth knowing in metric units "
                "(e.g. result.plan(min_effect=0.01)); this study set none"
            )
        return plan(self.trials, effect, power)

    def looks(self) -> list[Look]:
        """Every look of a sequential study, replayed from its runs (empty otherwise)."""
        if self.sequential is None:
            return []
        return list(self.sequential.status(self.trials).looks)

    def plot(self, path: str | os.PathLike[str], *, top: int | None = _plots.TOP) -> list[Path]:
        """Write the effects plot to ``path`` (PNG), and learning curves next to it.

        The first figure shows each component's difference to the base with its 95% interval,
        marked by its decision (filled: matters; grey square: negligible; open: undecided) and,
        when the study set ``min_effect``, the band of negligible effects. When trials
        broadcast metrics, a second figure, ``<name>-curves.png``, shows their mean learning
        curves: the base's and those of the 10 largest effects.

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
            ranking,
            self.optimization_key,
            self.direction,
            title,
            self.effect,
            top,
            min_effect=self.min_effect,
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

    def _sequential_line(self) -> str | None:
        design = self.sequential
        if design is None:
            return None
        first, level = design.efficacy
        return (
            f"  sequential design: looks at {', '.join(map(str, design.looks))} repeats; "
            f"matters: sign-flip p <= {level:.3g} from {first} repeats (alpha {design.alpha:g} "
            f"over {design.components} components); negligible: equivalence test "
            f"(p <= {design.futility:g}) inside +-{design.min_effect:g}"
        )

    def __str__(self) -> str:
        from autoablation._results.planner import pairing

        ranking = self.ranking()
        if ranking.empty:
            return self._header() + "\n(no trials)"
        lines = [self._header(), *_table.ranking_lines(ranking)]
        repeated = bool(ranking["n"].max() > 1)
        components = int((ranking["kind"] != BASE).sum())
        if repeated:
            lines.append(_table.method_line(components, self.min_effect, self._sequential_line()))
        notes = sorted({n for n in ranking["note"] if n})
        lines.extend(f"  note: {note}" for note in [*notes, *self._run_notes()])
        if repeated:
            plan = None if self.min_effect is None else self.plan()
            extra = (
                _table.pairing_line(*pairing(self.trials), int(ranking["n"].max())),
                _table.settle_line(ranking, plan, self.min_effect),
            )
            lines.extend(line for line in extra if line)
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

    def _run_notes(self) -> list[str]:
        """The run's notes, and where its time went (or the workers' TensorFlow imports)."""
        imports = [
            float(t.outputs[TENSORFLOW_IMPORT])
            for t in self.trials
            if isinstance(t.outputs.get(TENSORFLOW_IMPORT), (int, float))
        ]
        projected = self._projection_notes()
        if self.timings is not None:
            return [*self.notes, *projected, self.timings.line()]
        if not imports:
            return [*self.notes, *projected]
        ran = sum(t.duration_s or 0.0 for t in self.trials)
        workers = f"{len(imports)} worker{'s' if len(imports) > 1 else ''}"
        note = (
            f"{workers} spent {sum(imports):.1f}s importing TensorFlow before their first trial "
            f"(at most {max(imports):.1f}s each), beside {ran:.1f}s of training functions"
        )
        return [*self.notes, *projected, note]

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>note: {html.escape(note)}</p>" for note in self._run_notes())
        table = self.ranking().to_html(index=False, na_rep="")
        return f"<p>{html.escape(self._header())}</p>" + table + notes

    def __repr__(self) -> str:
        return f"<ExperimentResult {self.name!r}: {len(self.trials)} trials>"


def load(experiment_dir: str | os.PathLike[str]) -> ExperimentResult:
    """The result of a finished or interrupted study, read from its directory (no Spark).

    Trials the journal has no final result for appear with status ``pending``. The options
    that decide the statistics (``min_effect``, the sequential design) are read back too, so
    the ranking recomputes the study's decisions from its raw runs; a journal written before
    they existed reads as a study without them.

    Raises:
        FileNotFoundError: The directory holds no journal.
    """
    from autoablation._results.sequential import SequentialDesign
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
        notes=document.get("notes", ()),
        min_effect=options.get("min_effect"),
        vary_split=options.get("vary_split"),
        sequential=None if state.design is None else SequentialDesign.from_dict(state.design),
        backend=fingerprint.get("backend", FINGERPRINT_DEFAULTS["backend"]),
    )
