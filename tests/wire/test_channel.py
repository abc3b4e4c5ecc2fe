"""The task's TCP channel to the driver: retries after a broken connection, and their noise."""

from __future__ import annotations

import logging
import socket

import pytest

from autoablation._wire import channel as channel_module
from autoablation._wire.channel import RpcChannel
from autoablation._wire.frames import new_secret


def test_a_driver_that_is_gone_is_retried_quietly_then_named(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(channel_module, "_RETRY_DELAYS", (0.0, 0.0, 0.0))
    with socket.socket() as probe:  # a port where nothing listens any more: a killed driver
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.DEBUG, logger="autoablation.rpc")
    channel = RpcChannel(("127.0.0.1", port), new_secret(), connect_timeout=5.0)
    with pytest.raises(
        ConnectionRefusedError, match=rf"the driver at 127.0.0.1:{port} did not answer 'next' in 4"
    ):
        channel.request({"type": "next", "worker": "w"})
    retries = [r.levelno for r in caplog.records if "retrying" in r.getMessage()]
    assert retries == [logging.DEBUG] * 3  # a leftover task of a killed driver stays quiet
