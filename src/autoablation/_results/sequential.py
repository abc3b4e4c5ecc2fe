"""Sequential repeats: a group-sequential design, fixed before the first look, and its looks.

Instead of paying for the same number of repeats for every component, a sequential study runs
an initial batch, then looks again every few repeats; each component stops on its own once it
is decided:

* ``matters`` when its exact sign-flip p-value reaches the design's efficacy level: Pocock's
  constant boundary for alpha / components (Bonferroni across the family, so the family-wise
  error of these claims stays at most alpha however the looks fall), from the first look whose
  sign-flip floor can reach it (`autoablation._results.boundaries`);
* ``negligible`` when two one-sided sign-flip tests at the futility level put its effect
  inside ±min_effect (the same equivalence test as the fixed ranking's, at a per-look level:
  a futility stop never makes a false "matters" claim, only a possible missed effect, which the
  design's power accounts for);
* ``undecided`` after the look at ``max_repeats``.

The base continues while any component is undecided. A component's look at ``n`` repeats needs
the final results of its repeats 0..n-1 and the base's; it does not wait for other components,
so later repeats are scheduled as earlier ones finish, with no barrier between looks. Decisions
at a look use only the repeats before it, so replaying the looks from the finished runs (what
``autoablation report`` does) gives the decisions the study made.

The driver asks `SequentialDesign.status` after every result: it says which components are
decided and how many more repeats each configuration (the base included) needs next.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from autoablation._core.errors import StudyError
from autoablation._core.trial import BASE, TrialResult
from autoablation._results.boundaries import efficacy_boundary
from autoablation._results.looks import Look
from autoablation._results.paired import equivalence_p, sign_flip_p
from autoablation._results.stats import ALPHA, MATTERS, NEGLIGIBLE, UNDECIDED, configurations

FUTILITY = ALPHA
"""Level of the per-look equivalence test that stops a component as negligible: the fixed
ranking's own (5%), so ``negligible`` means the same in both."""
INITIAL = 6
"""Repeats before the first look: fewer can decide nothing (an exact one-sided test of 5
repeats cannot go under 1/32, of 4 not under 0.05)."""
EVERY = 2
"""Repeats between two looks."""
MAX_REPEATS = 16
"""Default most repeats a sequential study runs."""


