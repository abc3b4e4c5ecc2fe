"""The looks of a sequential study: a component's statistics at a look, as the journal keeps them.

`autoablation._results.sequential` makes the looks; the journal records each as a ``look``
event; ``autoablation report`` replays them from the raw runs and `compare_looks` says whether
the study's decisions are recomputed exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Look:
    """One component looked at: its statistics at that look and what they decided.

    Attributes:
        kind: The component's kind.
        ablated: The component's name.
        repeats: The look's repeat count (repeats 0..repeats-1 were final).
        paired: Of those, the repeats where both the component and the base succeeded.
        delta: The mean paired difference.
        p_value: The exact sign-flip p-value.
        equivalence_p: The TOST p-value against ±min_effect.
        efficacy_level: The level p_value had to reach (None before the first efficacy look).
        decision: ``matters``, ``negligible`` or ``undecided``.
    """

    kind: str
    ablated: str
    repeats: int
    paired: int
    delta: float
    p_value: float
    equivalence_p: float
    efficacy_level: float | None
    decision: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (the journal's ``look`` event)."""
        return {
            "kind": self.kind,
            "ablated": self.ablated,
            "repeats": self.repeats,
            "paired": self.paired,
            "delta": self.delta,
            "p_value": self.p_value,
            "equivalence_p": self.equivalence_p,
            "efficacy_level": self.efficacy_level,
            "decision": self.decision,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Look:
        """Rebuild a look from `to_dict` output."""
        level = data.get("efficacy_level")

        def number(key: str) -> float:
            value = data.get(key)
            return math.nan if value is None else float(value)

        return cls(
            kind=str(data["kind"]),
            ablated=str(data["ablated"]),
            repeats=int(data["repeats"]),
            paired=int(data["paired"]),
            delta=number("delta"),
            p_value=number("p_value"),
            equivalence_p=number("equivalence_p"),
            efficacy_level=None if level is None else float(level),
            decision=str(data["decision"]),
        )


def compare_looks(recorded: Sequence[Mapping[str, Any]], replayed: Sequence[Look]) -> list[str]:
    """Where the looks a journal recorded differ from those replayed from its runs.

    Each recorded look must be replayed with the same decision and p-values; an empty list
    means the study's decisions are recomputed exactly.
    """
    by_key = {(look.kind, look.ablated, look.repeats): look for look in replayed}
    problems = []
    for data in recorded:
        look = Look.from_dict(data)
        again = by_key.get((look.kind, look.ablated, look.repeats))
        name = f"{look.kind}:{look.ablated} at {look.repeats} repeats"
        if again is None:
            problems.append(f"{name}: recorded, but the runs do not reach that look")
        elif again.decision != look.decision or not _close(again.p_value, look.p_value):
            problems.append(
                f"{name}: recorded {look.decision} (p {look.p_value:.4g}), "
                f"replayed {again.decision} (p {again.p_value:.4g})"
            )
    return problems


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
