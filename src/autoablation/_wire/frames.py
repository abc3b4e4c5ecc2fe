"""The driver-executor wire protocol, version 1: framing, authentication, messages.

Data only, never code: a payload is UTF-8 JSON, and it is decoded only after its HMAC checks out.

Frame (all integers big-endian)::

    offset  size  field
    0       2     magic  b"AA"
    2       1     protocol version (1)
    3       1     kind: 1 HELLO and 3 REPLY (driver to task), 2 REQUEST (task to driver)
    4       4     payload length in bytes
    8       8     sequence number
    16      32    HMAC-SHA256(secret, nonce || bytes 0-15 || payload)
    48      n     payload

* The secret is 32 random bytes made per experiment on the driver; it reaches executors inside
  the Spark task closure and never travels on this channel.
* On accept the driver sends a HELLO whose payload is a fresh 16-byte connection nonce (its HMAC
  uses 16 zero bytes as nonce). Every later frame on that connection mixes the nonce into its
  HMAC, and each direction numbers its frames 1, 2, 3... so a frame recorded on one connection
  or in another experiment, or replayed out of order, fails.
* The receiver checks magic, version, kind and length from the 48-byte prefix before it reads
  the payload, refuses lengths over its limit (smaller until the first frame authenticates),
  and compares the HMAC in constant time before decoding anything.
* REQUEST payloads are JSON objects with a string ``type``; see ``docs/protocol.md`` for the
  message types and their fields.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Mapping
from typing import Any

from autoablation._core.errors import AuthenticationError, FrameTooLargeError, ProtocolError
from autoablation._core.jsonsafe import dumps

PROTOCOL_VERSION = 1
MAGIC = b"AA"
_HEADER = struct.Struct(">2sBBIQ")
HEADER_SIZE = _HEADER.size
MAC_SIZE = hashlib.sha256().digest_size
PREFIX_SIZE = HEADER_SIZE + MAC_SIZE
NONCE_SIZE = 16
SECRET_SIZE = 32
_ZERO_NONCE = bytes(NONCE_SIZE)

MAX_FRAME = 8 * 1024 * 1024
"""Largest payload accepted on an authenticated connection."""
MAX_FIRST_FRAME = 64 * 1024
"""Largest payload accepted before a connection's first frame has authenticated."""


class FrameKind(enum.IntEnum):
    """Who sent a frame; part of the authenticated header, so it cannot be reflected."""

    HELLO = 1
    REQUEST = 2
    REPLY = 3


def new_secret() -> bytes:
    """A fresh per-experiment secret."""
    return secrets.token_bytes(SECRET_SIZE)


def new_nonce() -> bytes:
    """A fresh per-connection nonce."""
    return secrets.token_bytes(NONCE_SIZE)


def _mac(secret: bytes, nonce: bytes, header: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, nonce + header + payload, hashlib.sha256).digest()


def encode_frame(secret: bytes, nonce: bytes, kind: FrameKind, seq: int, payload: bytes) -> bytes:
    """Frame and authenticate ``payload``."""
    header = _HEADER.pack(MAGIC, PROTOCOL_VERSION, int(kind), len(payload), seq)
    return header + _mac(secret, nonce, header, payload) + payload


def hello_frame(secret: bytes, nonce: bytes) -> bytes:
    """The first frame on a connection, carrying its nonce."""
    return encode_frame(secret, _ZERO_NONCE, FrameKind.HELLO, 0, nonce)


def encode_message(message: Mapping[str, Any]) -> bytes:
    """JSON-encode a message; non-finite floats become null.

    Raises:
        ProtocolError: The message holds something JSON cannot carry.
    """
    try:
        text = dumps(message, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"message cannot be sent as JSON: {exc}") from exc
    return text.encode("utf-8")


def decode_message(payload: bytes) -> dict[str, Any]:
    """Decode an authenticated payload into a message dict.

    Raises:
        ProtocolError: Not UTF-8 JSON, not an object, or no string ``type``.
    """
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"payload is not UTF-8 JSON: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("message must be a JSON object with a string 'type'")
    return message


