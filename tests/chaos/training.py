"""The chaos study: a synthetic table, feature components, and a deterministic training function.

No Keras: the training function sleeps for a duration and returns a metric, both pure functions
of what the trial removes and its seed. Each run appends a ``start`` and an ``end`` record
(trial, seed, pid, the driver segment that ran it) to a run log, so the harness can find the
Python worker running a trial and count how often each trial ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FEATURES = tuple(f"x{i:02d}" for i in range(32))
LABEL = "y"


def table(rows: int = 64) -> Any:
    """A small deterministic table: the feature columns and a binary label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=list(FEATURES))
    frame[LABEL] = (rng.random(rows) > 0.5).astype(int)
    return frame


def study(features: int) -> Any:
    """The study: the first ``features`` columns as components (the table is always the same)."""
    from autoablation import AblationStudy

    declared = AblationStudy(table(), label_name=LABEL)
    declared.features.include(list(FEATURES[:features]))
    return declared


def unit(*parts: object) -> float:
    """A number in [0, 1), a pure function of ``parts``."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def metric(ablated: str, seed: int) -> float:
    """The trial's metric: the component's effect plus seeded noise."""
    effect = 0.0 if ablated == "base" else 0.2 * unit("effect", ablated)
    return 0.9 - effect + 0.01 * (unit("noise", ablated, seed) - 0.5)


def duration(ablated: str, seed: int, low: float, high: float) -> float:
    """The trial's duration in seconds, between ``low`` and ``high``."""
    return low + (high - low) * unit("duration", ablated, seed)


def record(path: str, event: str, **fields: Any) -> None:
    """Append one JSON line to a log shared by many processes (one atomic append)."""
    line = json.dumps({"event": event, "t": time.time(), **fields}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SegmentLabel:
    """Which driver segment ran a trial: written to the run log, never part of the metric.

    A plain string in the closure would make each segment's training function differ, and a
    resume refuses a training function that changed (`autoablation._driver.codeprint`); an
    instance of a class of one's own is left out of that fingerprint, as this label should be.
    """

    name: str


def make_train(runs_log: str, segment: str, low: float, high: float) -> Callable[[Any], float]:
    """The training function of one driver segment: logs its runs to ``runs_log``."""
    label = SegmentLabel(segment)

    def train(reporter: Any) -> float:
        ablated, seed = reporter.ablated, reporter.seed
        fields = {
            "trial": reporter.trial_id,
            "seed": seed,
            "pid": os.getpid(),
            "segment": label.name,
        }
        record(runs_log, "start", **fields)
        total = duration(ablated, seed, low, high)
        steps = max(1, round(total / 0.1))
        value = metric(ablated, seed)
        for step in range(steps):  # metrics reach the driver with the heartbeats
            time.sleep(total / steps)
            reporter.broadcast(value * (step + 1) / steps, step=step)
        record(runs_log, "end", **fields)
        return value

    return train
