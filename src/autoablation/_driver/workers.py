"""The worker registry: who is registered, on which connection, when last heard, who waits.

Synchronous and clock-free like the ledger: the controller thread passes ``now`` (monotonic
seconds) in. The registry knows nothing of trials; which workers hold one is the ledger's to
say (`autoablation._driver.ledger.TrialLedger.holders`), and the registry answers when those
fall silent.

A worker that asks for a trial while none is pending but some still run is *parked*: its reply
callback waits here, oldest first, until a trial is put back or the study ends.

A worker belongs to one of the launch's Spark jobs (its *generation*). Once that job has
failed, Spark is about to kill its remaining tasks: such a worker is *retired* and is given no
new trial.
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
    ``last_beat`` and ``last_result`` are the request ids of the latest heartbeat and result
    taken from it, so a request its channel sends again is taken once. ``patience`` is how many
    heartbeat timeouts of silence it is allowed now (see `WorkerRegistry.be_patient`);
    ``closed_at`` when its connection closed, if its loss waits (see
    `WorkerRegistry.defer_close`).
    """

    worker_id: str
    info: Mapping[str, Any]
    conn: ConnKey | None
    last_seen: float
    generation: int = 0
    partition: int = -1
    last_beat: int = 0
    last_result: int = 0
    patience: int = 1
    closed_at: float | None = None


class WorkerRegistry:
    """Registered workers, their control connections, parked replies and liveness.

    A registered worker is never forgotten (a re-registration replaces its record), so every
    worker the ledger hands a trial to stays known.

    Args:
        heartbeat_timeout: Seconds of silence after which a worker that runs a trial counts
            as lost.
        close_grace: Seconds a worker whose connection closed may take to come back when its
            loss would decide its trial's fate (default: the heartbeat timeout, at most 5 s).
    """

    def __init__(self, heartbeat_timeout: float, close_grace: float | None = None) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.close_grace = min(heartbeat_timeout, 5.0) if close_grace is None else close_grace
        self._workers: dict[str, Worker] = {}
        self._parked: dict[str, ReplyFn] = {}
        self._failed_jobs: set[int] = set()

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
            worker.patience = 1
            worker.closed_at = None
        return worker

    def closed(self, conn: ConnKey) -> list[str]:
        """Connection ``conn`` closed: the workers tied to it, whose parked replies are dropped.

        Whatever those workers run is lost (the caller tells the ledger).
        """
        gone = [w.worker_id for w in self._workers.values() if w.conn == conn]
        for worker_id in gone:
            self._parked.pop(worker_id, None)
        return gone

    def job_failed(self, generation: int) -> list[ReplyFn]:
        """Spark failed job ``generation``: retire its workers; their parked replies.

        Those replies are taken from the parked ones, to be told the study needs nothing more
        from them.
        """
        self._failed_jobs.add(generation)
        retired = [
            worker_id
            for worker_id in self._parked
            if self._workers[worker_id].generation == generation
        ]
        return [self._parked.pop(worker_id) for worker_id in retired]

    def retired(self, worker: Worker) -> bool:
        """Whether the worker's Spark job has failed (Spark is killing its task)."""
        return bool(self._failed_jobs) and worker.generation in self._failed_jobs

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
        """When the first of ``holders`` is lost, unless heard from (monotonic); None if none.

        That is when it has been silent too long, or when its closed connection has waited
        long enough.
        """
        timeout, grace = self.heartbeat_timeout, self.close_grace
        ends = []
        for holder in holders:
            worker = self._workers.get(holder)
            if worker is not None:
                ends.append(worker.last_seen + timeout * worker.patience)
                if worker.closed_at is not None:
                    ends.append(worker.closed_at + grace)
        return min(ends) if ends else None

    def defer_close(self, worker_id: str, now: float) -> bool:
        """Let the loss of a worker whose connection closed at ``now`` wait `close_grace`.

        For a worker whose loss would make its trial ``lost``: a worker that is alive (a
        network fault) reconnects and is heard from, and Spark may yet name another task as
        the one that failed its job. False if its loss waits already.
        """
        worker = self._workers.get(worker_id)
        if worker is None or worker.closed_at is not None:
            return False
        worker.closed_at = now
        return True

    def closed_for_good(self, holders: Iterable[str], now: float) -> list[str]:
        """The ``holders`` whose connection closed and who did not come back in time."""
        grace = self.close_grace
        return [
            h
            for h in holders
            if (w := self._workers.get(h)) is not None
            and w.closed_at is not None
            and now >= w.closed_at + grace
        ]

    def silent(self, holders: Iterable[str], now: float) -> list[tuple[str, float]]:
        """The ``holders`` silent past their heartbeat timeout at ``now``, with their silence."""
        return [
            (h, now - w.last_seen)
            for h in holders
            if (w := self._workers.get(h)) is not None
            and now - w.last_seen > self.heartbeat_timeout * w.patience
        ]

    def be_patient(self, worker_id: str) -> bool:
        """Allow a silent worker one more heartbeat timeout; False if it had it already.

        For a worker whose loss would make its trial ``lost``: held-up heartbeats (a stalled
        network, a starved process) then get a second chance to arrive before the verdict.
        Hearing from the worker ends the extra patience.
        """
        worker = self._workers.get(worker_id)
        if worker is None or worker.patience > 1:
            return False
        worker.patience = 2
        return True
