"""The executor side of the driver channel: typed calls to the controller over any `Channel`.

`ControllerClient` speaks the controller's messages (`autoablation._wire.messages`); the channel
underneath is either an `RpcChannel` (a TCP connection to the driver, used by Spark tasks) or an
in-process `LocalChannel` (threads, tests). Both carry the same JSON messages, so the worker loop
cannot tell them apart.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from autoablation._core.errors import ProtocolError
from autoablation._core.trial import Trial
from autoablation._wire.channel import Channel
from autoablation._wire.messages import (
    Ack,
    Assignment,
    Done,
    Heartbeat,
    MessageError,
    Next,
    Register,
    Registered,
    Reply,
    Request,
    Result,
    metric_points,
    parse_reply,
)

_R = TypeVar("_R", bound=Reply)


def _exchange(channel: Channel, request: Request) -> Reply:
    """Send ``request`` and parse the reply (an error reply raised already, in the channel)."""
    message = channel.request(request.encode())
    try:
        return parse_reply(message)
    except MessageError as exc:
        raise ProtocolError(f"the driver's reply to {request.TYPE!r} is malformed: {exc}") from exc


def _unexpected(request: Request, reply: Reply, expected: str) -> ProtocolError:
    return ProtocolError(f"expected {expected} reply to {request.TYPE!r}; got {reply.TYPE!r}")


def _call(channel: Channel, request: Request, expected: type[_R]) -> _R:
    """Send ``request``; its reply, which must be of the ``expected`` type."""
    reply = _exchange(channel, request)
    if not isinstance(reply, expected):
        raise _unexpected(request, reply, f"a {expected.TYPE!r}")
    return reply


def _trial_or_none(channel: Channel, request: Request) -> Trial | None:
    """Send ``request``; the trial its reply assigns, or None when the reply is ``done``."""
    reply = _exchange(channel, request)
    if isinstance(reply, Assignment):
        return reply.trial
    if isinstance(reply, Done):
        return None
    raise _unexpected(request, reply, "a 'trial' or 'done'")


class ControllerClient:
    """Typed calls to the controller, over a control channel and a heartbeat channel.

    The heartbeat channel is separate so a heartbeat thread never waits behind a control call.
    Heartbeats and results are numbered (their ``id``), so the controller takes a request
    that a channel sent again after a broken connection only once.
    """

    def __init__(self, channel: Channel, heartbeat_channel: Channel | None = None) -> None:
        self._channel = channel
        self._heartbeat_channel = heartbeat_channel or channel
        self._ids = itertools.count(1)  # next() is atomic: the two channels' threads share it

    def register(self, worker_id: str, info: Mapping[str, Any]) -> Registered:
        """Announce a worker; the reply carries the heartbeat interval."""
        return _call(self._channel, Register(worker_id, dict(info)), Registered)

    def next_trial(self, worker_id: str) -> Trial | None:
        """Ask for a trial; blocks until one is free, None once the study is done."""
        return _trial_or_none(self._channel, Next(worker_id))

    def heartbeat(
        self,
        worker_id: str,
        trial_id: str,
        metrics: Sequence[tuple[int, float | None]] = (),
        logs: Sequence[str] = (),
    ) -> None:
        """Say the worker is alive, with the metrics and log lines gathered since last time."""
        self.send_heartbeat(self.new_heartbeat(worker_id, trial_id, metrics, logs))

    def new_heartbeat(
        self,
        worker_id: str,
        trial_id: str,
        metrics: Sequence[tuple[int, float | None]] = (),
        logs: Sequence[str] = (),
    ) -> Heartbeat:
        """A numbered heartbeat, to send (and send again, if need be) with `send_heartbeat`."""
        points = metric_points(metrics)
        return Heartbeat(worker_id, trial_id, points, tuple(logs), self.new_request_id())

    def send_heartbeat(self, beat: Heartbeat) -> None:
        """Send a heartbeat; the controller takes a copy sent again only once."""
        _call(self._heartbeat_channel, beat, Ack)

    def new_request_id(self) -> int:
        """The number of this worker's next numbered request (a result or a heartbeat)."""
        return next(self._ids)

    def report(self, result: Result) -> Trial | None:
        """Report a finished trial; with ``result.want_next`` the reply is the next trial."""
        if not result.request_id:
            result = dataclasses.replace(result, request_id=self.new_request_id())
        if not result.want_next:
            _call(self._channel, result, Ack)
            return None
        return _trial_or_none(self._channel, result)

    def close(self) -> None:
        """Close both channels."""
        self._channel.close()
        if self._heartbeat_channel is not self._channel:
            self._heartbeat_channel.close()
