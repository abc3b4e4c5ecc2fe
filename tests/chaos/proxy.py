"""A TCP proxy between the Spark tasks and the driver that drops, truncates and delays frames.

It reads the protocol's frames (the 48-byte prefix says how long each one is) and, for a seeded
share of them while its budget lasts, injects a fault: it drops the connection with the frame in
flight (``proxy-cut``), forwards only part of the frame and then drops it
(``proxy-truncated``), holds it for a moment (``proxy-delayed``), or holds a heartbeat past
the driver's heartbeat timeout (``heartbeat-stalled``), so that the driver hands the trial to
another worker while the first one still runs it. Faults go both ways: a reply that never
arrives makes the task send its request again.

The first exchange on each connection (the driver's HELLO, the task's first request and its
reply) is never dropped or cut: a request that a broken connection made the task send again
always gets through once, so the proxy cannot exhaust a task's retries by bad luck.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass

from tests.chaos.faults import FaultLog

_PREFIX = 48  # magic, version, kind, length, sequence number, HMAC
_REQUEST = 2


@dataclass(frozen=True)
class ProxyPlan:
    """How many faults of each kind the proxy may inject, and how often."""

    seed: int
    cuts: int = 0
    truncations: int = 0
    delays: int = 0
    stalled_beats: int = 0
    rate: float = 0.05
    """The chance that a frame gets a fault, while some are left."""
    beat_hold_s: float = 3.0
    """How long a stalled heartbeat is held: longer than the heartbeat timeout."""


class _Link:
    """A task's connection and the proxy's connection upstream; closing one closes both."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.frames = 0  # frames forwarded so far, both ways
        self._closed = threading.Event()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        try:
            chunk = sock.recv(left)
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(sock: socket.socket) -> bytes | None:
    prefix = _read_exactly(sock, _PREFIX)
    if prefix is None:
        return None
    (length,) = struct.unpack(">I", prefix[4:8])
    payload = _read_exactly(sock, length)
    return None if payload is None else prefix + payload


def _message_type(frame: bytes) -> str:
    if frame[3] != _REQUEST:
        return "reply"
    try:
        kind = json.loads(frame[_PREFIX:]).get("type")
    except (ValueError, AttributeError):
        return "?"
    return kind if isinstance(kind, str) else "?"


class FaultyProxy:
    """Listens on 127.0.0.1 and forwards every connection to ``upstream``, with faults.

    Args:
        upstream: The driver's RPC server.
        plan: The faults it may inject.
        log: Where each injected fault is recorded.
    """

    def __init__(self, upstream: tuple[str, int], plan: ProxyPlan, log: FaultLog) -> None:
        self._upstream = upstream
        self._plan = plan
        self._log = log
        self._rng = random.Random(plan.seed)
        self._left = {
            "proxy-cut": plan.cuts,
            "proxy-truncated": plan.truncations,
            "proxy-delayed": plan.delays,
            "heartbeat-stalled": plan.stalled_beats,
        }
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        threading.Thread(target=self._accept, name="chaos-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            for source, target, way in ((client, upstream, "request"), (upstream, client, "reply")):
                threading.Thread(
                    target=self._pump, args=(link, source, target, way), daemon=True
                ).start()

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket, way: str) -> None:
        while (frame := _read_frame(source)) is not None:
            with self._lock:
                link.frames += 1
                first_exchange = link.frames <= 3  # HELLO, first request, its reply
            message = _message_type(frame)
            fault = self._decide(message, first_exchange)
            if fault is not None:
                self._log.note(fault, direction=way, message=message)
            try:
                if fault == "proxy-cut":
                    break
                if fault == "proxy-truncated":
                    target.sendall(frame[: self._rng.randint(1, len(frame) - 1)])
                    break
                if fault == "proxy-delayed":
                    time.sleep(self._rng.uniform(0.1, 0.8))
                elif fault == "heartbeat-stalled":
                    time.sleep(self._plan.beat_hold_s)
                target.sendall(frame)
            except OSError:
                break
        link.close()

    def _decide(self, message: str, first_exchange: bool) -> str | None:
        """The fault a frame gets, if any, taken from what is left of the budget."""
        with self._lock:
            if self._rng.random() >= self._plan.rate:
                return None
            kinds = [
                kind
                for kind, left in self._left.items()
                if left > 0
                and (kind != "heartbeat-stalled" or message == "heartbeat")
                and not (first_exchange and kind in ("proxy-cut", "proxy-truncated"))
            ]
            if not kinds:
                return None
            kind = self._rng.choices(kinds, weights=[self._left[k] for k in kinds])[0]
            self._left[kind] -= 1
            return kind

    def close(self) -> None:
        """Stop accepting (open connections go on until they close)."""
        self._listener.close()
