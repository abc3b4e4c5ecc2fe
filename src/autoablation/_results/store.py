"""The experiment directory's format, read side: its files, and replaying its journal.

The driver's `autoablation._driver.journal` writes what this module reads; `load` and
``autoablation report`` read it without Spark.

Besides the trials' events, a journal records what its statistics need to be recomputed
offline: the ``experiment`` event's options (``min_effect``, ``vary_split``, ``repeats``...)
and ``statistics`` (the test, the interval, the correction, alpha), each trial's seed and
split seed inside its result, and for a sequential study a ``design`` event (the design with
its boundaries) and one ``look`` event per component looked at. Every such field is optional
when read: a journal written before it existed still loads.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoablation._core.backends import DEFAULT as DEFAULT_BACKEND
from autoablation._core.trial import Trial, TrialResult, TrialStatus

logger = logging.getLogger("autoablation")

JOURNAL = "journal.jsonl"
STUDY = "study.json"
_FINAL_EVENTS = {
    TrialStatus.OK: "finished",
    TrialStatus.FAILED: "failed",
    TrialStatus.TIMED_OUT: "timed_out",
    TrialStatus.LOST: "lost",
    TrialStatus.CANCELLED: "cancelled",
}


RUNS_ENV = "AUTOABLATION_RUNS"
"""Environment variable naming the folder that holds experiment directories by default."""


def default_dir(name: str) -> Path:
    """``<$AUTOABLATION_RUNS or ./autoablation-runs>/<name>``, the name made safe for a folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "study"
    return Path(os.environ.get(RUNS_ENV) or "autoablation-runs") / safe


def trial_folder(trial_id: str) -> str:
    """The folder of one trial inside the experiment directory."""
    return f"trials/{trial_id}"


@dataclass
class JournalState:
    """What a journal says: the study's trials, the latest results, the history of runs."""

    fingerprint: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    trials: dict[str, Trial] = field(default_factory=dict)
    results: dict[str, TrialResult] = field(default_factory=dict)
    started: dict[str, int] = field(default_factory=dict)
    requeued: int = 0
    """Hand-outs whose worker was lost (the trial went back to the queue)."""
    histories: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    runs: int = 0
    ended: str | None = None
    statistics: dict[str, Any] = field(default_factory=dict)
    design: dict[str, Any] | None = None
    looks: list[dict[str, Any]] = field(default_factory=list)


def read_journal(path: str | os.PathLike[str]) -> JournalState:
    """Replay a journal; a torn last line (the driver died while writing it) is skipped."""
    state = JournalState()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d is incomplete; skipped", path, number)
                continue
            _apply(state, event)
    return state


def _apply(state: JournalState, event: Mapping[str, Any]) -> None:
    kind = event.get("event")
    if kind == "experiment":
        state.runs += 1
        state.fingerprint = event.get("fingerprint")
        state.options = dict(event.get("options") or {})
        state.statistics = dict(event.get("statistics") or {})
        state.ended = None
    elif kind == "scheduled":
        trial = Trial.from_dict(event["trial"])
        state.trials[trial.trial_id] = trial
    elif kind == "started":
        trial_id = event["trial_id"]
        state.started[trial_id] = state.started.get(trial_id, 0) + 1
        state.histories[trial_id] = []
    elif kind == "requeued":
        state.requeued += 1
    elif kind == "metrics":
        state.histories.setdefault(event["trial_id"], []).extend(
            (int(s), float("nan") if v is None else float(v)) for s, v in event["points"]
        )
    elif kind in _FINAL_EVENTS.values():
        result = TrialResult.from_dict(event["result"])
        state.trials.setdefault(result.trial.trial_id, result.trial)
        state.results[result.trial.trial_id] = result
    elif kind == "ended":
        state.ended = event.get("status")
    elif kind == "design":
        state.design = dict(event["design"])
    elif kind == "look":
        state.looks.append(dict(event["look"]))


FINGERPRINT_DEFAULTS: dict[str, Any] = {
    "shape_strategy": "error",
    "projections": {},
    "backend": DEFAULT_BACKEND,
}
"""What a fingerprint field meant in a fingerprint written without it.

``backend`` (the Keras backend every trial trained on) was not recorded before other backends
were supported: every such study trained on TensorFlow.

``shape_strategy`` was recorded until the ``project`` strategy began to repair only the
removals that cannot build without it; ``projections`` (each edited configuration's projection
layers) replaced it. A study recorded under ``"error"`` had no projection, so it compares equal
to one whose configurations have none; one recorded under the old ``"project"`` does not.
A field neither here nor in an old fingerprint (the training function's, ``vary_split``) is
not compared: the journal predates it (see ``ExperimentDir``).
"""


def fingerprint_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The fields two study fingerprints disagree on.

    A field that maps names to values (the custom models' digests, each configuration's
    projections) disagrees only on the names both hold: adding a custom model or a component
    extends a study, changing one makes it another study. A field one fingerprint lacks takes
    its value from `FINGERPRINT_DEFAULTS`.
    """
    differences = []
    for key in sorted(set(old) | set(new)):
        default = FINGERPRINT_DEFAULTS.get(key)
        before, after = old.get(key, default), new.get(key, default)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            if any(before[name] != after[name] for name in set(before) & set(after)):
                differences.append(key)
        elif before != after:
            differences.append(key)
    return differences
