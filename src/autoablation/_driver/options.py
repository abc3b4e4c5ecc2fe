"""How an experiment runs: every launch option, declared once, with its default and its check.

`RunOptions` is the declaration. Each field is one keyword option of `experiment.launch` (same
name, same default; a test pins the two together), and its metadata says how the option is
checked, whether it describes the results (kept in the journal and ``study.json``), and how
Maggy's `AblationConfig` spells it when the name differs. Three launch arguments are objects,
not options, and are not here: ``spark``, ``ablator`` and ``listener``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autoablation._core.errors import StudyError
from autoablation._driver.progress import VERBOSITY
from autoablation._driver.staging import TRANSPORTS
from autoablation._driver.tracking import mlflow_wanted
from autoablation._results.sequential import INITIAL, MAX_REPEATS

AUTO = "auto"
"""``repeats="auto"``: a sequential study that stops each component once it is decided."""
SCHEDULES = ("longest_first", "submission")
"""Orders in which pending trials start (see `autoablation._driver.schedule`)."""
_MAX_TIMEOUT_S = 1e8

Check = Callable[[str, Any], Any]
"""Checks one option's value: returns it (normalised) or raises `StudyError` naming it."""


def _number(
    *, integer: bool = False, zero: bool = False, optional: bool = False, below: float | None = None
) -> Check:
    """A positive number (or 0 with ``zero``; None with ``optional``; under ``below``)."""

    def check(name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        kinds = (int,) if integer else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        if not ok or value < 0 or (value == 0 and not zero):
            what = "integer" if integer else "number"
            bound = f"an {what} of 0 or more" if zero else f"a positive {what}"
            raise StudyError(f"{name} must be {bound}; got {value!r}")
        if below is not None and not value < below:  # NaN and inf included
            raise StudyError(
                f"{name} must be a number of seconds under {below:g} (None for no limit); "
                f"got {value!r}"
            )
        return value

    return check


def _text(what: str | None = None) -> Check:
    """A non-empty string; ``what`` names it in the message (default: the option's name)."""

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise StudyError(f"{what or name} must be a non-empty string; got {value!r}")
        return value

    return check


def _direction(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in ("max", "min"):
        raise StudyError(f"{name} must be 'max' or 'min'; got {value!r}")
    return value.lower()


def _one_of(choices: Iterable[Any], shown: str | None = None) -> Check:
    allowed = tuple(choices)

    def check(name: str, value: Any) -> Any:
        if value not in allowed:
            listed = shown or ", ".join(map(repr, allowed))
            raise StudyError(f"{name} must be one of {listed}; got {value!r}")
        return value

    return check


def _exception_types(name: str, value: Any) -> tuple[type[BaseException], ...]:
    values = tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    bad = [e for e in values if not (isinstance(e, type) and issubclass(e, BaseException))]
    if bad:
        raise StudyError(f"{name} must be exception classes; got {bad[0]!r}")
    return values


def _path(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise StudyError(f"{name} must be a path or URI; got {value!r}")
    return os.fspath(value)


def _flag(name: str, value: Any) -> bool:
    return bool(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise StudyError(f"{name} must be True or False; got {value!r}")
    return value


def _repeats(name: str, value: Any) -> int | str:
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyError(
            f"{name} must be a positive integer, or {AUTO!r} for a sequential study; got {value!r}"
        )
    return value


def _effect(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not 0 < value < math.inf:
        raise StudyError(
            f"{name} must be a positive number in the metric's units (the smallest effect "
            f"worth knowing, e.g. 0.01 for one point of accuracy), or None; got {value!r}"
        )
    return float(value)


def _mlflow(name: str, value: Any) -> bool | None:
    if value:
        mlflow_wanted(True)  # refuses at once when MLflow is not installed
    return None if value is None else bool(value)


def _option(
    default: Any, check: Check | None = None, *, recorded: bool = False, maggy: str | None = None
) -> Any:
    """Declare an option: its default, its check, whether results record it, Maggy's name."""
    return field(default=default, metadata={"check": check, "recorded": recorded, "maggy": maggy})


@dataclass(frozen=True)
class Caller:
    """The function a study was launched with, so that advice spells options its way.

    `experiment.launch` takes every option as a keyword (``resume=True``); Maggy's
    `experiment.lagom` takes them inside its configuration (``AblationConfig(..., resume=True)``).
    """

    function: str = "launch"

    def spell(self, option: str, value: str) -> str:
        """How to set ``option`` to ``value`` (already written as code) in this caller's API."""
        setting = f"{option}={value}"
        return setting if self.function == "launch" else f"AblationConfig(..., {setting})"


LAUNCH = Caller("launch")
LAGOM = Caller("lagom")


@dataclass(frozen=True)
class RunOptions:
    """Every option of `experiment.launch`, checked when created (see `launch` for each one).

    Raises:
        StudyError: An option out of its range, named with the value given.
    """

    name: str = _option("ablation", _text("the experiment name"), recorded=True)
    optimization_key: str = _option("metric", _text(), recorded=True)
    direction: str = _option("max", _direction, recorded=True)
    num_workers: int | None = _option(None, _number(integer=True, optional=True))
    heartbeat_interval: float = _option(1.0, _number(), maggy="hb_interval")
    heartbeat_timeout: float | None = _option(None, _number(optional=True))
    max_attempts: int = _option(3, _number(integer=True))
    max_job_restarts: int = _option(3, _number(integer=True, zero=True))
    trial_timeout: float | None = _option(None, _number(optional=True, below=_MAX_TIMEOUT_S))
    max_trial_retries: int = _option(0, _number(integer=True, zero=True))
    max_failures: int | None = _option(None, _number(integer=True, zero=True, optional=True))
    fatal_errors: tuple[type[BaseException], ...] = _option((), _exception_types)
    schedule: str = _option("longest_first", _one_of(SCHEDULES))
    data_transport: str = _option("auto", _one_of(TRANSPORTS, ", ".join(TRANSPORTS)))
    data_dir: str | None = _option(None, _path)
    repeats: int | str = _option(1, _repeats, recorded=True)
    vary_split: bool = _option(True, _boolean, recorded=True)
    min_effect: float | None = _option(None, _effect, recorded=True)
    max_repeats: int = _option(MAX_REPEATS, _number(integer=True), recorded=True)
    experiment_dir: str | None = _option(None, _path)
    resume: bool = _option(False, _flag)
    overwrite: bool = _option(False, _flag)
    verbose: int = _option(1, _one_of(VERBOSITY, "0, 1 or 2"))
    mlflow: bool | None = _option(None, _mlflow)
    tensorboard_dir: str | None = _option(None, _path)
    gpus_per_task: float | None = _option(None, _number(zero=True, optional=True))

    def __post_init__(self) -> None:
        for option in dataclasses.fields(self):
            object.__setattr__(
                self, option.name, self.check(option.name, getattr(self, option.name))
            )
        if self.heartbeat_timeout is not None and self.heartbeat_timeout <= self.heartbeat_interval:
            raise StudyError(
                f"heartbeat_timeout ({self.heartbeat_timeout}) must be longer than "
                f"heartbeat_interval ({self.heartbeat_interval})"
            )
        if self.resume and self.overwrite:
            raise StudyError("resume=True and overwrite=True contradict each other; choose one")
        if self.repeats == AUTO and self.min_effect is None:
            raise StudyError(
                "repeats='auto' needs min_effect, the smallest effect worth knowing in the "
                "metric's units: components whose effect lies provably inside it stop early "
                "as negligible (e.g. min_effect=0.01 for one point of accuracy)"
            )
        if self.repeats == AUTO and self.max_repeats < INITIAL:
            raise StudyError(
                f"max_repeats must be at least {INITIAL} (the sequential design's first look); "
                f"got {self.max_repeats}"
            )

    @classmethod
    def check(cls, name: str, value: Any, *, shown: str | None = None) -> Any:
        """Check one option's value, naming it ``shown`` (Maggy's spelling) in a refusal.

        Raises:
            StudyError: The value is out of the option's range.
        """
        check: Check | None = cls.__dataclass_fields__[name].metadata["check"]
        return value if check is None else check(shown or name, value)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name, in declaration order."""
        return tuple(option.name for option in dataclasses.fields(cls))

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> RunOptions:
        """The options among a call's arguments (``launch``'s ``locals()``), others ignored."""
        return cls(**{name: arguments[name] for name in cls.names() if name in arguments})

    @classmethod
    def maggy_names(cls) -> dict[str, str]:
        """Maggy's spelling of the options it names differently: ``{"hb_interval": ...}``."""
        return {
            option.metadata["maggy"]: option.name
            for option in dataclasses.fields(cls)
            if option.metadata["maggy"]
        }

    def describe(self) -> dict[str, Any]:
        """The options that describe the results (kept in the journal and ``study.json``)."""
        return {
            option.name: getattr(self, option.name)
            for option in dataclasses.fields(self)
            if option.metadata["recorded"]
        }
