"""The driver's RPC server: one selector thread, non-blocking sockets, authenticated frames.

The server only moves messages. Each authenticated request goes to the handler (the
controller's inbox) together with its connection id; replies come back through `RpcServer.send`,
from any thread. The sending thread writes a reply itself when the socket takes it whole (a
small reply to a client waiting for it: nearly always), so a reply costs no hand-over to the
selector thread; anything left over is queued, and a socketpair wakes the selector to write
it. Only the selector thread reads, accepts and closes connections. A connection that sends
garbage, a bad HMAC, an oversize length or nothing at all within the handshake timeout is
closed, and only that connection: the others keep being served.

Thread safety: `send`, `close_connection` and `stop` may be called from any thread; the rest
runs on the selector thread. The server has one lock, the write lock, and it is a leaf: it
is held only around non-blocking operations on one connection (framing a reply's JSON with
the connection's sequence number and HMAC, appending to and writing out its output buffer,
changing its selector registration, closing its socket) and around the outbox queue. It is
never held while JSON-encoding or decoding, logging, calling the request handler or the close
handler, or waiting for anything, so a handler may take any lock of its own and call `send`.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autoablation._core.errors import ProtocolError
from autoablation._wire.frames import (
    MAX_FIRST_FRAME,
    MAX_FRAME,
    FrameDecoder,
    FrameEncoder,
    FrameKind,
    encode_message,
    hello_frame,
    new_nonce,
)

logger = logging.getLogger("autoablation.rpc")

Handler = Callable[[int, dict[str, Any]], None]
CloseHandler = Callable[[int], None]

_READ_CHUNK = 64 * 1024
_LISTENER = "listener"
_WAKER = "waker"
_FLUSH = b""
"""Outbox marker: write what a sending thread left in the connection's buffer."""
_ACCEPT_PAUSE_S = 0.5
_OUT_OF_DESCRIPTORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def default_max_connections() -> int:
    """Half the process's file-descriptor limit, at most 1024: room for Spark's own sockets."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 2))


@dataclass
class _Connection:
    conn_id: int
    sock: socket.socket
    peer: str
    decoder: FrameDecoder
    encoder: FrameEncoder
    deadline: float | None
    out: bytearray = field(default_factory=bytearray)
    queued: int = 0
    """Replies waiting in the outbox; while any wait, later ones queue behind them."""


@dataclass
class ServerStats:
    """Counters for monitoring and tests."""

    accepted: int = 0
    rejected: int = 0
    """Connections refused or dropped for what they sent (or for room)."""
    timed_out: int = 0
    """Connections dropped for sending no valid frame within the handshake timeout."""
    messages: int = 0
    open: int = 0
    peak_buffered: int = 0
    """The most bytes ever held for one connection's unfinished frames."""


