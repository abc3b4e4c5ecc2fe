"""The power planner, and what the printed summary says about repeats and pairing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoablation import ExperimentResult
from autoablation._results.planner import repeats_for, t_power
from tests.helpers import synthetic_results


@pytest.mark.parametrize(
    ("d_z", "level", "repeats"),
    # The paired t-test's repeats for power 0.8 (docs' reference table): 10 at alpha 0.05
    # (11 with the margin for the exact test), 18 for a Holm family of 10 (alpha 0.005).
    [(1.0, 0.05, 11), (1.0, 0.005, 18), (0.5, 0.005, 59), (5.0, 0.005, 9)],
)
def test_repeats_for_a_planned_power(d_z: float, level: float, repeats: int) -> None:
    assert repeats_for(d_z, 0.8, level) == repeats
    assert t_power(d_z, [repeats], level)[0] >= 0.81 or repeats == 9  # 9: the exact test's floor


def test_t_power_matches_statsmodels_where_it_has_an_answer() -> None:
    from statsmodels.stats.power import TTestPower

    sizes = np.arange(4, 30)
    expected = TTestPower().power(1.0, nobs=sizes, alpha=0.05)
    assert t_power(1.0, sizes, 0.05) == pytest.approx(expected, abs=1e-6)
    assert not np.isnan(t_power(4.0, np.arange(8, 14), 0.0125)).any()  # statsmodels gives NaN


def test_plan_reads_each_components_spread_and_pairing() -> None:
    results = synthetic_results({"strong": -0.2, "noise": 0.0}, repeats=6)
    result = ExperimentResult("pilot", results)
    plan = result.plan(min_effect=0.002).set_index("ablated")
    scores = result.scores()
    for name in ("strong", "noise"):
        ours, base = scores[f"feature:{name}"].to_numpy(), scores["base"].to_numpy()
        sd = float(np.std(ours - base, ddof=1))
        row = plan.loc[name]
        assert row["n"] == 6 and row["sd"] == pytest.approx(sd)
        assert row["d_z"] == pytest.approx(0.002 / sd)
        assert row["repeats"] == repeats_for(0.002 / sd, 0.8, 0.05 / 2)
        assert row["correlation"] == pytest.approx(np.corrcoef(ours, base)[0, 1])
        gain = (np.var(ours, ddof=1) + np.var(base, ddof=1)) / sd**2
        assert row["pairing_gain"] == pytest.approx(gain) and gain > 1


def test_plan_says_why_it_cannot_plan() -> None:
    results = synthetic_results({"x": -0.1}, repeats=1)
    with pytest.raises(ValueError, match="plan needs min_effect"):
        ExperimentResult("one", results).plan()
    row = ExperimentResult("one", results, min_effect=0.01).plan().iloc[0]
    assert row["note"] == "fewer than two paired repeats: no spread to plan from"
    assert row["repeats"] is pd.NA
    with pytest.raises(ValueError, match="power must lie in"):
        ExperimentResult("one", results).plan(0.01, power=1.0)


def test_the_summary_says_what_pairing_saved_and_what_would_settle_the_rest() -> None:
    results = synthetic_results({"strong": -0.2, "weak": -0.003, "noise": 0.0}, repeats=3)
    text = str(ExperimentResult("pilot", results, min_effect=0.002))
    table = ExperimentResult("pilot", results, min_effect=0.002).ranking()
    assert "decision" in text.splitlines()[1] and set(table["decision"]) == {"", "undecided"}
    pairing = next(line for line in text.splitlines() if "pairing:" in line)
    assert "median r = " in pairing and "fewer repeats than with unpaired runs" in pairing
    settle = next(line for line in text.splitlines() if "to settle the 3 undecided" in line)
    assert "repeats to detect 0.002 with power 0.8; result.plan(0.002) has each one's" in settle
    unset = str(ExperimentResult("pilot", results))
    assert "nothing is negligible without min_effect" in unset
    assert "give the smallest effect worth knowing, result.plan(min_effect)" in unset
