"""Builders shared by tests: tiny real Keras models and training functions."""

from __future__ import annotations

from typing import Any

FEATURES = ("pclass", "sex", "age", "sibsp", "parch")


def dense_model(width: int | None = 5) -> Any:
    """The base model of the end-to-end tests: three named hidden layers."""
    import keras

    layers: list[Any] = [keras.Input(shape=(width,))] if width else []
    return keras.Sequential(
        [
            *layers,
            keras.layers.Dense(16, activation="relu", name="my_dense_one"),
            keras.layers.Dense(8, activation="relu", name="my_dense_two"),
            keras.layers.Dense(8, activation="relu", name="my_dense_three"),
            keras.layers.Dense(1, activation="sigmoid", name="output"),
        ]
    )


class Recorder:
    """A controller listener that keeps every event, with events to wait on."""

    def __init__(self) -> None:
        import threading

        self.started: list[tuple[str, str, int]] = []
        self.finished: list[Any] = []
        self.requeued: list[tuple[str, str, str]] = []
        self.logs: list[tuple[str, str]] = []
        self.requeue_seen = threading.Event()

    def trial_started(self, trial: Any, worker: str, attempt: int) -> None:
        self.started.append((trial.trial_id, worker, attempt))

    def trial_finished(self, result: Any) -> None:
        self.finished.append(result)

    def trial_requeued(self, trial: Any, worker: str, reason: str) -> None:
        self.requeued.append((trial.trial_id, worker, reason))
        self.requeue_seen.set()

    def trial_logs(self, trial: Any, worker: str, lines: Any) -> None:
        self.logs.extend((trial.trial_id, line) for line in lines)


def make_trials(count: int) -> list[Any]:
    """``count`` distinct trials: a base trial and feature trials f1, f2..."""
    from autoablation._trial import Component, ComponentKind, Trial

    trials = [Trial.create("base", "base")]
    for i in range(1, count):
        component = Component(ComponentKind.FEATURE, f"f{i}", features=(f"f{i}",))
        trials.append(Trial.create("feature", component.name, (component,)))
    return trials


def residual_model(projection_units: int = 12) -> Any:
    """A small functional graph with a residual block and a stack of projections.

    inp(8) -> stem(16) -> block_a(16) -> block_b(16) -> block_add(stem, block_b)
           -> proj_1(units) -> proj_2(units) -> out(1)
    """
    import keras

    inputs = keras.Input(shape=(8,), name="inp")
    stem = keras.layers.Dense(16, activation="relu", name="stem")(inputs)
    a = keras.layers.Dense(16, activation="relu", name="block_a")(stem)
    b = keras.layers.Dense(16, name="block_b")(a)
    added = keras.layers.Add(name="block_add")([stem, b])
    p1 = keras.layers.Dense(projection_units, activation="relu", name="proj_1")(added)
    p2 = keras.layers.Dense(projection_units, activation="relu", name="proj_2")(p1)
    outputs = keras.layers.Dense(1, name="out")(p2)
    return keras.Model(inputs, outputs)


def dense_chain(width: int, units: list[int]) -> Any:
    """A hand-built chain of Dense layers ending in one output unit."""
    import keras

    inputs = keras.Input(shape=(width,))
    x = inputs
    for n in units:
        x = keras.layers.Dense(n)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))