class RpcServer:
    """Authenticated, length-prefixed JSON RPC over TCP, served by one selector thread.

    Args:
        secret: The experiment's secret (see `autoablation._wire.frames`).
        handler: Called on the server thread with ``(conn_id, message)`` for every
            authenticated request; it must return quickly (enqueue, do not work).
        on_close: Called on the server thread with the id of every connection that closes.
        host: Address to listen on; the driver's address, never all interfaces by default.
        port: Port to listen on; 0 picks a free one.
        max_frame: Largest payload accepted from an authenticated connection.
        max_connections: Connections held at once; further ones are closed on accept
            (default: half the file-descriptor limit, at most 1024).
        max_unauthenticated: Connections held that have not yet sent a valid frame; past
            it the oldest such connection is dropped, so idle intruders cannot lock tasks out.
        handshake_timeout: Seconds a new connection has to send its first valid frame.
    """

    def __init__(
        self,
        secret: bytes,
        handler: Handler,
        *,
        on_close: CloseHandler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_frame: int = MAX_FRAME,
        max_connections: int | None = None,
        max_unauthenticated: int = 64,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._secret = secret
        self._handler = handler
        self._on_close = on_close
        self._max_frame = max_frame
        self._max_connections = max_connections or default_max_connections()
        self._max_unauthenticated = max_unauthenticated
        self._handshake_timeout = handshake_timeout
        self._accept_paused_until: float | None = None
        self._selector = selectors.DefaultSelector()
        self._listener = socket.create_server((host, port), backlog=256)
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # Encoded replies (JSON payloads not yet framed), _FLUSH, or None for a close.
        self._outbox: collections.deque[tuple[int, bytes | None]] = collections.deque()
        # Guards what a sending thread touches: encoders, output buffers, sockets being closed,
        # the outbox. A leaf: see the module docstring.
        self._write_lock = threading.Lock()
        self._connections: dict[int, _Connection] = {}
        self._next_id = 0
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.stats = ServerStats()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Start the selector thread."""
        self._selector.register(self._listener, selectors.EVENT_READ, _LISTENER)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKER)
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="autoablation-rpc", daemon=True)
        self._thread.start()
        logger.info("RPC server listening on %s:%d", *self.address)

    def send(self, conn_id: int, message: dict[str, Any]) -> None:
        """Send a reply on a connection; safe from any thread, never blocks on the socket."""
        try:
            payload = encode_message(message)
        except ProtocolError:
            logger.exception("cannot encode a %r reply", message.get("type"))
            return
        with self._write_lock:
            conn = self._connections.get(conn_id)
            if conn is None:
                return  # closed meanwhile; the controller was told
            if not conn.out and not conn.queued:
                conn.out += conn.encoder.frame(payload)
                with contextlib.suppress(OSError):  # the selector thread sees the error
                    del conn.out[: conn.sock.send(conn.out)]
                if not conn.out:
                    return
                payload = _FLUSH
            conn.queued += 1
            self._outbox.append((conn_id, payload))
        self._wake()

    def close_connection(self, conn_id: int) -> None:
        """Close a connection after what is queued for it; safe from any thread."""
        with self._write_lock:
            conn = self._connections.get(conn_id)
            if conn is not None:
                conn.queued += 1
            self._outbox.append((conn_id, None))
        self._wake()

    def stop(self) -> None:
        """Stop serving and close every socket (also when `start` never ran)."""
        if self._closed:
            return
        self._closed = True
        self._running = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for conn in list(self._connections.values()):
            self._drop(conn, "server stopping", notify=False, quiet=True)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already awake) or closed (stopping)
            self._wake_w.send(b"\0")

    def _serve(self) -> None:
        while self._running:
            try:
                self._serve_once()
            except Exception:  # the server thread must outlive any single bad event
                logger.exception("RPC server loop error")

    def _serve_once(self) -> None:
        deadlines = [c.deadline for c in self._connections.values() if c.deadline is not None]
        if self._accept_paused_until is not None:
            deadlines.append(self._accept_paused_until)
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        for key, mask in self._selector.select(timeout):
            try:
                self._handle_event(key, mask)
            except Exception:  # one bad event must not starve the others
                logger.exception("RPC server failed on an event")
        self._flush_outbox()
        now = time.monotonic()
        for conn in list(self._connections.values()):
            if conn.deadline is not None and now >= conn.deadline:
                self.stats.timed_out += 1
                self._drop(conn, "sent no valid frame within the handshake timeout")
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self._selector.register(self._listener, selectors.EVENT_READ, _LISTENER)

    def _handle_event(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data == _LISTENER:
            self._accept()
        elif key.data == _WAKER:
            self._drain_waker()
        else:
            conn: _Connection = key.data
            if mask & selectors.EVENT_READ:
                self._read(conn)
            if mask & selectors.EVENT_WRITE and conn.conn_id in self._connections:
                self._flush(conn)

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of descriptors: stop accepting for a moment instead of spinning on the listener."""
        logger.warning("cannot accept RPC connections (%s); pausing %.1fs", exc, _ACCEPT_PAUSE_S)
        self._selector.unregister(self._listener)
        self._accept_paused_until = time.monotonic() + _ACCEPT_PAUSE_S

    def _make_room_for_unauthenticated(self) -> None:
        waiting = [c for c in self._connections.values() if c.deadline is not None]
        if len(waiting) >= self._max_unauthenticated:
            oldest = min(waiting, key=lambda c: c.deadline or 0.0)
            self.stats.rejected += 1
            self._drop(oldest, "still unauthenticated while newer connections wait")

    def _accept(self) -> None:
        while True:
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    self._pause_accepting(exc)
                    return
                continue  # the peer gave up before it was accepted (ECONNABORTED...)
            peer_name = f"{peer[0]}:{peer[1]}"
            if len(self._connections) >= self._max_connections:
                self.stats.rejected += 1
                logger.warning(
                    "refusing connection from %s: %d open", peer_name, len(self._connections)
                )
                sock.close()
                continue
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                sock.close()
                continue
            self._make_room_for_unauthenticated()
            nonce = new_nonce()
            self._next_id += 1
            conn = _Connection(
                conn_id=self._next_id,
                sock=sock,
                peer=peer_name,
                decoder=FrameDecoder(
                    self._secret,
                    FrameKind.REQUEST,
                    nonce,
                    max_frame=self._max_frame,
                    max_first_frame=MAX_FIRST_FRAME,
                ),
                encoder=FrameEncoder(self._secret, FrameKind.REPLY, nonce),
                deadline=time.monotonic() + self._handshake_timeout,
            )
            conn.out += hello_frame(self._secret, nonce)
            self._connections[conn.conn_id] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self.stats.accepted += 1
            self.stats.open = len(self._connections)
            self._flush(conn)

    def _drain_waker(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(_READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(conn, f"read failed: {exc}")
            return
        if not data:
            self._drop(conn, "closed by peer", quiet=True)
            return
        held = conn.decoder.buffered + len(data)
        self.stats.peak_buffered = max(self.stats.peak_buffered, held)
        try:
            messages = conn.decoder.feed(data)
        except ProtocolError as exc:
            self.stats.rejected += 1
            self._drop(conn, str(exc))
            return
        if conn.decoder.authenticated:
            conn.deadline = None
        for message in messages:
            self.stats.messages += 1
            try:
                self._handler(conn.conn_id, message)
            except Exception:
                logger.exception("RPC handler failed on a %r message", message.get("type"))

    def _flush_outbox(self) -> None:
        while self._outbox:
            with self._write_lock:
                conn_id, payload = self._outbox.popleft()
                conn = self._connections.get(conn_id)
                if conn is None:
                    continue  # closed meanwhile; the controller was told
                conn.queued -= 1
                if payload:  # not a close, nor the rest of a reply a sending thread began
                    conn.out += conn.encoder.frame(payload)
            self._flush(conn)
            if payload is None:
                self._drop(conn, "closed by the server", quiet=True)

    def _flush(self, conn: _Connection) -> None:
        """Write what the connection holds; drop it (outside the write lock) if that fails."""
        failure: OSError | None = None
        with self._write_lock:
            if conn.conn_id not in self._connections:
                return
            try:
                while conn.out:
                    sent = conn.sock.send(conn.out)
                    del conn.out[:sent]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                failure = exc
            if failure is None:
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
                self._selector.modify(conn.sock, events, conn)
        if failure is not None:
            self._drop(conn, f"write failed: {failure}")

    def _drop(
        self, conn: _Connection, reason: str, *, notify: bool = True, quiet: bool = False
    ) -> None:
        """Close a connection, then tell the close handler.

        Never called holding the write lock, so the handler may take locks of its own.
        """
        with self._write_lock:
            if self._connections.pop(conn.conn_id, None) is None:
                return
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
            conn.sock.close()
        self.stats.open = len(self._connections)
        if not quiet:
            logger.warning("dropping RPC connection from %s: %s", conn.peer, reason)
        if notify and self._on_close is not None:
            try:
                self._on_close(conn.conn_id)
            except Exception:
                logger.exception("RPC close handler failed")
