"""One wiring of a controller to the RPC server, for the launcher and the tests alike.

The server's selector thread decodes each authenticated request and hands it to
`Controller.submit` with a reply callback that sends on the request's connection
(`RpcServer.send`, safe from any thread); a closed connection becomes
`Controller.connection_closed`. Neither call blocks or takes a lock of the controller's.
"""

from __future__ import annotations

import functools
from typing import Any

from autoablation._wire.local import Inbox
from autoablation._wire.server import RpcServer


def serve_over_rpc(
    controller: Inbox, secret: bytes, *, host: str = "127.0.0.1", **server_options: Any
) -> RpcServer:
    """An RPC server whose requests go to ``controller`` and replies back to their connection.

    The server is bound (its address is known) but not started. ``server_options`` go to
    `RpcServer`.
    """

    def handle(conn: int, message: dict[str, Any]) -> None:
        controller.submit(message, functools.partial(server.send, conn), conn)

    server = RpcServer(
        secret, handle, on_close=controller.connection_closed, host=host, **server_options
    )
    return server
