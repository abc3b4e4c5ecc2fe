"""A worker's heartbeat thread: what it sends again, and how loudly it says it failed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from autoablation._core.trial import Trial
from autoablation._executor.client import ControllerClient
from autoablation._executor.reporter import Reporter
from autoablation._executor.worker import _Heartbeat
from autoablation._wire.channel import Channel

TRIAL = Trial.create("base", "base")


class CutReplies(Channel):
    """Every request reaches the driver; the replies to the first ``failures`` are lost."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[dict[str, Any]] = []

    def _exchange(self, message: Mapping[str, Any]) -> dict[str, Any]:
        self.sent.append(dict(message))
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError("the connection was cut")
        return {"type": "ack"}

    def close(self) -> None:
        pass


def test_a_heartbeat_not_delivered_goes_again_as_it_was_before_newer_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="autoablation.worker")
    channel = CutReplies(failures=2)
    heartbeat = _Heartbeat(ControllerClient(channel), "w", interval=3600.0)  # beats by hand
    reporter = Reporter(TRIAL)
    heartbeat.track(reporter)
    reporter.broadcast(0.1, step=0)
    heartbeat.beat()  # the reply is lost...
    reporter.broadcast(0.2, step=1)
    heartbeat.beat()  # ...twice: the same heartbeat goes again, the newer point waits
    heartbeat.beat()
    heartbeat.beat()
    assert [(m["id"], m["metrics"]) for m in channel.sent] == [
        (1, [[0, 0.1]]),
        (1, [[0, 0.1]]),  # the driver takes a request id once: recorded once
        (1, [[0, 0.1]]),
        (2, [[1, 0.2]]),
    ]
    failures = [r.levelno for r in caplog.records if "heartbeat for" in r.getMessage()]
    assert failures == [logging.WARNING, logging.DEBUG]  # one warning per run of failures


def test_a_heartbeat_still_undelivered_when_the_trial_ends_goes_with_the_result() -> None:
    channel = CutReplies(failures=2)
    heartbeat = _Heartbeat(ControllerClient(channel), "w", interval=3600.0)
    reporter = Reporter(TRIAL)
    heartbeat.track(reporter)
    reporter.broadcast(0.1, step=0)
    reporter.log("epoch 0")
    heartbeat.beat()
    heartbeat.untrack()  # one more try fails: what it held goes back to the reporter
    assert len(channel.sent) == 2
    assert reporter.drain() == ([(0, 0.1)], ["epoch 0"])
