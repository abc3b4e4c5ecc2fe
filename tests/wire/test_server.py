"""The RPC server under attack, while real workers keep working through it."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from autoablation import AuthenticationError, TrialStatus
from autoablation._driver.controller import Controller
from autoablation._driver.rpc import serve_over_rpc
from autoablation._executor.client import ControllerClient
from autoablation._executor.runtime import TrialRuntime
from autoablation._executor.worker import run_worker
from autoablation._wire.channel import RpcChannel
from autoablation._wire.frames import (
    MAX_FIRST_FRAME,
    PREFIX_SIZE,
    FrameDecoder,
    FrameEncoder,
    FrameKind,
    new_secret,
)
from autoablation._wire.server import RpcServer
from tests.helpers import Recorder, make_trials


class Driver:
    def __init__(self, trials: int, **server_options: Any) -> None:
        self.secret = new_secret()
        self.controller = Controller(make_trials(trials), listener=Recorder())
        self.handled: list[dict[str, Any]] = []
        self.server = serve_over_rpc(self, self.secret, **server_options)
        self.controller.start()
        self.server.start()

    def submit(self, message: dict[str, Any], reply: Any, conn: Any) -> None:
        """What the server hands the controller, recorded on the way."""
        self.handled.append(message)
        self.controller.submit(message, reply, conn)

    def connection_closed(self, conn: Any) -> None:
        self.controller.connection_closed(conn)

    def connect(self) -> socket.socket:
        return socket.create_connection(self.server.address, timeout=10)

    def stop(self) -> None:
        self.server.stop()
        self.controller.stop()


@pytest.fixture
def driver() -> Iterator[Driver]:
    d = Driver(trials=40, handshake_timeout=0.5)
    yield d
    d.stop()


def closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes the connection (EOF); False if it never does."""
    try:
        while sock.recv(4096):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def handshake(sock: socket.socket, secret: bytes) -> FrameEncoder:
    decoder = FrameDecoder(secret, FrameKind.REPLY)
    while decoder.nonce is None:
        decoder.feed(sock.recv(PREFIX_SIZE + 16))
    return FrameEncoder(secret, FrameKind.REQUEST, decoder.nonce)


def send_garbage(d: Driver) -> bool:
    sock = d.connect()
    sock.sendall(b"\x16\x03\x01\x02\x00garbage that is not a frame" * 10)
    return closed_by_server(sock)


def send_oversize_header(d: Driver) -> bool:
    sock = d.connect()
    sock.sendall(
        struct.pack(">2sBBIQ", b"AA", 1, int(FrameKind.REQUEST), 0xFFFFFFFF, 1) + b"\0" * 32
    )
    return closed_by_server(sock)


def send_wrong_hmac(d: Driver) -> bool:
    sock = d.connect()
    forged = FrameEncoder(new_secret(), FrameKind.REQUEST, read_hello(sock)[PREFIX_SIZE:])
    sock.sendall(forged.encode({"type": "register", "worker": "intruder"}))
    return closed_by_server(sock)


def send_nothing(d: Driver) -> bool:
    return closed_by_server(d.connect())


def replay_a_recorded_frame(d: Driver) -> bool:
    first = d.connect()
    frame = handshake(first, d.secret).encode({"type": "register", "worker": "replayed"})
    first.sendall(frame)
    first.close()
    second = d.connect()
    handshake(second, d.secret)
    second.sendall(frame)  # recorded on the first connection
    return closed_by_server(second)


def read_hello(sock: socket.socket) -> bytes:
    """The driver's HELLO, read raw: an attacker sees the nonce but cannot check it."""
    hello = b""
    while len(hello) < PREFIX_SIZE + 16:
        hello += sock.recv(PREFIX_SIZE + 16 - len(hello))
    return hello


