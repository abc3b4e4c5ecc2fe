"""Every message of the protocol encodes to JSON and parses back; malformed ones name the field."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import pytest

from autoablation import ProtocolError, TrialStatus
from autoablation._executor.client import ControllerClient
from autoablation._wire.channel import Channel
from autoablation._wire.frames import decode_message, encode_message
from autoablation._wire.messages import (
    ACK,
    DONE,
    Assignment,
    Error,
    Heartbeat,
    MessageError,
    Next,
    Register,
    Registered,
    Result,
    parse_reply,
    parse_request,
)
from tests.helpers import make_trials

TRIAL = make_trials(2)[1]

REQUESTS = [
    Register("w", {"host": "h", "generation": 2, "partition": 5}),
    Next("w"),
    Heartbeat("w", "t1", ((0, 0.5), (1, 0.25)), ("a line",)),
    Result(
        "w",
        "t1",
        TrialStatus.OK,
        metric=0.9,
        started_at=1.0,
        finished_at=2.0,
        outputs={"loss": 0.1},
        metrics=((0, 0.5),),
        logs=("done",),
        want_next=True,
    ),
    Result("w", "t1", TrialStatus.FAILED, error="Traceback ...", fatal=True),
    Result("w", "t1", TrialStatus.TIMED_OUT, error="TrialTimeout"),
]
RESULT = {"type": "result", "worker": "w", "trial": "t", "status": "failed"}
REPLIES = [Registered(0.5), Assignment(TRIAL, 2), DONE, ACK, Error("no such worker")]


def over_the_wire(message: Mapping[str, Any]) -> dict[str, Any]:
    return decode_message(encode_message(message))


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.TYPE}")
def test_every_request_encodes_and_parses_back(request_: Any) -> None:
    assert parse_request(over_the_wire(request_.encode())) == request_


@pytest.mark.parametrize("reply", REPLIES, ids=lambda r: r.TYPE)
def test_every_reply_encodes_and_parses_back(reply: Any) -> None:
    assert parse_reply(over_the_wire(reply.encode())) == reply


def test_register_reads_its_job_and_partition_from_info() -> None:
    assert (REQUESTS[0].generation, REQUESTS[0].partition) == (2, 5)
    assert (Register("w").generation, Register("w").partition) == (0, -1)


def test_a_non_finite_metric_travels_as_null_and_comes_back_nan() -> None:
    beat = parse_request(over_the_wire(Heartbeat("w", "t", ((3, math.inf),)).encode()))
    assert isinstance(beat, Heartbeat) and beat.metrics[0][0] == 3
    assert math.isnan(beat.metrics[0][1])


def test_the_encoded_request_is_plain_json() -> None:
    text = json.dumps(REQUESTS[3].encode())
    assert json.loads(text)["status"] == "ok" and json.loads(text)["next"] is True


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "register", "info": {}}, "'worker'"),
        ({"type": "register", "worker": "w", "info": [1]}, "'info'"),
        ({"type": "next", "worker": 3}, "'worker'"),
        ({"type": "heartbeat", "worker": "w"}, "'trial'"),
        ({"type": "heartbeat", "worker": "w", "trial": "t", "metrics": [[0.5, 1]]}, "'metrics'"),
        ({"type": "heartbeat", "worker": "w", "trial": "t", "logs": "x"}, "'logs'"),
        ({**RESULT, "status": "lost"}, "status"),
        ({**RESULT, "status": "ok"}, "metric"),
        ({**RESULT, "worker": None}, "'worker'"),
        ({**RESULT, "trial": None}, "'trial'"),
        ({**RESULT, "error": 1}, "'error'"),
        ({**RESULT, "outputs": [1]}, "'outputs'"),
        ({**RESULT, "started_at": "x"}, "'started_at'"),
        ({**RESULT, "finished_at": math.inf}, "'finished_at'"),
        ({**RESULT, "metrics": {}}, "'metrics'"),
        ({"type": "bye", "worker": "w"}, "unknown message type 'bye'"),
        ({"worker": "w"}, "unknown message type None"),
    ],
)
def test_a_malformed_request_names_what_is_wrong(message: dict[str, Any], field: str) -> None:
    with pytest.raises(MessageError, match=field):
        parse_request(message)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "registered"}, "'heartbeat_interval'"),
        ({"type": "registered", "heartbeat_interval": 0}, "'heartbeat_interval'"),
        ({"type": "trial", "attempt": 1}, "'trial'"),
        ({"type": "trial", "trial": {"kind": "base"}, "attempt": 1}, "'trial' is not a trial"),
        ({"type": "trial", "trial": TRIAL.to_dict()}, "'attempt'"),
        ({"type": "error"}, "'message'"),
        ({"type": "register", "worker": "w"}, "unknown message type 'register'"),
    ],
)
def test_a_malformed_reply_names_what_is_wrong(message: dict[str, Any], field: str) -> None:
    with pytest.raises(MessageError, match=field):
        parse_reply(message)


class Scripted(Channel):
    """A channel that answers every request with the next reply of a script."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.sent: list[dict[str, Any]] = []
        self._replies = list(replies)

    def _exchange(self, message: Mapping[str, Any]) -> dict[str, Any]:
        self.sent.append(over_the_wire(message))
        return self._replies.pop(0)

    def close(self) -> None:
        pass


def test_an_error_reply_raises_protocol_error_naming_the_request() -> None:
    channel = Scripted(Error("worker 'w' is not registered").encode())
    with pytest.raises(ProtocolError, match="refused 'next': worker 'w' is not registered"):
        ControllerClient(channel).next_trial("w")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"type": "trial", "trial": {}}, "reply to 'next' is malformed"),
        ({"type": "ack"}, "expected a 'trial' or 'done' reply to 'next'; got 'ack'"),
    ],
)
def test_a_reply_the_client_cannot_use_raises_protocol_error(
    reply: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        ControllerClient(Scripted(reply)).next_trial("w")


def test_the_client_sends_typed_requests_and_reads_typed_replies() -> None:
    channel = Scripted(
        Registered(0.25).encode(), Assignment(TRIAL, 1).encode(), ACK.encode(), DONE.encode()
    )
    client = ControllerClient(channel)
    assert client.register("w", {"pid": 1}).heartbeat_interval == 0.25
    assert client.next_trial("w") == TRIAL
    client.heartbeat("w", TRIAL.trial_id, [(0, None)], ["x"])
    result = Result("w", TRIAL.trial_id, TrialStatus.OK, metric=1.0, want_next=True)
    assert client.report(result) is None  # 'done'
    assert [parse_request(m) for m in channel.sent][1:] == [
        Next("w"),
        Heartbeat("w", TRIAL.trial_id, ((0, math.nan),), ("x",), request_id=1),
        dataclasses.replace(result, request_id=2),  # numbered: a copy sent again is taken once
    ]
