import json
import struct

import pytest

from autoablation import AuthenticationError, FrameTooLargeError, ProtocolError
from autoablation._wire.frames import (
    MAX_FIRST_FRAME,
    PREFIX_SIZE,
    FrameDecoder,
    FrameEncoder,
    FrameKind,
    encode_frame,
    hello_frame,
    new_nonce,
    new_secret,
)

SECRET = new_secret()


def pair(secret: bytes = SECRET) -> tuple[FrameEncoder, FrameDecoder]:
    nonce = new_nonce()
    return FrameEncoder(secret, FrameKind.REQUEST, nonce), FrameDecoder(
        SECRET, FrameKind.REQUEST, nonce
    )


def test_messages_round_trip_in_order_even_byte_by_byte() -> None:
    encoder, decoder = pair()
    stream = encoder.encode({"type": "next", "worker": "w"}) + encoder.encode(
        {"type": "m", "x": [1.5]}
    )
    received = []
    for byte in stream:
        received += decoder.feed(bytes([byte]))
    assert received == [{"type": "next", "worker": "w"}, {"type": "m", "x": [1.5]}]


def test_non_finite_floats_travel_as_null() -> None:
    encoder, decoder = pair()
    assert decoder.feed(encoder.encode({"type": "m", "v": float("nan")})) == [
        {"type": "m", "v": None}
    ]


def test_keys_json_cannot_hold_become_strings_and_objects_are_refused() -> None:
    encoder, decoder = pair()
    assert decoder.feed(encoder.encode({"type": "m", "d": {(1, 2): [float("inf")]}})) == [
        {"type": "m", "d": {"(1, 2)": [None]}}
    ]
    with pytest.raises(ProtocolError, match="cannot be sent as JSON"):
        encoder.encode({"type": "m", "v": object()})


def test_the_hello_sets_the_nonce_on_the_task_side() -> None:
    nonce = new_nonce()
    decoder = FrameDecoder(SECRET, FrameKind.REPLY)
    reply = FrameEncoder(SECRET, FrameKind.REPLY, nonce).encode({"type": "ack"})
    assert decoder.feed(hello_frame(SECRET, nonce) + reply) == [{"type": "ack"}]
    assert decoder.nonce == nonce


def test_a_frame_from_another_experiment_fails_authentication() -> None:
    encoder, decoder = pair(secret=new_secret())
    with pytest.raises(AuthenticationError, match="does not match"):
        decoder.feed(encoder.encode({"type": "next"}))


def test_a_frame_recorded_on_another_connection_fails_authentication() -> None:
    encoder, _ = pair()
    _, other = pair()
    with pytest.raises(AuthenticationError):
        other.feed(encoder.encode({"type": "next"}))


def test_a_replayed_frame_is_refused() -> None:
    encoder, decoder = pair()
    frame = encoder.encode({"type": "next"})
    decoder.feed(frame)
    with pytest.raises(AuthenticationError, match="sequence 1 where 2 was expected"):
        decoder.feed(frame)


def test_a_tampered_payload_is_never_decoded() -> None:
    encoder, decoder = pair()
    frame = bytearray(encoder.encode({"type": "next"}))
    frame[-3] ^= 0xFF
    with pytest.raises(AuthenticationError):
        decoder.feed(bytes(frame))


def test_a_reflected_frame_of_the_wrong_kind_is_refused() -> None:
    nonce = new_nonce()
    reply = FrameEncoder(SECRET, FrameKind.REPLY, nonce).encode({"type": "ack"})
    with pytest.raises(ProtocolError, match="unexpected frame kind 3"):
        FrameDecoder(SECRET, FrameKind.REQUEST, nonce).feed(reply)


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n", b"\x00" * 64, b"B", b"AB"])
def test_garbage_is_refused_from_the_first_bad_byte(garbage: bytes) -> None:
    _, decoder = pair()
    with pytest.raises(ProtocolError, match="bad magic"):
        decoder.feed(garbage)


def test_an_oversize_length_is_refused_before_reading_the_payload() -> None:
    _, decoder = pair()
    header = struct.pack(">2sBBIQ", b"AA", 1, int(FrameKind.REQUEST), 2**31, 1)
    with pytest.raises(FrameTooLargeError, match=f"over the {MAX_FIRST_FRAME}-byte limit"):
        decoder.feed(header)
    assert decoder.buffered == len(header)


def test_unauthenticated_connections_get_a_smaller_limit_than_authenticated_ones() -> None:
    nonce = new_nonce()
    decoder = FrameDecoder(SECRET, FrameKind.REQUEST, nonce, max_frame=1 << 20)
    encoder = FrameEncoder(SECRET, FrameKind.REQUEST, nonce)
    big = {"type": "m", "blob": "x" * (MAX_FIRST_FRAME * 2)}
    with pytest.raises(FrameTooLargeError):
        FrameDecoder(SECRET, FrameKind.REQUEST, nonce, max_frame=1 << 20).feed(
            FrameEncoder(SECRET, FrameKind.REQUEST, nonce).encode(big)
        )
    decoder.feed(encoder.encode({"type": "register"}))
    assert decoder.feed(encoder.encode(big))[0]["blob"] == big["blob"]


def test_another_protocol_version_is_named() -> None:
    nonce = new_nonce()
    frame = bytearray(encode_frame(SECRET, nonce, FrameKind.REQUEST, 1, b"{}"))
    frame[2] = 9
    with pytest.raises(ProtocolError, match="protocol version 9 is not supported"):
        FrameDecoder(SECRET, FrameKind.REQUEST, nonce).feed(bytes(frame))


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"[1, 2]", b'{"kind": "x"}', b"not json"])
def test_authenticated_but_malformed_payloads_are_refused(payload: bytes) -> None:
    nonce = new_nonce()
    frame = encode_frame(SECRET, nonce, FrameKind.REQUEST, 1, payload)
    with pytest.raises(ProtocolError):
        FrameDecoder(SECRET, FrameKind.REQUEST, nonce).feed(frame)


def test_a_pickle_payload_is_never_unpickled() -> None:
    import pickle

    class Boom:
        def __reduce__(self):  # would run on unpickling
            return (exec, ("raise SystemExit('executed')",))

    nonce = new_nonce()
    frame = encode_frame(SECRET, nonce, FrameKind.REQUEST, 1, pickle.dumps(Boom()))
    with pytest.raises(ProtocolError, match="not UTF-8 JSON"):
        FrameDecoder(SECRET, FrameKind.REQUEST, nonce).feed(frame)


def test_frame_layout_matches_the_documentation() -> None:
    frame = encode_frame(
        SECRET, new_nonce(), FrameKind.REQUEST, 7, json.dumps({"type": "x"}).encode()
    )
    magic, version, kind, length, seq = struct.unpack(">2sBBIQ", frame[:16])
    assert (magic, version, kind, seq) == (b"AA", 1, 2, 7)
    assert length == len(frame) - PREFIX_SIZE and PREFIX_SIZE == 48
