"""Channels from a task to the driver: the `Channel` base and its TCP implementation.

A channel carries JSON objects: a request out, the controller's reply back. `Channel.request`
is the one place on the task's side where an ``error`` reply becomes `ProtocolError`; the
subclasses only move messages (`RpcChannel` here, `autoablation._wire.local.LocalChannel`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from autoablation._core.errors import ProtocolError
from autoablation._wire.frames import FrameDecoder, FrameEncoder, FrameKind
from autoablation._wire.messages import Error

logger = logging.getLogger("autoablation.rpc")

_RETRY_DELAYS = (0.2, 1.0, 3.0)
_KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}


def _keepalive(sock: socket.socket) -> None:
    """Probe an idle connection so a driver that vanished is noticed in about a minute."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE.items():
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class Channel(ABC):
    """A request/response link to the controller."""

    def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send one message and return the controller's reply.

        Raises:
            ProtocolError: The controller refused the request (an ``error`` reply), or the link
                broke the protocol.
            OSError: The driver could not be reached.
        """
        reply = self._exchange(message)
        if reply.get("type") == Error.TYPE:
            raise ProtocolError(f"driver refused {message.get('type')!r}: {reply.get('message')}")
        return reply

    @abstractmethod
    def _exchange(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Move one message to the controller and its reply back, whatever the reply says."""

    @abstractmethod
    def close(self) -> None:
        """Release the link."""


class RpcChannel(Channel):
    """An authenticated TCP connection to the driver's RPC server.

    A request that fails on a broken connection is sent again, unchanged, on a fresh one, a
    few times; the controller takes a repeat once (see `autoablation._wire.messages`). The
    retries are logged at debug level only: a driver that is gone (killed, or finished while
    this task was cut off) would otherwise fill every leftover task's log; the error raised
    when the last retry fails says what happened.

    Args:
        address: ``(host, port)`` of the driver's server.
        secret: The experiment's secret.
        connect_timeout: Seconds to wait for the connection and the driver's HELLO.
        timeout: Seconds to wait for a reply; None waits as long as the connection lives
            (a parked ``next`` may wait as long as a trial runs). TCP keepalive notices a
            driver that vanished within about a minute either way.
    """

    def __init__(
        self,
        address: tuple[str, int],
        secret: bytes,
        *,
        connect_timeout: float = 30.0,
        timeout: float | None = None,
    ) -> None:
        self._address = address
        self._secret = secret
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._decoder: FrameDecoder | None = None
        self._encoder: FrameEncoder | None = None
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _connect(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(sock)
        decoder = FrameDecoder(self._secret, FrameKind.REPLY)
        try:
            while decoder.nonce is None:
                data = sock.recv(4096)
                if not data:  # a full server, or one restarting: worth another try
                    host, port = self._address
                    raise ConnectionResetError(f"driver at {host}:{port} closed the connection")
                self._pending.extend(decoder.feed(data))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self._timeout)
        self._sock, self._decoder = sock, decoder
        self._encoder = FrameEncoder(self._secret, FrameKind.REQUEST, decoder.nonce)

    def _round_trip(self, message: Mapping[str, Any]) -> dict[str, Any]:
        if self._sock is None:
            self._connect()
        assert self._sock is not None and self._encoder is not None and self._decoder is not None
        self._sock.sendall(self._encoder.encode(message))
        while not self._pending:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionResetError("the driver closed the connection")
            self._pending.extend(self._decoder.feed(data))
        return self._pending.pop(0)

    def _exchange(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``message`` and wait for the reply, on a fresh connection if one broke.

        Raises:
            ProtocolError: The driver spoke outside the protocol.
            OSError: The driver stayed unreachable through every retry.
        """
        with self._lock:
            for tries, delay in enumerate((*_RETRY_DELAYS, None), 1):
                try:
                    reply = self._round_trip(message)
                    break
                except ProtocolError:
                    self._reset()
                    raise
                except OSError as exc:
                    self._reset()
                    if delay is None:
                        host, port = self._address
                        raise type(exc)(
                            f"the driver at {host}:{port} did not answer {message.get('type')!r} "
                            f"in {tries} tries over {sum(_RETRY_DELAYS):g}s: {exc}"
                        ) from exc
                    logger.debug("driver connection failed (%s); retrying in %.1fs", exc, delay)
                    time.sleep(delay)
        return reply

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._decoder = self._encoder = None
        self._pending.clear()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._reset()
