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
