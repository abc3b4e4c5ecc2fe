"""Builders shared by tests: tiny real Keras models and training functions."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
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


def run_script(script: Path, *args: str) -> None:
    """Run ``script`` as ``__main__`` in this process, with ``args`` as its command line.

    It takes this process's active Spark session, so it starts no driver JVM of its own.
    Modules it imports from its own folder are forgotten afterwards.
    """
    argv, path, before = sys.argv, list(sys.path), set(sys.modules)
    sys.argv, sys.path[:0] = [str(script), *args], [str(script.parent)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = argv, path
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if file is not None and script.parent in Path(file).parents:
                del sys.modules[name]


class Recorder:
    """A controller listener that keeps every event, with events to wait on."""

    def __init__(self) -> None:
        import threading

        self.metrics: list[tuple[str, int, float]] = []
        self.started: list[tuple[str, str, int]] = []
        self.finished: list[Any] = []
        self.requeued: list[tuple[str, str, str]] = []
        self.logs: list[tuple[str, str]] = []
        self.added: list[str] = []
        self.looks: list[dict[str, Any]] = []
        self.requeue_seen = threading.Event()
        self._changed = threading.Condition()

    def wait_until(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` holds after some event; False on timeout."""
        with self._changed:
            return bool(self._changed.wait_for(lambda: predicate(self), timeout))

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def trial_started(self, trial: Any, worker: str, attempt: int) -> None:
        self.started.append((trial.trial_id, worker, attempt))
        self._notify()

    def trial_finished(self, result: Any) -> None:
        self.finished.append(result)
        self._notify()

    def trial_requeued(self, trial: Any, worker: str, reason: str) -> None:
        self.requeued.append((trial.trial_id, worker, reason))
        self.requeue_seen.set()
        self._notify()

    def trial_logs(self, trial: Any, worker: str, lines: Any) -> None:
        self.logs.extend((trial.trial_id, line) for line in lines)

    def trial_metrics(self, trial: Any, worker: str, points: Any) -> None:
        self.metrics.extend((trial.trial_id, step, value) for step, value in points)

    def trials_added(self, trials: Any) -> None:
        self.added.extend(t.trial_id for t in trials)

    def look_made(self, look: Any) -> None:
        self.looks.append(dict(look))

    def experiment_started(self, name: str, trials: Any, done: int) -> None:
        pass

    def experiment_ended(self, status: str) -> None:
        pass


def make_trials(count: int) -> list[Any]:
    """``count`` distinct trials: a base trial and feature trials f1, f2..."""
    from autoablation._core.trial import Component, ComponentKind, Trial

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


def synthetic_results(
    effects: dict[str, float], repeats: int = 5, *, history: bool = False
) -> list[Any]:
    """Final results of a study whose components shift the base metric by known amounts."""
    import numpy as np

    from autoablation._core.trial import Component, ComponentKind, Trial, TrialResult, TrialStatus
    from autoablation._study.ablators import repeat_seeds

    rng = np.random.default_rng(0)
    seeds = repeat_seeds(0, repeats)
    results = []
    for repeat, seed in enumerate(seeds):
        base = 0.8 + rng.normal(0, 0.01)
        configs = [("base", "base", (), 0.0)] + [
            ("feature", n, (Component(ComponentKind.FEATURE, n, features=(n,)),), e)
            for n, e in effects.items()
        ]
        for kind, name, removed, effect in configs:
            trial = Trial.create(kind, name, removed, repeat=repeat, seed=seed)
            metric = base + effect + rng.normal(0, 0.003)
            curve = tuple((s, metric - 0.1 * (3 - s)) for s in range(4)) if history else ()
            results.append(
                TrialResult(
                    trial,
                    TrialStatus.OK,
                    metric=metric,
                    started_at=1.0,
                    finished_at=2.0,
                    worker="w",
                    history=curve,
                )
            )
    return results
