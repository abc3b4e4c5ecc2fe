"""Every request and reply of the driver-executor protocol, as typed values.

Parsing never touches controller state, so a malformed request is refused whole before
anything changes. Every problem raises `MessageError`, whose text goes back in the error reply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from autoablation._core.trial import TrialStatus

_RESULT_STATUSES = (TrialStatus.OK.value, TrialStatus.FAILED.value, TrialStatus.TIMED_OUT.value)


class MessageError(Exception):
    """A request that breaks the message schema."""


def _kind(message: Mapping[str, Any]) -> str:
    return repr(message.get("type"))


def text(message: Mapping[str, Any], name: str) -> str:
    """A required string field."""
    value = message.get(name)
    if not isinstance(value, str):
        raise MessageError(f"{_kind(message)} message needs field {name!r} (a string)")
    return value


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MessageError(f"{what} must be a number; got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError as exc:
        raise MessageError(f"{what} is out of range") from exc
    if not math.isfinite(number):
        raise MessageError(f"{what} must be finite")
    return number


def _optional_finite(message: Mapping[str, Any], name: str) -> float | None:
    value = message.get(name)
    return None if value is None else _finite(value, f"field {name!r}")


def points(value: Any) -> tuple[tuple[int, float], ...]:
    """``[[step, value], ...]`` with integer steps; a null value (non-finite) becomes NaN."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MessageError("field 'metrics' must be a list of [step, value] pairs")
    parsed: list[tuple[int, float]] = []
    for point in value:
        if (
            not isinstance(point, list)
            or len(point) != 2
            or isinstance(point[0], bool)
            or not isinstance(point[0], int)
        ):
            raise MessageError("field 'metrics' must be a list of [step, value] pairs")
        parsed.append((point[0], math.nan if point[1] is None else _finite(point[1], "a metric")))
    return tuple(parsed)


def lines(value: Any) -> tuple[str, ...]:
    """A list of log lines."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
        raise MessageError("field 'logs' must be a list of strings")
    return tuple(value)


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class Register:
    """``register``: a worker announces itself."""

    worker: str
    info: dict[str, Any]
    generation: int
    partition: int

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Register:
        """Parse a ``register`` request."""
        info = message.get("info") or {}
        if not isinstance(info, dict):
            raise MessageError("'register' field 'info' must be an object")
        return cls(
            worker=text(message, "worker"),
            info=info,
            generation=_int_or(info.get("generation"), 0),
            partition=_int_or(info.get("partition"), -1),
        )


@dataclass(frozen=True)
class Heartbeat:
    """``heartbeat``: a running worker is alive, with what it gathered since last time."""

    worker: str
    trial: str
    metrics: tuple[tuple[int, float], ...]
    logs: tuple[str, ...]

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Heartbeat:
        """Parse a ``heartbeat`` request."""
        return cls(
            worker=text(message, "worker"),
            trial=text(message, "trial"),
            metrics=points(message.get("metrics")),
            logs=lines(message.get("logs")),
        )


@dataclass(frozen=True)
class Result:
    """``result``: a worker finished a trial (and may ask for the next one)."""

    worker: str
    trial: str
    status: TrialStatus
    metric: float | None
    error: str
    started_at: float | None
    finished_at: float | None
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[tuple[int, float], ...] = ()
    logs: tuple[str, ...] = ()
    want_next: bool = False
    fatal: bool = False

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Result:
        """Parse a ``result`` request."""
        status = message.get("status")
        if status not in _RESULT_STATUSES:
            raise MessageError(
                f"'result' status must be one of {', '.join(map(repr, _RESULT_STATUSES))}; "
                f"got {status!r}"
            )
        metric = _optional_finite(message, "metric")
        if status == TrialStatus.OK.value and metric is None:
            raise MessageError("an 'ok' result needs a finite metric")
        error = message.get("error") or ""
        outputs = message.get("outputs") or {}
        if not isinstance(error, str):
            raise MessageError("'result' field 'error' must be a string")
        if not isinstance(outputs, dict):
            raise MessageError("'result' field 'outputs' must be an object")
        return cls(
            worker=text(message, "worker"),
            trial=text(message, "trial"),
            status=TrialStatus(status),
            metric=metric,
            error=error,
            started_at=_optional_finite(message, "started_at"),
            finished_at=_optional_finite(message, "finished_at"),
            outputs=outputs,
            metrics=points(message.get("metrics")),
            logs=lines(message.get("logs")),
            want_next=bool(message.get("next")),
            fatal=message.get("fatal") is True,
        )