def send_a_truncated_frame(d: Driver) -> bool:
    sock = d.connect()
    nonce = read_hello(sock)[PREFIX_SIZE:]
    frame = FrameEncoder(d.secret, FrameKind.REQUEST, nonce).encode({"type": "register"})
    sock.sendall(frame[: len(frame) // 2])  # then silence: closed when the handshake times out
    return closed_by_server(sock)


def replay_a_frame_from_another_experiment(d: Driver) -> bool:
    other = Driver(trials=1)
    try:
        recorder = other.connect()
        frame = handshake(recorder, other.secret).encode({"type": "register", "worker": "intruder"})
        recorder.close()
    finally:
        other.stop()
    sock = d.connect()
    read_hello(sock)
    sock.sendall(frame)
    return closed_by_server(sock)


def stream_junk_behind_a_maximal_header(d: Driver) -> bool:
    sock = d.connect()
    read_hello(sock)
    header = struct.pack(">2sBBIQ", b"AA", 1, int(FrameKind.REQUEST), MAX_FIRST_FRAME, 1)
    junk = b"\xa5" * (1 << 20)  # 1 MiB, far more than the declared frame
    # The server closes it as soon as the first frame fails its HMAC, maybe mid-send.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(header + b"\0" * 32 + junk)
    return closed_by_server(sock)


ATTACKS: list[Callable[[Driver], bool]] = [
    send_garbage,
    send_oversize_header,
    send_wrong_hmac,
    send_nothing,
    replay_a_recorded_frame,
    send_a_truncated_frame,
    replay_a_frame_from_another_experiment,
    stream_junk_behind_a_maximal_header,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_each_attack_is_dropped_alone(driver: Driver, attack: Callable[[Driver], bool]) -> None:
    assert attack(driver)
    assert not any(m.get("worker") in ("intruder",) for m in driver.handled)


def test_attacks_do_not_disturb_real_workers(driver: Driver) -> None:
    outcomes: dict[str, Any] = {}

    def work(worker_id: str) -> None:
        client = ControllerClient(
            RpcChannel(driver.server.address, driver.secret),
            RpcChannel(driver.server.address, driver.secret),
        )
        outcomes[worker_id] = run_worker(
            client,
            lambda: 1.0,
            TrialRuntime(None, None),
            worker_id=worker_id,
            info={},
            optimization_key="metric",
        )
        client.close()

    workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    attack_results: list[bool] = []
    attackers = [
        threading.Thread(target=lambda a=a: attack_results.append(a(driver))) for a in ATTACKS * 3
    ]
    for thread in workers + attackers:
        thread.start()
    for thread in workers + attackers:
        thread.join(timeout=60)
    assert attack_results == [True] * len(attackers)
    assert driver.controller.wait(timeout=10)
    results = driver.controller.results()
    assert len(results) == 40 and all(r.status is TrialStatus.OK for r in results)
    assert sum(len(s.trials) for s in outcomes.values()) == 40
    types = {m["type"] for m in driver.handled}
    assert types <= {"register", "next", "heartbeat", "result"}
    # Every attacker's connection was dropped: for what it sent or, when a loaded machine
    # delayed the attacker past the 0.5 s handshake timeout, for sending nothing in time.
    stats = driver.server.stats
    assert stats.rejected + stats.timed_out >= len(attackers), stats
    # Memory stays bounded: no connection ever held more than one first frame and one read.
    assert driver.server.stats.peak_buffered <= PREFIX_SIZE + MAX_FIRST_FRAME + 64 * 1024


def test_the_server_listens_on_the_address_it_was_given() -> None:
    d = Driver(trials=1)
    try:
        assert d.server.address[0] == "127.0.0.1"
    finally:
        d.stop()


def test_a_client_refuses_a_driver_with_another_secret(driver: Driver) -> None:
    channel = RpcChannel(driver.server.address, new_secret())
    with pytest.raises(AuthenticationError):
        channel.request({"type": "register", "worker": "w"})


def test_connections_over_the_limit_are_closed_on_accept() -> None:
    d = Driver(trials=1, max_connections=2)
    try:
        held = [d.connect(), d.connect()]
        for sock in held:
            sock.recv(PREFIX_SIZE + 16)  # each got its HELLO, so both are accepted
        assert closed_by_server(d.connect())
        assert d.server.stats.rejected == 1
    finally:
        for sock in held:
            sock.close()
        d.stop()


def test_idle_intruders_cannot_lock_out_a_task() -> None:
    d = Driver(trials=1, max_unauthenticated=4)
    intruders = [d.connect() for _ in range(8)]  # never authenticate
    try:
        channel = RpcChannel(d.server.address, d.secret)
        reply = channel.request({"type": "register", "worker": "w", "info": {}})
        assert reply["type"] == "registered"
        channel.close()
    finally:
        for sock in intruders:
            sock.close()
        d.stop()


def test_stopping_a_server_that_never_started_frees_its_port() -> None:
    server = RpcServer(new_secret(), lambda conn, msg: None)
    address = server.address
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)


DESCRIPTOR_EXHAUSTION = """
import resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
from autoablation._wire.channel import RpcChannel
from autoablation._wire.frames import new_secret
from autoablation._wire.server import RpcServer

secret = new_secret()
server = RpcServer(secret, lambda conn, msg: server.send(conn, {"type": "registered"}),
                   handshake_timeout=0.3)
server.start()
intruders = []
for _ in range(40):  # with the server's side, more descriptors than the process may open
    try:
        intruders.append(socket.create_connection(server.address, timeout=5))
    except OSError:
        break
reply = RpcChannel(server.address, secret, connect_timeout=20).request({"type": "register"})
print("served:", reply["type"], "intruders:", len(intruders))
server.stop()
"""


def test_running_out_of_descriptors_pauses_accepting_and_service_resumes() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", DESCRIPTOR_EXHAUSTION], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "served: registered" in out.stdout
    assert "cannot accept RPC connections" in out.stderr  # paused, logged, no busy loop
    assert out.stderr.count("cannot accept RPC connections") < 50


def test_replies_sent_from_other_threads_arrive_whole_and_in_order() -> None:
    # Replies larger than the socket buffer are left half-written by the sending thread and
    # finished by the selector thread; the ones after them must queue behind, not overtake.
    secret = new_secret()
    big = "x" * (2 * 2**20)

    def handle(conn: int, message: dict[str, Any]) -> None:
        reply = {"type": "echo", "n": message["n"], "pad": big if message["n"] % 2 else ""}
        sender = threading.Thread(target=server.send, args=(conn, reply))  # as the controller
        sender.start()
        sender.join()  # send() never waits for the socket

    server = RpcServer(secret, handle)
    server.start()
    try:
        sock = socket.create_connection(server.address, timeout=10)
        decoder = FrameDecoder(secret, FrameKind.REPLY)
        replies: list[dict[str, Any]] = []
        while decoder.nonce is None:
            replies += decoder.feed(sock.recv(4096))
        assert decoder.nonce is not None
        encoder = FrameEncoder(secret, FrameKind.REQUEST, decoder.nonce)
        sock.sendall(b"".join(encoder.encode({"type": "ask", "n": n}) for n in range(6)))
        while len(replies) < 6:
            replies += decoder.feed(sock.recv(1 << 20))
        assert [r["n"] for r in replies] == list(range(6))
        assert [len(r["pad"]) for r in replies] == [0, len(big)] * 3
        sock.close()
    finally:
        server.stop()
