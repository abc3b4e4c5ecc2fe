"""The worker registry: registration, connections, parked replies and liveness, time passed in."""

from __future__ import annotations

from typing import Any

from autoablation._driver.workers import WorkerRegistry


def replies() -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    sent: list[tuple[str, dict[str, Any]]] = []

    def reply_for(name: str) -> Any:
        return lambda message: sent.append((name, message))

    return sent, reply_for


def test_a_worker_is_known_once_registered_and_touched_when_heard() -> None:
    registry = WorkerRegistry(heartbeat_timeout=30.0)
    assert registry.touch("w", 1.0) is None and registry.get("w") is None
    assert registry.register("w", {"partition": 2}, "c1", 1.0, generation=1, partition=2) is None
    worker = registry.touch("w", 5.0)
    assert worker is not None and worker.last_seen == 5.0 and worker.conn == "c1"
    assert (worker.generation, worker.partition, worker.info) == (1, 2, {"partition": 2})


def test_registering_again_replaces_the_record_and_returns_the_old_one() -> None:
    registry = WorkerRegistry(heartbeat_timeout=30.0)
    registry.register("w", {}, "c1", 1.0)
    previous = registry.register("w", {}, "c2", 2.0)
    assert previous is not None and previous.conn == "c1"
    current = registry.get("w")
    assert current is not None and (current.conn, current.last_seen) == ("c2", 2.0)


def test_a_closed_connection_names_its_workers_and_drops_their_parked_replies() -> None:
    registry = WorkerRegistry(heartbeat_timeout=30.0)
    sent, reply_for = replies()
    registry.register("a", {}, "c1", 0.0)
    registry.register("b", {}, "c2", 0.0)
    registry.register("c", {}, "c2", 0.0)
    moved = registry.get("c")
    assert moved is not None
    moved.conn = "c3"  # its latest control call came on another connection
    registry.park("b", reply_for("b"))
    registry.park("c", reply_for("c"))
    assert registry.closed("c2") == ["b"]
    assert registry.closed("c9") == []
    parked = registry.next_parked()
    assert parked is not None and parked[0] == "c"
    assert registry.next_parked() is None and sent == []


def test_parked_replies_are_served_oldest_first_and_a_reparked_worker_keeps_its_place() -> None:
    registry = WorkerRegistry(heartbeat_timeout=30.0)
    sent, reply_for = replies()
    for name in ("a", "b", "c"):
        registry.register(name, {}, name, 0.0)
        registry.park(name, reply_for(name))
    registry.park("a", reply_for("a-again"))  # asked again: the newer reply, same place
    assert registry.unpark("b") is not None and registry.unpark("b") is None
    first = registry.next_parked()
    assert first is not None and first[0] == "a"
    first[1]({"type": "trial"})
    assert sent == [("a-again", {"type": "trial"})]
    rest = registry.release_parked()
    assert len(rest) == 1 and registry.next_parked() is None and registry.release_parked() == []


def test_the_next_deadline_is_the_earliest_silence_among_workers_running_trials() -> None:
    registry = WorkerRegistry(heartbeat_timeout=10.0)
    registry.register("a", {}, "c1", 100.0)
    registry.register("b", {}, "c2", 104.0)
    registry.register("idle", {}, "c3", 50.0)  # runs nothing: its silence does not matter
    assert registry.deadline([]) is None
    assert registry.deadline(["a", "b"]) == 110.0
    registry.touch("a", 106.0)
    assert registry.deadline(["a", "b"]) == 114.0


def test_workers_silent_past_the_timeout_are_named_with_their_silence() -> None:
    registry = WorkerRegistry(heartbeat_timeout=10.0)
    registry.register("a", {}, "c1", 100.0)
    registry.register("b", {}, "c2", 105.0)
    assert registry.silent(["a", "b"], 110.0) == []  # exactly at the limit is not past it
    assert registry.silent(["a", "b"], 112.0) == [("a", 12.0)]
    assert registry.silent(["b"], 112.0) == []
    assert registry.silent(["a", "b"], 120.5) == [("a", 20.5), ("b", 15.5)]


def test_a_silent_worker_may_be_given_one_more_timeout_until_it_is_heard_again() -> None:
    registry = WorkerRegistry(heartbeat_timeout=10.0)
    registry.register("w", {}, "c1", now=0.0)
    assert registry.silent(["w"], now=11.0) == [("w", 11.0)]
    assert registry.be_patient("w") and not registry.be_patient("w")  # once only
    assert registry.silent(["w"], now=19.0) == [] and registry.deadline(["w"]) == 20.0
    assert registry.silent(["w"], now=21.0) == [("w", 21.0)]
    registry.touch("w", now=22.0)  # heard again: the usual timeout from now on
    assert registry.deadline(["w"]) == 32.0 and registry.be_patient("w")


def test_the_loss_of_a_worker_whose_connection_closed_may_wait_until_it_reconnects() -> None:
    registry = WorkerRegistry(heartbeat_timeout=30.0)
    assert registry.close_grace == 5.0  # the heartbeat timeout, at most 5 s
    registry.register("w", {}, "c1", now=0.0)
    assert registry.defer_close("w", now=1.0) and not registry.defer_close("w", now=2.0)
    assert registry.deadline(["w"]) == 6.0
    assert registry.closed_for_good(["w"], now=5.9) == []
    assert registry.closed_for_good(["w"], now=6.0) == ["w"]
    registry.touch("w", now=3.0)  # it reconnected: nothing waits any more
    assert registry.closed_for_good(["w"], now=7.0) == [] and registry.deadline(["w"]) == 33.0
