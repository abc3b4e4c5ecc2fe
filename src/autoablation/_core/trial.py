"""Trials as values: what a trial removes, its lifecycle states, and its result.

A `Trial` is a frozen description that travels over the wire as JSON-compatible data; the
executor rebuilds the trial's model and dataset factories from it. Its id is a hash of what it
removes, so the same study always yields the same ids.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BASE = "base"
TENSORFLOW_IMPORT = "autoablation.tensorflow_import_s"
"""The output key under which a worker's first result carries the seconds it spent importing
TensorFlow (and Keras) before that trial: time no trial's duration shows."""

SHAPE_STRATEGIES: tuple[str, ...] = ("error", "project")
"""What a removal that leaves clashing shapes gets: refused, or a learned projection there."""


class ComponentKind(enum.StrEnum):
    """What kind of thing a component is."""

    FEATURE = "feature"
    FEATURE_GROUP = "feature_group"
    LAYER = "layer"
    LAYER_GROUP = "layer_group"
    MODULE = "module"
    CUSTOM_MODEL = "custom_model"


@dataclass(frozen=True)
class Component:
    """One ablatable unit of a study.

    Attributes:
        kind: What the component is.
        name: The name shown in result tables (a feature or layer name, ``a+b`` for a group,
            ``prefix*`` for a prefix group, ``start..end`` for a module, or the identifier of
            a custom model).
        features: Dataset columns removed when this component is ablated.
        layers: Model layers removed, by name.
        prefixes: Every layer whose name starts with one of these is removed (except the
            model's input and output layers).
        modules: ``(start, end)`` pairs: each removes the layers strictly after ``start`` up to
            and including ``end``, and feeds ``start``'s output to ``end``'s consumers.
        custom_model: The identifier of a custom model generator that replaces the base model.
        shape_strategy: ``"error"`` or ``"project"`` for this component's removal, or None for
            the study's default. Not part of the trial's identity: it decides only whether a
            removal that cannot build gets a projection (see ``docs/studies.md``).
    """

    kind: ComponentKind
    name: str
    features: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    modules: tuple[tuple[str, str], ...] = ()
    custom_model: str | None = None
    shape_strategy: str | None = None

    @property
    def removes_model_parts(self) -> bool:
        """Whether ablating this component edits the model."""
        return bool(self.layers or self.prefixes or self.modules)

    @property
    def removal(self) -> tuple[frozenset[Any], ...]:
        """What ablating this component removes, whatever order it was declared in."""
        return (
            frozenset(self.features),
            frozenset(self.layers),
            frozenset(self.prefixes),
            frozenset(self.modules),
            frozenset({self.custom_model} - {None}),
        )

    def covers(self, other: Component) -> bool:
        """Whether ablating this component also removes everything ``other`` removes."""
        return (
            set(other.features) <= set(self.features)
            and all(n in self.layers or n.startswith(self.prefixes) for n in other.layers)
            and set(other.prefixes) <= set(self.prefixes)
            and set(other.modules) <= set(self.modules)
            and other.custom_model is None
            and self.custom_model is None
        )

    def overlaps(self, other: Component) -> bool:
        """Whether the two components remove something in common."""
        return bool(
            set(self.features) & set(other.features)
            or set(self.layers) & set(other.layers)
            or any(n.startswith(self.prefixes) for n in other.layers)
            or any(n.startswith(other.prefixes) for n in self.layers)
            or set(self.prefixes) & set(other.prefixes)
            or set(self.modules) & set(other.modules)
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict that `from_dict` reads back."""
        data: dict[str, Any] = {"kind": self.kind.value, "name": self.name}
        for key in ("features", "layers", "prefixes"):
            if getattr(self, key):
                data[key] = list(getattr(self, key))
        if self.modules:
            data["modules"] = [list(m) for m in self.modules]
        if self.custom_model is not None:
            data["custom_model"] = self.custom_model
        if self.shape_strategy is not None:
            data["shape_strategy"] = self.shape_strategy
        return data

    def identity(self) -> dict[str, Any]:
        """What this component removes, as `to_dict` writes it but without the strategy."""
        data = self.to_dict()
        data.pop("shape_strategy", None)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Component:
        """Rebuild a component from `to_dict` output."""
        return cls(
            kind=ComponentKind(data["kind"]),
            name=str(data["name"]),
            features=tuple(data.get("features", ())),
            layers=tuple(data.get("layers", ())),
            prefixes=tuple(data.get("prefixes", ())),
            modules=tuple((str(a), str(b)) for a, b in data.get("modules", ())),
            custom_model=data.get("custom_model"),
            shape_strategy=data.get("shape_strategy"),
        )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Trial:
    """One training run: the base configuration minus the removed components.

    Attributes:
        trial_id: Stable id derived from what the trial removes and its repeat index.
        kind: ``"base"`` or the kind of the removed component.
        ablated: Display name of what was removed (``"base"`` for the base trial).
        removed: Components removed in this trial (empty for the base trial).
        repeat: Repeat index; repeats of one configuration share everything else.
        seed: Random seed set before the training function runs.
        split_seed: Seeds the repeat's train/test split (every configuration of a repeat
            shares it); None: the study's one fixed split.
    """

    trial_id: str
    kind: str
    ablated: str
    removed: tuple[Component, ...] = ()
    repeat: int = 0
    seed: int = 0
    split_seed: int | None = None

    @classmethod
    def create(
        cls,
        kind: str,
        ablated: str,
        removed: Iterable[Component] = (),
        *,
        repeat: int = 0,
        seed: int = 0,
        split_seed: int | None = None,
    ) -> Trial:
        """Build a trial and derive its id from its content (seeds aside)."""
        removed = tuple(removed)
        identity = {
            "kind": kind,
            "removed": [c.identity() for c in removed],
            "repeat": repeat,
        }
        digest = hashlib.blake2b(
            json.dumps(identity, sort_keys=True).encode("utf-8"), digest_size=6
        ).hexdigest()
        return cls(digest, kind, ablated, removed, repeat, seed, split_seed)

    @property
    def removed_features(self) -> tuple[str, ...]:
        """Every dataset column this trial removes, in declaration order."""
        return _unique(f for c in self.removed for f in c.features)

    @property
    def removed_layers(self) -> tuple[str, ...]:
        """Every model layer this trial removes by name, in declaration order."""
        return _unique(name for c in self.removed for name in c.layers)

    @property
    def removed_prefixes(self) -> tuple[str, ...]:
        """Layer-name prefixes whose layers this trial removes."""
        return _unique(p for c in self.removed for p in c.prefixes)

    @property
    def removed_modules(self) -> tuple[tuple[str, str], ...]:
        """``(start, end)`` modules this trial removes."""
        return tuple(dict.fromkeys(m for c in self.removed for m in c.modules))

    @property
    def removes_model_parts(self) -> bool:
        """Whether this trial edits the base model (removes layers, prefixes or modules)."""
        return any(c.removes_model_parts for c in self.removed)

    @property
    def custom_model(self) -> str | None:
        """The custom model this trial trains instead of the base model, if any."""
        return next((c.custom_model for c in self.removed if c.custom_model), None)

    @property
    def model_key(self) -> tuple[Any, ...]:
        """Everything that decides this trial's model architecture (features aside)."""
        return (
            self.removed_layers,
            self.removed_prefixes,
            self.removed_modules,
            self.custom_model,
        )

    @property
    def label(self) -> str:
        """Short human-readable tag used to prefix logs, e.g. ``feature:pclass``."""
        return BASE if self.kind == BASE and self.ablated == BASE else f"{self.kind}:{self.ablated}"

    @property
    def tag(self) -> str:
        """The trial's tag in logs and messages: ``feature:sex``, ``feature:sex#2`` for repeat 2."""
        return self.label if self.repeat == 0 else f"{self.label}#{self.repeat}"

    @property
    def removal(self) -> tuple[Any, ...]:
        """What this trial removes, order aside, and its repeat: equal means same training."""
        parts = [c.removal for c in self.removed]
        merged = (
            tuple(frozenset().union(*column) for column in zip(*parts, strict=True))
            if parts
            else ()
        )
        return (merged, self.repeat)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict that `from_dict` reads back."""
        return {
            "trial_id": self.trial_id,
            "kind": self.kind,
            "ablated": self.ablated,
            "removed": [c.to_dict() for c in self.removed],
            "repeat": self.repeat,
            "seed": self.seed,
            "split_seed": self.split_seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        """Rebuild a trial from `to_dict` output (without ``split_seed``: the fixed split)."""
        split_seed = data.get("split_seed")
        return cls(
            trial_id=str(data["trial_id"]),
            kind=str(data["kind"]),
            ablated=str(data["ablated"]),
            removed=tuple(Component.from_dict(c) for c in data.get("removed", ())),
            repeat=int(data.get("repeat", 0)),
            seed=int(data.get("seed", 0)),
            split_seed=None if split_seed is None else int(split_seed),
        )


class TrialStatus(enum.StrEnum):
    """Where a trial is in its lifecycle.

    ``ok``: the training function returned a metric. ``failed``: it raised or returned something
    unusable. ``timed_out``: it ran past ``trial_timeout``. ``lost``: its worker vanished on
    every attempt. ``cancelled``: the experiment stopped before the trial finished.
    """

    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the trial will not run again."""
        return self not in (TrialStatus.PENDING, TrialStatus.RUNNING)


