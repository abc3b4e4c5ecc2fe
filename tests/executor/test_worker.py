from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoablation import AblationStudy, ReturnValueError, Trial
from autoablation._data.datasets import LocalData
from autoablation._executor.reporter import Reporter
from autoablation._executor.returns import interpret_return
from autoablation._executor.runner import run_trial
from autoablation._executor.runtime import TrialRuntime
from autoablation._model.build import ModelRecipe
from tests.helpers import dense_model


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.83, (0.83, {})),
        (3, (3.0, {})),
        (np.float32(0.5), (0.5, {})),
        (np.array(0.25), (0.25, {})),
        ({"metric": 0.9, "loss": np.float64(0.2), "note": "x"}, (0.9, {"loss": 0.2, "note": "x"})),
    ],
)
def test_numbers_and_dicts_with_the_key_are_metrics(value: Any, expected: Any) -> None:
    assert interpret_return(value, "metric") == expected


def test_returned_structures_are_kept_as_json_not_as_their_repr() -> None:
    history = {"loss": [0.7, np.float32(0.5)], "accuracy": [0.6, 0.8]}
    metric, outputs = interpret_return(
        {
            "metric": 0.8,
            "history": history,
            "weights": np.array([[1, 2], [3, 4]], dtype=np.int64),
            "curve": (0.1, float("nan"), np.float64(0.3)),
            "flag": np.bool_(True),
            "model": object(),
        },
        "metric",
    )
    assert metric == 0.8
    assert outputs["history"] == {"loss": [0.7, 0.5], "accuracy": [0.6, 0.8]}
    assert outputs["weights"] == [[1, 2], [3, 4]]
    assert outputs["curve"] == [0.1, None, 0.3]  # strict JSON: a non-finite value is null
    assert outputs["flag"] is True
    assert outputs["model"].startswith("<object object at")  # not JSON: its repr, shortened
    json.dumps(outputs, allow_nan=False)  # what the wire and the journal carry


def test_returned_values_stay_bounded() -> None:
    from autoablation._executor.returns import MAX_DEPTH, MAX_ITEMS, MAX_OUTPUT_CHARS

    deep: Any = 1.0
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    _, outputs = interpret_return(
        {
            "metric": 1.0,
            "image": np.zeros((200, 200)),
            "steps": list(range(MAX_ITEMS + 5)),
            "deep": deep,
            "texts": [f"{i:09d}" * 10 for i in range(MAX_ITEMS)],
            "more": [f"{i:09d}" * 10 for i in range(MAX_ITEMS)],
        },
        "metric",
    )
    assert outputs["image"] == "<ndarray: 200x200 float64 values, over 10,000: not kept>"
    assert outputs["steps"][-1] == "... 5 more items not kept" and len(outputs["steps"]) == 10_001
    assert len(json.dumps(outputs)) <= MAX_OUTPUT_CHARS + 1_000
    assert "over the 1,000,000 kept in all" in outputs["texts"]  # the largest value gave way
    assert isinstance(outputs["more"], list)


def test_a_zero_dimensional_tensor_is_a_metric() -> None:
    import keras
    import tensorflow as tf

    assert interpret_return(tf.constant(0.75), "metric") == (0.75, {})
    assert interpret_return({"metric": keras.ops.mean(tf.constant([0.5, 1.0]))}, "metric") == (
        0.75,
        {},
    )
    _, outputs = interpret_return({"metric": 1.0, "logits": tf.constant([[1.0, 2.0]])}, "metric")
    assert outputs == {"logits": [[1.0, 2.0]]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "returned None; return a number or a dict holding 'metric'"),
        (float("nan"), "return value is nan; expected a finite number"),
        ("0.8", r"return value is '0.8' \(str\); expected a number"),
        (True, r"is True \(bool\)"),
        ({"acc": 0.8}, "without the optimization key 'metric'; its keys are: 'acc'"),
        ({"metric": "high"}, r"returned 'metric' is 'high' \(str\)"),
        ([0.8], r"\(list\); expected a number"),
    ],
)
def test_bad_return_values_name_the_problem(value: Any, message: str) -> None:
    with pytest.raises(ReturnValueError, match=message):
        interpret_return(value, "metric")


def titanic_runtime(titanic: pd.DataFrame) -> tuple[TrialRuntime, AblationStudy]:
    study = AblationStudy(titanic, label_name="survived")
    study.model.set_base_model_generator(dense_model)
    data = study.prepared_data()
    assert data is not None
    return TrialRuntime(ModelRecipe(dense_model), LocalData(data)), study


