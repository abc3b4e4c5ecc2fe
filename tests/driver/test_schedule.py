"""Longest expected first: base trials, then by model size, then by observed durations."""

from __future__ import annotations

from typing import Any

from autoablation._driver.controller import Controller
from autoablation._driver.schedule import LongestFirst, config_key
from autoablation._executor.client import ControllerClient
from autoablation._executor.runtime import TrialRuntime
from autoablation._executor.worker import run_worker
from autoablation._study.ablators import with_repeats
from autoablation._wire.local import LocalChannel
from tests.helpers import Recorder, make_trials


def names(trials: Any) -> list[str]:
    return [t.ablated for t in trials]


def test_base_first_then_the_largest_model_then_submission_order() -> None:
    trials = make_trials(5)  # base, f1..f4
    hints = {("feature", "f1"): 10.0, ("feature", "f2"): 30.0, ("feature", "f3"): 10.0}
    hints[("base", "base")] = 1.0  # the base goes first whatever its hint
    order = LongestFirst(trials, hints).order(reversed(trials))
    # f4 has no hint: it counts as average (12.75), between f2 and f1/f3
    assert names(order) == ["base", "f2", "f4", "f1", "f3"]


def test_observed_durations_reorder_the_later_repeats() -> None:
    trials = with_repeats(make_trials(3), 2, study_seed=0)  # base, f1, f2, twice
    hints = {("base", "base"): 100.0, ("feature", "f1"): 90.0, ("feature", "f2"): 10.0}
    scheduler = LongestFirst(trials, hints)
    assert names(scheduler.order(trials)) == ["base", "base", "f1", "f1", "f2", "f2"]
    first = {t.ablated: t for t in trials if t.repeat == 0}
    assert scheduler.observe(first["base"], 50.0)  # its second repeat still waits
    assert scheduler.observe(first["f2"], 40.0)  # f2 took four times its hint's share
    pending = [t for t in trials if t.repeat == 1] + [first["f1"]]
    # base: 50 s seen; f2: 40 s seen; f1 unseen: 90 units x (90 s / 110 units) = 73.6 s
    assert names(scheduler.order(pending)) == ["base", "f1", "f1", "f2"]
    assert round(scheduler.estimate(first["f1"]), 1) == 73.6


def test_a_configuration_without_more_repeats_does_not_ask_for_a_reorder() -> None:
    trials = make_trials(3)
    scheduler = LongestFirst(trials, {config_key(t): 1.0 for t in trials})
    assert not scheduler.observe(trials[1], 3.0)


def test_without_hints_or_durations_submission_order_is_kept() -> None:
    trials = make_trials(4)
    assert names(LongestFirst(trials, {}).order(trials)) == ["base", "f1", "f2", "f3"]


def test_the_controller_hands_out_trials_longest_expected_first() -> None:
    trials = make_trials(4)
    hints = {("feature", "f1"): 1.0, ("feature", "f2"): 3.0, ("feature", "f3"): 2.0}
    recorder = Recorder()
    controller = Controller(trials, scheduler=LongestFirst(trials, hints), listener=recorder)
    controller.start()
    try:
        client = ControllerClient(LocalChannel(controller))
        run_worker(
            client,
            lambda: 1.0,
            TrialRuntime(None, None),
            worker_id="w0",
            info={},
            optimization_key="metric",
        )
        assert controller.wait(timeout=10)
    finally:
        controller.stop()
    by_id = {t.trial_id: t.ablated for t in trials}
    assert [by_id[trial_id] for trial_id, *_ in recorder.started] == ["base", "f2", "f3", "f1"]
