"""Strict JSON with non-finite floats, for the wire and the journal."""

from __future__ import annotations

import json
import math

import pytest

from autoablation._core.jsonsafe import dumps


def test_plain_values_are_plain_json() -> None:
    assert dumps({"a": [1, 2.5, "x", None]}, separators=(",", ":")) == '{"a":[1,2.5,"x",null]}'


def test_non_finite_floats_become_null_and_keys_strings() -> None:
    text = dumps({"m": math.nan, 1: [math.inf, -math.inf, 0.5]})
    assert json.loads(text) == {"m": None, "1": [None, None, 0.5]}


def test_what_json_cannot_hold_is_refused_unless_a_default_is_given() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
    assert (
        dumps({"x": object(), "y": math.nan}, default=lambda o: "obj") == '{"x": "obj", "y": null}'
    )