@dataclass(frozen=True)
class TrialResult:
    """The outcome of one trial.

    Attributes:
        trial: The trial that ran.
        status: ``ok``, ``failed``, ``lost`` or ``cancelled``.
        metric: The optimisation metric, or None when the trial did not produce one.
        error: Traceback or reason when the trial did not succeed, else empty.
        started_at: Epoch seconds when the training function was called.
        finished_at: Epoch seconds when it returned.
        worker: The executor task that ran the trial's last attempt.
        attempts: How many times the trial was handed to a worker.
        outputs: Other values the training function returned in its dict, as JSON (numbers,
            text, lists and dicts of them; bounded in size).
        history: Intermediate metrics broadcast during training, as ``(step, value)``.
    """

    trial: Trial
    status: TrialStatus
    metric: float | None = None
    error: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    worker: str = ""
    attempts: int = 1
    outputs: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[tuple[int, float], ...] = ()

    @property
    def duration_s(self) -> float | None:
        """Seconds the training function ran, when both ends are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def reason(self) -> str:
        """The last line of the error, or the status when there is no error."""
        error = self.error.strip()
        return error.splitlines()[-1] if error else self.status.value

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible dict that `from_dict` reads back."""
        return {
            "trial": self.trial.to_dict(),
            "status": self.status.value,
            "metric": self.metric,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker": self.worker,
            "attempts": self.attempts,
            "outputs": dict(self.outputs),
            "history": [list(point) for point in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        """Rebuild a result from `to_dict` output."""
        return cls(
            trial=Trial.from_dict(data["trial"]),
            status=TrialStatus(data["status"]),
            metric=None if data.get("metric") is None else float(data["metric"]),
            error=str(data.get("error", "")),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            worker=str(data.get("worker", "")),
            attempts=int(data.get("attempts", 1)),
            outputs=dict(data.get("outputs", {})),
            history=tuple(
                (int(s), math.nan if v is None else float(v)) for s, v in data.get("history") or ()
            ),
        )
