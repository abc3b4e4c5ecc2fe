"""Where a study's wall time went: the phases add up, and the summary line names them."""

from __future__ import annotations

import pytest

from autoablation._results.timings import Timings


def timings(**changes: float) -> Timings:
    values = {
        "session_s": 3.0,
        "checks_s": 4.0,
        "prepare_s": 0.5,
        "warmup_wait_s": 1.0,
        "startup_s": 0.5,
        "trials_s": 10.0,
        "wrapup_s": 1.0,
        "total_s": 20.0,
        "training_s": 18.0,
        "imports_s": 9.0,
        "workers": 2,
        **changes,
    }
    return Timings(**values)  # type: ignore[arg-type]


def test_fixed_costs_and_idle_slots() -> None:
    measured = timings()
    assert measured.fixed_s == pytest.approx(10.0)
    assert measured.gaps_s == pytest.approx(2.0)  # 2 slots x 10 s, 18 s of it training


def test_the_line_names_every_fixed_cost_beside_the_trials() -> None:
    line = timings(imports_overlapped=True).line()
    for part in (
        "20.0s",
        "Spark session 3.0s",
        "checks 4.0s",
        "waiting for workers 1.5s",
        "trials 10.0s (18.0s training on 2 workers, 2.0s idle)",
        "9.0s in all, while the driver checked",
    ):
        assert part in line, line


def test_it_round_trips_through_json() -> None:
    measured = timings()
    assert Timings.from_dict(measured.to_dict()) == measured


def test_the_line_names_the_daemons_loads_once_each_and_how_many_loaded() -> None:
    assert "daemon" not in timings().line()
    line = timings(preload_s=6.5, preload_daemons=1).line()
    assert "Spark's Python daemon loaded Keras in 6.5s, once, before forking the workers" in line
    line = timings(preload_s=13.5, preload_daemons=2).line()  # two executors, side by side
    assert "2 Spark Python daemons loaded Keras, 13.5s in all, each once" in line, line
    assert "daemon loaded Keras in" not in line
    older = {
        k: v for k, v in timings().to_dict().items() if k not in {"preload_s", "preload_daemons"}
    }
    assert Timings.from_dict(older).preload_s == 0.0  # a result saved before the fields
    uncounted = {
        k: v for k, v in timings(preload_s=6.5).to_dict().items() if k != "preload_daemons"
    }
    assert "daemon loaded Keras in 6.5s, once" in Timings.from_dict(uncounted).line()
