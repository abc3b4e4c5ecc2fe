"""Every request and reply of the driver-executor protocol, as typed values.

Requests (task to driver): `Register`, `Next`, `Heartbeat`, `Result`. Replies (driver to
task): `Registered`, `Assignment` (wire type ``trial``), `Done`, `Ack`, `Error`. Each has one
`encode` (to the JSON object that travels) and one ``parse``; `parse_request` and `parse_reply`
pick the type from the object's ``type``. Parsing is strict and never touches controller
state, so a malformed request is refused whole before anything changes: every problem raises
`MessageError`, naming the field, and its text goes back in an `Error` reply.

Idempotence: a task's channel sends a request again on a fresh connection when the first one
broke, so the controller may receive it twice. ``next`` and ``register`` are idempotent as
they are (a repeated ``next`` returns the trial already held). ``heartbeat`` and ``result``
carry the worker's request number, ``id`` (1, 2, 3..., the same when sent again; 0 or absent
for none), and the controller takes each of them once.

The error rule, both ends: the controller answers any `MessageError` with an `Error` reply
(`autoablation._driver.controller`), and a task's channel raises `ProtocolError` for an
`Error` reply (`autoablation._wire.channel.Channel.request`); nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from autoablation._core.trial import Trial, TrialStatus

_RESULT_STATUSES = (TrialStatus.OK.value, TrialStatus.FAILED.value, TrialStatus.TIMED_OUT.value)

Points = tuple[tuple[int, float], ...]


class MessageError(Exception):
    """A message that breaks the schema, or a request the controller cannot accept."""


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


def points(value: Any) -> Points:
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


def request_id(message: Mapping[str, Any]) -> int:
    """The request number a ``heartbeat`` or ``result`` carries: a positive integer, or 0."""
    value = message.get("id")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MessageError(f"{_kind(message)} field 'id' must be an integer of 0 or more")
    return value


# ---------------------------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class Register:
    """``register``: a worker announces itself; ``info`` says where it runs."""

    TYPE: ClassVar[str] = "register"
    worker: str
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def generation(self) -> int:
        """The launch's job number the task belongs to (0 for the first job)."""
        return _int_or(self.info.get("generation"), 0)

    @property
    def partition(self) -> int:
        """The task's partition in its job, or -1 when unknown."""
        return _int_or(self.info.get("partition"), -1)

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE, "worker": self.worker, "info": dict(self.info)}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Register:
        """Parse a ``register`` request."""
        info = message.get("info") or {}
        if not isinstance(info, dict):
            raise MessageError("'register' field 'info' must be an object")
        return cls(worker=text(message, "worker"), info=info)


@dataclass(frozen=True, slots=True)
class Next:
    """``next``: a worker asks for a trial."""

    TYPE: ClassVar[str] = "next"
    worker: str

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE, "worker": self.worker}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Next:
        """Parse a ``next`` request."""
        return cls(worker=text(message, "worker"))


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``heartbeat``: a running worker is alive, with what it gathered since last time.

    ``request_id`` numbers it among the worker's requests, so a copy sent again is taken once.
    """

    TYPE: ClassVar[str] = "heartbeat"
    worker: str
    trial: str
    metrics: Points = ()
    logs: tuple[str, ...] = ()
    request_id: int = 0

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels; a non-finite metric travels as null."""
        return {
            "type": self.TYPE,
            "id": self.request_id,
            "worker": self.worker,
            "trial": self.trial,
            "metrics": [list(point) for point in self.metrics],
            "logs": list(self.logs),
        }

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Heartbeat:
        """Parse a ``heartbeat`` request."""
        return cls(
            worker=text(message, "worker"),
            trial=text(message, "trial"),
            metrics=points(message.get("metrics")),
            logs=lines(message.get("logs")),
            request_id=request_id(message),
        )


