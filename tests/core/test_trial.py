"""Trials and results as values: round trips, tags, reasons."""

from __future__ import annotations

import math

from autoablation import Component, ComponentKind, Trial, TrialResult, TrialStatus


def feature(name: str) -> Component:
    return Component(ComponentKind.FEATURE, name, features=(name,))


def test_a_trial_and_its_result_round_trip_through_json_values() -> None:
    layer = Component(ComponentKind.MODULE, "m0..m1", modules=(("m0", "m1"),))
    trial = Trial.create("module", "m0..m1", (layer, feature("age")), repeat=2, seed=7)
    result = TrialResult(
        trial,
        TrialStatus.OK,
        metric=0.5,
        started_at=1.0,
        finished_at=3.5,
        worker="w",
        outputs={"loss": 0.1},
        history=((0, 0.25), (1, math.nan)),
    )
    back = TrialResult.from_dict(result.to_dict())
    assert back.trial == trial and back.metric == 0.5 and back.duration_s == 2.5
    assert back.history[0] == (0, 0.25) and math.isnan(back.history[1][1])


def test_ids_follow_what_a_trial_removes_not_how_it_is_named() -> None:
    a = Trial.create("feature", "age", (feature("age"),))
    assert a.trial_id == Trial.create("feature", "age", (feature("age"),), seed=99).trial_id
    assert a.trial_id != Trial.create("feature", "age", (feature("age"),), repeat=1).trial_id


def test_the_tag_names_the_repeat_after_the_first() -> None:
    base = Trial.create("base", "base")
    later = Trial.create("feature", "age", (feature("age"),), repeat=2)
    assert (base.tag, later.tag) == ("base", "feature:age#2")


def test_the_reason_is_the_last_line_of_the_error_or_the_status() -> None:
    trial = Trial.create("base", "base")
    failed = TrialResult(trial, TrialStatus.FAILED, error="Traceback ...\nValueError: bad\n")
    assert failed.reason == "ValueError: bad"
    assert TrialResult(trial, TrialStatus.LOST).reason == "lost"


def test_only_layer_modules_and_prefixes_edit_the_model() -> None:
    prefix = Component(ComponentKind.LAYER_GROUP, "d*", prefixes=("d",))
    assert Trial.create("layer_group", "d*", (prefix,)).removes_model_parts
    assert not Trial.create("feature", "age", (feature("age"),)).removes_model_parts
    custom = Component(ComponentKind.CUSTOM_MODEL, "c", custom_model="c")
    assert not Trial.create("custom_model", "c", (custom,)).removes_model_parts
