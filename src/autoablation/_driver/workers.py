"""The worker registry: who is registered, on which connection, when last heard, who waits.

Synchronous and clock-free like the ledger: the controller thread passes ``now`` (monotonic
seconds) in. The registry knows nothing of trials; which workers hold one is the ledger's to
say (`autoablation._driver.ledger.TrialLedger.holders`), and the registry answers when those
fall silent.

A worker that asks for a trial while none is pending but some still run is *parked*: its reply
callback waits here, oldest first, until a trial is put back or the study ends.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ReplyFn = Callable[[dict[str, Any]], None]
"""Sends one encoded reply to the worker that made a request."""
ConnKey = Hashable
"""Names the connection a request came on (the RPC server's id, or a local channel's)."""


@dataclass
class Worker:
    """A registered worker: where its task runs and how it was last heard from.

    ``conn`` is the connection of its latest control call (``register``, ``next``,
    ``result``; the controller updates it): when that closes, the worker is gone.
    """

    worker_id: str
    info: Mapping[str, Any]
    conn: ConnKey | None
    last_seen: float
    generation: int = 0
    partition: int = -1


class WorkerRegistry:
    """Registered workers, their control connections, parked replies and liveness.

    A registered worker is never forgotten (a re-registration replaces its record), so every
    worker the ledger hands a trial to stays known.

    Args:
        heartbeat_timeout: Seconds of silence after which a worker that runs a trial counts
            as lost.
    """

    def __init__(self, heartbeat_timeout: float) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self._workers: dict[str, Worker] = {}
        self._parked: dict[str, ReplyFn] = {}

    def register(
        self,
        worker_id: str,
        info: Mapping[str, Any],
        conn: ConnKey | None,
        now: float,
        *,
        generation: int = 0,
        partition: int = -1,
    ) -> Worker | None:
        """Record a worker, on connection ``conn``; the record it replaces, if any.

        A replaced record means the worker registered again: whatever it ran is lost (the
        caller tells the ledger).
        """
        previous = self._workers.get(worker_id)
        self._workers[worker_id] = Worker(worker_id, info, conn, now, generation, partition)
        return previous

    def get(self, worker_id: str) -> Worker | None:
        """The worker's record, or None if it never registered."""
        return self._workers.get(worker_id)

    def touch(self, worker_id: str, now: float) -> Worker | None:
        """The worker was heard from at ``now``; its record, or None if it never registered."""
        worker = self._workers.get(worker_id)
        if worker is not None:
            worker.last_seen = now
        return worker

    def closed(self, conn: ConnKey) -> list[str]:
        """Connection ``conn`` closed: the workers tied to it, whose parked replies are dropped.

        Whatever those workers run is lost (the caller tells the ledger).
        """
        gone = [w.worker_id for w in self._workers.values() if w.conn == conn]
        for worker_id in gone:
            self._parked.pop(worker_id, None)
        return gone

    # ---------------------------------------------------------------------------- parking
    def park(self, worker_id: str, reply: ReplyFn) -> None:
        """Keep ``reply`` until a trial is free (a worker parked again keeps its place)."""
        self._parked[worker_id] = reply

    def unpark(self, worker_id: str) -> ReplyFn | None:
        """Forget the worker's parked reply (it was answered otherwise); the reply, if any."""
        return self._parked.pop(worker_id, None)

    def next_parked(self) -> tuple[str, ReplyFn] | None:
        """Take the reply that has waited longest, with its worker; None if none waits."""
        if not self._parked:
            return None
        worker_id = next(iter(self._parked))
        return worker_id, self._parked.pop(worker_id)

    def release_parked(self) -> list[ReplyFn]:
        """Take every parked reply (to tell them the study is done)."""
        replies = list(self._parked.values())
        self._parked.clear()
        return replies

    # --------------------------------------------------------------------------- liveness
    def deadline(self, holders: Iterable[str]) -> float | None:
        """When the first of ``holders`` falls silent for too long (monotonic); None if none."""
        seen = [w.last_seen for h in holders if (w := self._workers.get(h)) is not None]
        return min(seen) + self.heartbeat_timeout if seen else None

    def silent(self, holders: Iterable[str], now: float) -> list[tuple[str, float]]:
        """The ``holders`` silent past the heartbeat timeout at ``now``, with their silence."""
        return [
            (h, now - w.last_seen)
            for h in holders
            if (w := self._workers.get(h)) is not None
            and now - w.last_seen > self.heartbeat_timeout
        ]