@dataclass(frozen=True)
class SequentialDesign:
    """A group-sequential design for a study of ``components`` components.

    Example:
        >>> design = SequentialDesign(components=10, min_effect=0.01)
        >>> design.looks, design.efficacy
        ((6, 8, 10, 12, 14, 16), (10, 0.00213...))

    Attributes:
        components: The family size: how many components are compared with the base.
        min_effect: The smallest effect worth knowing, in metric units (the equivalence margin).
        max_repeats: The last look; no configuration runs more repeats.
        initial: Repeats before the first look.
        every: Repeats between looks.
        alpha: The family-wise error rate of the ``matters`` claims.
        futility: The level of each look's equivalence test.

    Raises:
        StudyError: A setting out of its range, or a design whose last look cannot reach the
            efficacy level (too few ``max_repeats`` for so many components).
    """

    components: int
    min_effect: float
    max_repeats: int = MAX_REPEATS
    initial: int = INITIAL
    every: int = EVERY
    alpha: float = ALPHA
    futility: float = FUTILITY

    def __post_init__(self) -> None:
        checks = (
            ("components", self.components >= 1),
            ("initial", self.initial >= 2),
            ("every", self.every >= 1),
            ("max_repeats", self.max_repeats >= self.initial),
        )
        for name, ok in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not ok:
                raise StudyError(
                    f"sequential design: {name} must be an integer "
                    f"{'of at least ' + str(self.initial) if name == 'max_repeats' else 'above 0'}"
                    f"{' (and at least 2)' if name == 'initial' else ''}; got {value!r}"
                )
        if not (isinstance(self.min_effect, (int, float)) and 0 < self.min_effect < math.inf):
            raise StudyError(f"min_effect must be a positive number; got {self.min_effect!r}")
        for name in ("alpha", "futility"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise StudyError(f"{name} must lie in (0, 0.5); got {getattr(self, name)!r}")
        try:
            self.efficacy  # noqa: B018 - computed now so a design that cannot work is refused
        except ValueError as exc:
            raise StudyError(
                f"max_repeats={self.max_repeats} is too few for {self.components} components: "
                f"{exc}; raise max_repeats or study fewer components"
            ) from exc

    @property
    def looks(self) -> tuple[int, ...]:
        """The repeat counts at which components are looked at."""
        looks = list(range(self.initial, self.max_repeats + 1, self.every))
        if looks[-1] != self.max_repeats:
            looks.append(self.max_repeats)
        return tuple(looks)

    @property
    def efficacy(self) -> tuple[int, float]:
        """The first look at which ``matters`` can be claimed, and the level from there on."""
        return efficacy_boundary(self.looks, self.alpha / self.components)

    def to_dict(self) -> dict[str, Any]:
        """The design and its boundaries, for the journal; `from_dict` reads it back."""
        first, level = self.efficacy
        return {
            "components": self.components,
            "min_effect": self.min_effect,
            "max_repeats": self.max_repeats,
            "initial": self.initial,
            "every": self.every,
            "alpha": self.alpha,
            "futility": self.futility,
            "looks": list(self.looks),
            "efficacy_from": first,
            "efficacy_level": level,
            "test": "exact sign-flip; Bonferroni across components, Pocock across looks",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequentialDesign:
        """Rebuild a design from `to_dict` output (the boundaries are recomputed)."""
        return cls(
            components=int(data["components"]),
            min_effect=float(data["min_effect"]),
            max_repeats=int(data["max_repeats"]),
            initial=int(data["initial"]),
            every=int(data["every"]),
            alpha=float(data["alpha"]),
            futility=float(data["futility"]),
        )

    def status(self, results: Sequence[TrialResult]) -> SequentialStatus:
        """Replay every look the results allow: who is decided, and what to run next.

        Args:
            results: Every run so far, pending ones included (a configuration appears once
                any of its trials is scheduled); a run counts at a look once it is final.

        Raises:
            StudyError: The results hold more components than the design's family, or no
                base trial.
        """
        groups = configurations(results)
        base = next((g for g in groups if g.kind == BASE), None)
        components = [g for g in groups if g.kind != BASE]
        if base is None:
            raise StudyError("a sequential study needs a base trial to compare with")
        if len(components) > self.components:
            raise StudyError(
                f"the results hold {len(components)} components but the sequential design was "
                f"fixed for {self.components}; a design cannot grow after its first look"
            )
        scheduled = _scheduled(results)
        width = self.max_repeats
        differences = np.full((len(components), width), np.nan)
        ready = np.zeros(len(components), dtype=int)
        for row, group in enumerate(components):
            for repeat in range(width):
                if repeat in group.by_repeat and repeat in base.by_repeat:
                    differences[row, repeat] = group.by_repeat[repeat] - base.by_repeat[repeat]
            final = group.final & base.final
            while ready[row] < width and ready[row] in final:
                ready[row] += 1
        outcome = run_looks(self, differences, ready)
        keys = [(g.kind, g.ablated) for g in components]
        looks = tuple(
            Look(*keys[row], **record)
            for row, record in zip(outcome.rows, outcome.records, strict=True)
        )
        wanted = {key: int(w) for key, w in zip(keys, outcome.wanted, strict=True)}
        wanted[(base.kind, base.ablated)] = max([self.initial, *wanted.values()])
        return SequentialStatus(
            decisions={key: str(d) for key, d in zip(keys, outcome.decision, strict=True)},
            wanted=wanted,
            scheduled={key: scheduled.get(key, 0) for key in wanted},
            looks=looks,
            final={key: bool(f) for key, f in zip(keys, outcome.final, strict=True)},
        )


def _scheduled(results: Sequence[TrialResult]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for result in results:
        key = (result.trial.kind, result.trial.ablated)
        counts[key] = max(counts.get(key, 0), result.trial.repeat + 1)
    return counts


@dataclass(frozen=True)
class SequentialStatus:
    """Where a sequential study stands, from `SequentialDesign.status`.

    Attributes:
        decisions: Each component's decision so far, by ``(kind, ablated)``.
        wanted: How many repeats each configuration (the base included) needs in all by its
            next look.
        scheduled: How many repeats of each configuration the results hold (final or not).
        looks: Every look made so far, in order of repeats then components.
        final: Whether each component is done (decided, or undecided at the last look).
    """

    decisions: dict[tuple[str, str], str]
    wanted: dict[tuple[str, str], int]
    scheduled: dict[tuple[str, str], int]
    looks: tuple[Look, ...]
    final: dict[tuple[str, str], bool] = field(default_factory=dict)

    @property
    def more(self) -> dict[tuple[str, str], int]:
        """How many more repeats to schedule for each configuration (0 for most)."""
        return {
            key: max(0, wanted - self.scheduled.get(key, 0)) for key, wanted in self.wanted.items()
        }

    @property
    def finished(self) -> bool:
        """Whether every component is done and nothing more needs to run."""
        return all(self.final.values()) and not any(self.more.values())


@dataclass(frozen=True)
class LookOutcome:
    """What `run_looks` found for a batch of comparisons (one entry per row)."""

    decision: npt.NDArray[np.str_]
    stopped_at: npt.NDArray[np.int_]
    wanted: npt.NDArray[np.int_]
    final: npt.NDArray[np.bool_]
    rows: list[int]
    records: list[dict[str, Any]]


def run_looks(
    design: SequentialDesign,
    differences: npt.ArrayLike,
    ready: npt.ArrayLike | None = None,
    *,
    keep_looks: bool = True,
) -> LookOutcome:
    """Make every look the data allow, for a batch of components (one per row).

    `SequentialDesign.status` calls it for one study; the calibration simulations call it for
    thousands of simulated components at once.

    Args:
        design: The design.
        differences: Paired differences, ``(rows, max_repeats)``; NaN where a run failed.
        ready: For each row, how many leading repeats are final for the component and the
            base (default: all).
        keep_looks: Record every look (for the journal); simulations skip it.
    """
    d = np.asarray(differences, dtype=float)
    rows, width = d.shape
    if width < design.max_repeats:
        raise ValueError(f"differences need {design.max_repeats} columns; got {width}")
    done = np.full(rows, width, dtype=int) if ready is None else np.asarray(ready, dtype=int)
    first, level = design.efficacy
    decision = np.full(rows, UNDECIDED, dtype=object)
    stopped = np.zeros(rows, dtype=int)
    wanted = np.full(rows, design.looks[0], dtype=int)
    final = np.zeros(rows, dtype=bool)
    open_rows = np.ones(rows, dtype=bool)
    looked_rows: list[int] = []
    records: list[dict[str, Any]] = []
    for position, n in enumerate(design.looks):
        waiting = open_rows & (done < n)
        wanted[waiting] = n
        open_rows &= ~waiting
        active = np.flatnonzero(open_rows)
        if not len(active):
            break
        block = d[active, :n]
        present = ~np.isnan(block)
        paired = present.sum(axis=1)
        p = np.full(len(active), np.nan)
        equivalent = np.full(len(active), np.nan)
        mean = np.full(len(active), np.nan)
        for m in np.unique(paired[paired >= 2]):
            members = np.flatnonzero(paired == m)
            values = block[members][present[members]].reshape(len(members), m)
            p[members] = sign_flip_p(values)
            equivalent[members] = equivalence_p(values, design.min_effect)
            mean[members] = values.mean(axis=1)
        matters = (p <= level) if n >= first else np.zeros(len(active), dtype=bool)
        negligible = ~matters & (equivalent <= design.futility)
        decided = np.where(matters, MATTERS, np.where(negligible, NEGLIGIBLE, UNDECIDED))
        last = position == len(design.looks) - 1
        stop = matters | negligible | last
        decision[active] = decided
        stopped[active[stop]] = n
        wanted[active] = n if last else design.looks[min(position + 1, len(design.looks) - 1)]
        wanted[active[stop]] = n
        final[active[stop]] = True
        open_rows[active[stop]] = False
        if keep_looks:
            for index, row in enumerate(active):
                looked_rows.append(int(row))
                records.append(
                    {
                        "repeats": n,
                        "paired": int(paired[index]),
                        "delta": float(mean[index]),
                        "p_value": float(p[index]),
                        "equivalence_p": float(equivalent[index]),
                        "efficacy_level": level if n >= first else None,
                        "decision": str(decided[index]),
                    }
                )
    return LookOutcome(decision.astype(str), stopped, wanted, final, looked_rows, records)
