"""The sequential design: looks, decisions, what to run next, and what the journal keeps."""

from __future__ import annotations

import numpy as np
import pytest

from autoablation import ExperimentResult, StudyError, Trial, TrialResult, TrialStatus
from autoablation._core.trial import Component, ComponentKind
from autoablation._results.looks import Look, compare_looks
from autoablation._results.sequential import SequentialDesign

BASE_KEY = ("base", "base")


def trial(name: str, repeat: int) -> Trial:
    if name == "base":
        return Trial.create("base", "base", repeat=repeat)
    component = Component(ComponentKind.FEATURE, name, features=(name,))
    return Trial.create("feature", name, (component,), repeat=repeat)


def runs(
    effects: dict[str, list[float | None]], base: list[float], pending: int = 0
) -> list[TrialResult]:
    """Finished runs (None: failed) of the base and each component, then ``pending`` more."""
    results = []
    for name, metrics in {"base": list(base), **effects}.items():
        for repeat, metric in enumerate(metrics):
            status = TrialStatus.OK if metric is not None else TrialStatus.FAILED
            results.append(TrialResult(trial(name, repeat), status, metric=metric))
        for repeat in range(len(metrics), len(metrics) + pending):
            results.append(TrialResult(trial(name, repeat), TrialStatus.PENDING))
    return results


rng = np.random.default_rng(5)
BASE = list(0.8 + rng.normal(0, 0.02, size=16))
NOISE = rng.normal(0, 0.002, size=16)
STRONG = [b - 0.1 + n for b, n in zip(BASE, NOISE, strict=True)]
NULL = [b + n for b, n in zip(BASE, NOISE[::-1], strict=True)]
UNSURE = [b + 0.05 * (-1) ** i for i, b in enumerate(BASE)]  # +-0.05 around 0, margin 0.02


def test_the_first_look_waits_for_the_initial_batch() -> None:
    design = SequentialDesign(2, min_effect=0.02)
    status = design.status(runs({"strong": STRONG[:3], "null": NULL[:3]}, BASE[:3], pending=3))
    assert status.looks == () and set(status.decisions.values()) == {"undecided"}
    assert status.wanted == {BASE_KEY: 6, ("feature", "strong"): 6, ("feature", "null"): 6}
    assert not any(status.more.values()) and not status.finished


def test_components_stop_on_their_own_and_the_base_goes_on_while_one_is_undecided() -> None:
    design = SequentialDesign(3, min_effect=0.02)
    first, level = design.efficacy
    results = runs({"strong": STRONG[:6], "null": NULL[:6], "unsure": UNSURE[:6]}, BASE[:6])
    status = design.status(results)
    assert status.decisions[("feature", "null")] == "negligible"  # at the first look
    assert status.wanted[("feature", "null")] == 6
    assert status.decisions[("feature", "strong")] == "undecided"  # too early to claim
    assert status.wanted[("feature", "strong")] == 8 and status.more[("feature", "strong")] == 2
    assert status.wanted[BASE_KEY] == 8
    later = design.status(runs({"strong": STRONG[:first], "unsure": UNSURE}, BASE[:first]))
    assert later.decisions[("feature", "strong")] == "matters"
    strong_look = [look for look in later.looks if look.ablated == "strong"][-1]
    assert strong_look.repeats == first and strong_look.p_value == 2 / 2**first <= level
    assert strong_look.efficacy_level == level


def test_no_configuration_runs_beyond_max_repeats() -> None:
    design = SequentialDesign(1, min_effect=0.02, max_repeats=10)
    status = design.status(runs({"unsure": UNSURE[:10]}, BASE[:10]))
    assert status.decisions == {("feature", "unsure"): "undecided"}
    assert status.final == {("feature", "unsure"): True}
    assert status.wanted == {BASE_KEY: 10, ("feature", "unsure"): 10}
    assert status.finished and [look.repeats for look in status.looks] == [6, 8, 10]


def test_a_look_waits_for_its_runs_and_the_bases_but_not_for_other_components() -> None:
    design = SequentialDesign(2, min_effect=0.02)
    results = runs({"null": NULL[:6], "slow": UNSURE[:5]}, BASE[:6])
    results.append(TrialResult(trial("slow", 5), TrialStatus.RUNNING))
    status = design.status(results)
    assert [(look.ablated, look.repeats) for look in status.looks] == [("null", 6)]
    assert status.wanted[("feature", "slow")] == 6 and status.more[("feature", "slow")] == 0


def test_failed_runs_leave_fewer_pairs_at_a_look() -> None:
    design = SequentialDesign(1, min_effect=0.02)
    null: list[float | None] = list(NULL[:6])
    null[2] = None
    (look,) = design.status(runs({"null": null}, BASE[:6])).looks
    assert (look.repeats, look.paired) == (6, 5)


def test_a_design_is_fixed_before_its_first_look() -> None:
    design = SequentialDesign(1, min_effect=0.02)
    with pytest.raises(StudyError, match="results hold 2 components but the sequential design"):
        design.status(runs({"a": NULL[:6], "b": NULL[:6]}, BASE[:6]))
    with pytest.raises(StudyError, match="needs a base trial"):
        design.status([TrialResult(trial("a", 0), TrialStatus.OK, metric=0.5)])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"components": 0}, "components must be an integer above 0; got 0"),
        ({"min_effect": -0.1}, "min_effect must be a positive number; got -0.1"),
        ({"max_repeats": 4}, "max_repeats must be an integer of at least 6; got 4"),
        ({"futility": 0.7}, r"futility must lie in \(0, 0.5\); got 0.7"),
        ({"components": 5000}, "max_repeats=16 is too few for 5000 components"),
    ],
)
def test_bad_designs_are_refused_by_name(settings: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"components": 3, "min_effect": 0.02, **settings}
    with pytest.raises(StudyError, match=message):
        SequentialDesign(**arguments)  # type: ignore[arg-type]


def test_designs_and_looks_round_trip_and_a_changed_look_is_caught() -> None:
    design = SequentialDesign(3, min_effect=0.02, max_repeats=20, every=3)
    document = design.to_dict()
    assert document["looks"] == [6, 9, 12, 15, 18, 20]
    assert (document["efficacy_from"], document["efficacy_level"]) == design.efficacy
    assert SequentialDesign.from_dict(document) == design
    looks = design.status(runs({"null": NULL[:6]}, BASE[:6])).looks
    recorded = [look.to_dict() for look in looks]
    assert [Look.from_dict(r) for r in recorded] == list(looks)
    assert compare_looks(recorded, looks) == []
    changed = [{**recorded[0], "decision": "matters"}]
    assert compare_looks(changed, looks) == [
        f"feature:null at 6 repeats: recorded matters (p {looks[0].p_value:.4g}), "
        f"replayed negligible (p {looks[0].p_value:.4g})"
    ]


def test_a_sequential_results_ranking_takes_the_designs_decisions() -> None:
    design = SequentialDesign(2, min_effect=0.02)
    results = runs({"null": NULL[:6], "unsure": UNSURE[:8]}, BASE[:8])
    result = ExperimentResult("seq", results, min_effect=0.02, sequential=design)
    table = result.ranking().set_index("ablated")
    assert table.loc["null", "decision"] == "negligible" and table["p_adjusted"].isna().all()
    assert [(look.ablated, look.repeats) for look in result.looks()] == [
        ("null", 6),
        ("unsure", 6),
        ("unsure", 8),
    ]
    assert "sequential design: looks at 6, 8, 10, 12, 14, 16 repeats" in str(result)