@dataclass(frozen=True, slots=True)
class Result:
    """``result``: a worker finished a trial (and may ask for the next one).

    ``request_id`` numbers it among the worker's requests, so a copy sent again is taken once.
    """

    TYPE: ClassVar[str] = "result"
    worker: str
    trial: str
    status: TrialStatus
    metric: float | None = None
    error: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Points = ()
    logs: tuple[str, ...] = ()
    want_next: bool = False
    fatal: bool = False
    request_id: int = 0

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels; a non-finite metric travels as null."""
        return {
            "type": self.TYPE,
            "id": self.request_id,
            "worker": self.worker,
            "trial": self.trial,
            "status": self.status.value,
            "metric": self.metric,
            "error": self.error,
            "outputs": dict(self.outputs),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "metrics": [list(point) for point in self.metrics],
            "logs": list(self.logs),
            "fatal": self.fatal,
            "next": self.want_next,
        }

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
            request_id=request_id(message),
        )


Request = Register | Next | Heartbeat | Result


# ------------------------------------------------------------------------------------ replies
@dataclass(frozen=True, slots=True)
class Registered:
    """``registered``: the answer to `Register`, with the heartbeat interval to keep."""

    TYPE: ClassVar[str] = "registered"
    heartbeat_interval: float

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE, "heartbeat_interval": self.heartbeat_interval}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Registered:
        """Parse a ``registered`` reply."""
        value = message.get("heartbeat_interval")
        interval = _finite(value, "field 'heartbeat_interval'")
        if interval <= 0:
            raise MessageError(f"field 'heartbeat_interval' must be positive; got {value!r}")
        return cls(heartbeat_interval=interval)


@dataclass(frozen=True, slots=True)
class Assignment:
    """``trial``: the trial to run (an answer to `Next`, or to a `Result` that wants one)."""

    TYPE: ClassVar[str] = "trial"
    trial: Trial
    attempt: int

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE, "trial": self.trial.to_dict(), "attempt": self.attempt}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Assignment:
        """Parse a ``trial`` reply."""
        data = message.get("trial")
        if not isinstance(data, dict):
            raise MessageError("'trial' message needs field 'trial' (an object)")
        attempt = message.get("attempt")
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            raise MessageError("'trial' message needs field 'attempt' (an integer)")
        try:
            trial = Trial.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MessageError(f"'trial' field 'trial' is not a trial: {exc!r}") from exc
        return cls(trial, attempt)


@dataclass(frozen=True, slots=True)
class Done:
    """``done``: the study needs nothing more from this worker."""

    TYPE: ClassVar[str] = "done"

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Done:
        """Parse a ``done`` reply."""
        return DONE


@dataclass(frozen=True, slots=True)
class Ack:
    """``ack``: the request was taken; nothing to answer."""

    TYPE: ClassVar[str] = "ack"

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Ack:
        """Parse an ``ack`` reply."""
        return ACK


@dataclass(frozen=True, slots=True)
class Error:
    """``error``: the request was refused, and why; nothing changed."""

    TYPE: ClassVar[str] = "error"
    message: str

    def encode(self) -> dict[str, Any]:
        """The JSON object that travels."""
        return {"type": self.TYPE, "message": self.message}

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Error:
        """Parse an ``error`` reply."""
        return cls(message=text(message, "message"))


DONE = Done()
ACK = Ack()

Reply = Registered | Assignment | Done | Ack | Error

_REQUESTS: dict[str, Callable[[Mapping[str, Any]], Request]] = {
    kind.TYPE: kind.parse for kind in (Register, Next, Heartbeat, Result)
}
_REPLIES: dict[str, Callable[[Mapping[str, Any]], Reply]] = {
    kind.TYPE: kind.parse for kind in (Registered, Assignment, Done, Ack, Error)
}


def _unknown(message: Mapping[str, Any]) -> MessageError:
    return MessageError(f"unknown message type {message.get('type')!r}")


def parse_request(message: Mapping[str, Any]) -> Request:
    """The typed request a decoded message holds.

    Raises:
        MessageError: An unknown type, or a field missing or of the wrong kind.
    """
    kind = message.get("type")
    parser = _REQUESTS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise _unknown(message)
    return parser(message)


def parse_reply(message: Mapping[str, Any]) -> Reply:
    """The typed reply a decoded message holds.

    Raises:
        MessageError: An unknown type, or a field missing or of the wrong kind.
    """
    kind = message.get("type")
    parser = _REPLIES.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise _unknown(message)
    return parser(message)


def metric_points(values: Sequence[tuple[int, float | None]]) -> Points:
    """Metric points as a request holds them: a None value (not finite) becomes NaN."""
    return tuple((step, math.nan if value is None else value) for step, value in values)