def test_a_trial_trains_a_real_model_on_its_own_columns(titanic: pd.DataFrame) -> None:
    from autoablation._core.trial import Component, ComponentKind

    runtime, _ = titanic_runtime(titanic)
    component = Component(ComponentKind.FEATURE, "sex", features=("sex",))
    trial = Trial.create("feature", "sex", (component,), seed=3)

    def train(dataset_function, model_function, reporter):  # type: ignore[no-untyped-def]
        model = model_function()
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        history = model.fit(
            dataset_function(2, 64),
            epochs=2,
            steps_per_epoch=dataset_function.steps_per_epoch(64),
            verbose=0,
        )
        reporter.broadcast(history.history["loss"][-1])
        _, accuracy = model.evaluate(dataset_function(1, 64, split="test"), verbose=0)
        return {"metric": accuracy, "width": model.input_shape[-1], "seed": reporter.seed}

    outcome = run_trial(train, trial, runtime, optimization_key="metric", reporter=Reporter(trial))
    assert outcome.status == "ok", outcome.error
    assert 0.0 <= outcome.metric <= 1.0
    assert outcome.outputs == {"width": 4, "seed": 3}
    assert outcome.finished_at >= outcome.started_at


def test_the_same_seed_trains_the_same_model(titanic: pd.DataFrame) -> None:
    runtime, _ = titanic_runtime(titanic)
    trial = Trial.create("base", "base", seed=11)

    def train(dataset_function, model_function):  # type: ignore[no-untyped-def]
        model = model_function()
        model.compile("adam", "binary_crossentropy")
        model.fit(dataset_function(1, 64), verbose=0)
        return float(np.sum(model.layers[0].get_weights()[0]))

    first = run_trial(train, trial, runtime, optimization_key="metric", reporter=Reporter(trial))
    again = run_trial(train, trial, runtime, optimization_key="metric", reporter=Reporter(trial))
    assert first.metric == again.metric


def test_a_study_without_data_or_model_passes_none(titanic: pd.DataFrame) -> None:
    trial = Trial.create("base", "base")
    seen: dict[str, Any] = {}

    def train(dataset_function, model_function):  # type: ignore[no-untyped-def]
        seen.update(dataset=dataset_function, model=model_function)
        return 1.0

    run_trial(
        train, trial, TrialRuntime(None, None), optimization_key="metric", reporter=Reporter(trial)
    )
    assert seen == {"dataset": None, "model": None}


def test_an_exception_becomes_a_failed_outcome_with_its_traceback() -> None:
    trial = Trial.create("base", "base")

    def train():  # type: ignore[no-untyped-def]
        raise ValueError("shapes (3,) and (4,) not aligned")

    outcome = run_trial(
        train, trial, TrialRuntime(None, None), optimization_key="metric", reporter=Reporter(trial)
    )
    assert outcome.status == "failed" and outcome.metric is None
    assert outcome.error.startswith("Traceback") and "not aligned" in outcome.error


def test_sys_exit_in_the_training_function_fails_its_trial_naming_systemexit() -> None:
    import sys

    trial = Trial.create("base", "base")

    def train():  # type: ignore[no-untyped-def]
        sys.exit(3)

    outcome = run_trial(
        train, trial, TrialRuntime(None, None), optimization_key="metric", reporter=Reporter(trial)
    )
    assert outcome.status == "failed" and not outcome.fatal
    assert "sys.exit(3)" in outcome.error.splitlines()[-3]  # the traceback shows the call
    assert outcome.error.splitlines()[-1].startswith("SystemExit(3): the training function")


def test_keras_errors_reach_the_driver_without_terminal_escape_codes() -> None:
    import keras

    trial = Trial.create("base", "base")

    def train():  # type: ignore[no-untyped-def]
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
        return model(np.zeros((2, 5), "float32"))  # Keras' message is bold (ANSI codes)

    outcome = run_trial(
        train, trial, TrialRuntime(None, None), optimization_key="metric", reporter=Reporter(trial)
    )
    assert outcome.status == "failed"
    assert "is incompatible with the layer" in outcome.error
    assert "\x1b" not in outcome.error and "[1m" not in outcome.error


def test_escape_codes_of_every_kind_are_stripped() -> None:
    from autoablation._executor.tracebacks import strip_ansi

    link = "\x1b]8;;http://x\x07link\x1b]8;;\x07"
    text = f"\x1b[1mbold\x1b[0m \x1b[38;5;196mred\x1b[39m {link} \x1bMup"
    assert strip_ansi(text) == "bold red link up"