class FrameDecoder:
    """Incremental, authenticated frame parser for one connection and one direction.

    Feed it bytes as they arrive; it returns each complete, authenticated message. It holds at
    most one prefix and one payload of bytes, so memory per connection is bounded by the
    length limit.

    Args:
        secret: The experiment's secret.
        expect: The kind of frames this side accepts (REQUEST on the driver, REPLY on tasks).
        nonce: The connection nonce, or None on a task until the driver's HELLO arrives.
        max_frame: Largest payload accepted once authenticated.
        max_first_frame: Largest payload accepted before the first frame authenticates.
    """

    def __init__(
        self,
        secret: bytes,
        expect: FrameKind,
        nonce: bytes | None = None,
        *,
        max_frame: int = MAX_FRAME,
        max_first_frame: int = MAX_FIRST_FRAME,
    ) -> None:
        self._secret = secret
        self._expect = expect
        self.nonce = nonce
        self._max_frame = max_frame
        self._max_first_frame = min(max_first_frame, max_frame)
        self._buffer = bytearray()
        self._next_seq = 1
        self.authenticated = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed."""
        return len(self._buffer)

    def _limit(self) -> int:
        return self._max_frame if self.authenticated else self._max_first_frame

    def _check_header(self) -> tuple[FrameKind, int, int] | None:
        if len(self._buffer) < HEADER_SIZE:
            if self._buffer[: len(MAGIC)] != MAGIC[: len(self._buffer)]:
                raise ProtocolError("bad magic bytes: not an autoablation frame")
            return None
        magic, version, kind, length, seq = _HEADER.unpack_from(self._buffer)
        if magic != MAGIC:
            raise ProtocolError("bad magic bytes: not an autoablation frame")
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"protocol version {version} is not supported (this side speaks "
                f"{PROTOCOL_VERSION}); driver and executors must run the same autoablation"
            )
        waiting_hello = self.nonce is None
        expected = FrameKind.HELLO if waiting_hello else self._expect
        if kind != expected:
            raise ProtocolError(f"unexpected frame kind {kind}; expected {expected.name}")
        limit = NONCE_SIZE if waiting_hello else self._limit()
        if length > limit:
            raise FrameTooLargeError(f"frame of {length} bytes is over the {limit}-byte limit")
        return FrameKind(kind), length, seq

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Consume ``data`` and return every message it completes.

        Raises:
            ProtocolError: Garbage, a wrong kind or version, or a sequence gap.
            FrameTooLargeError: A declared length over the limit.
            AuthenticationError: A frame whose HMAC does not match.
        """
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while True:
            parsed = self._check_header()
            if parsed is None:
                return messages
            kind, length, seq = parsed
            if len(self._buffer) < PREFIX_SIZE + length:
                return messages
            header = bytes(self._buffer[:HEADER_SIZE])
            mac = bytes(self._buffer[HEADER_SIZE:PREFIX_SIZE])
            payload = bytes(self._buffer[PREFIX_SIZE : PREFIX_SIZE + length])
            del self._buffer[: PREFIX_SIZE + length]
            nonce = _ZERO_NONCE if kind is FrameKind.HELLO else self.nonce
            assert nonce is not None
            if not hmac.compare_digest(mac, _mac(self._secret, nonce, header, payload)):
                raise AuthenticationError(
                    "frame HMAC does not match this experiment's secret "
                    "(a frame from another experiment, a replay, or tampering)"
                )
            if kind is FrameKind.HELLO:
                if len(payload) != NONCE_SIZE:
                    raise ProtocolError("HELLO frame does not carry a nonce")
                self.nonce = payload
                continue
            if seq != self._next_seq:
                raise AuthenticationError(
                    f"frame sequence {seq} where {self._next_seq} was expected (a replay)"
                )
            self._next_seq += 1
            self.authenticated = True
            messages.append(decode_message(payload))


class FrameEncoder:
    """Numbers and authenticates outgoing frames for one connection and one direction."""

    def __init__(self, secret: bytes, kind: FrameKind, nonce: bytes | None = None) -> None:
        self._secret = secret
        self._kind = kind
        self.nonce = nonce
        self._seq = 0

    def encode(self, message: Mapping[str, Any]) -> bytes:
        """Return the next frame carrying ``message``.

        Raises:
            ProtocolError: No nonce yet (the HELLO has not arrived), or a non-JSON message.
        """
        return self.frame(encode_message(message))

    def frame(self, payload: bytes) -> bytes:
        """Return the next frame carrying an already encoded ``payload``.

        Raises:
            ProtocolError: No nonce yet (the HELLO has not arrived).
        """
        if self.nonce is None:
            raise ProtocolError("cannot send before the driver's HELLO set the nonce")
        self._seq += 1
        return encode_frame(self._secret, self.nonce, self._kind, self._seq, payload)
