"""An in-process channel to a controller: the RPC messages without sockets (threads, tests)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Protocol

from autoablation._wire.channel import Channel
from autoablation._wire.frames import decode_message, encode_message


class Inbox(Protocol):
    """What a local channel needs of the controller: its inbox and its closed-link notice."""

    def submit(
        self, message: dict[str, Any], reply: Callable[[dict[str, Any]], None], conn: Any
    ) -> None:
        """Queue a request; ``reply`` is called once with the answer."""
        ...

    def connection_closed(self, conn: Any) -> None:
        """Say that the link ``conn`` is gone."""
        ...


class LocalChannel(Channel):
    """An in-process `Channel` to a controller: the RPC messages without sockets.

    Messages make a JSON round trip both ways, so what works here works over the wire.
    """

    _ids = itertools.count(1)

    def __init__(self, controller: Inbox) -> None:
        self._controller = controller
        self._conn = f"local-{next(self._ids)}"

    def _exchange(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``message`` to the controller and wait for its reply."""
        future: Future[dict[str, Any]] = Future()
        wire = decode_message(encode_message(message))
        self._controller.submit(
            wire, lambda r: future.set_result(decode_message(encode_message(r))), self._conn
        )
        return future.result()

    def close(self) -> None:
        """Tell the controller this link is gone."""
        self._controller.connection_closed(self._conn)
