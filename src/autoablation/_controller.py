"""The driver's controller: the one owner of every trial's lifecycle.

It runs on its own thread and reads an inbox fed by the RPC server (or by in-process
`LocalChannel` clients). Only that thread changes trial state, so there are no locks around the
state machine; readers (progress, results) get snapshots under a small lock.

Lifecycle::

    pending --assign--> running --result ok/failed--> ok | failed
                           |
                           +--worker lost--> pending (again, up to max_attempts) | lost
    pending/running --abort--> cancelled

A worker that asks for a trial while none is pending but some still run is parked: it gets
the next trial the moment one is put back, or ``done`` when the last one finishes. Nothing
polls: the thread sleeps on its inbox until a message arrives or the next liveness deadline.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from autoablation._exceptions import ProtocolError
from autoablation._protocol import decode_message, encode_message
from autoablation._trial import Trial, TrialResult, TrialStatus

logger = logging.getLogger("autoablation.controller")

Reply = Callable[[dict[str, Any]], None]
ConnKey = Hashable


class ControllerListener(Protocol):
    """Receives trial events on the controller thread; implementations must return quickly."""

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """A worker took the trial."""

    def trial_finished(self, result: TrialResult) -> None:
        """The trial reached a final state."""

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """The trial's worker was lost; the trial waits for another worker."""

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Log lines from the trial's training function."""


class LoggingListener:
    """The default listener: one log line per event on the ``autoablation`` logger."""

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """Log the start."""
        again = f" (attempt {attempt})" if attempt > 1 else ""
        logger.info("[%s] started on %s%s", trial.label, worker, again)

    def trial_finished(self, result: TrialResult) -> None:
        """Log the outcome."""
        if result.status is TrialStatus.OK:
            logger.info("[%s] ok: metric %.6g", result.trial.label, result.metric)
        else:
            reason = result.error.strip().splitlines()[-1] if result.error.strip() else ""
            logger.warning("[%s] %s: %s", result.trial.label, result.status.value, reason)

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """Log the loss."""
        logger.warning("[%s] lost %s (%s); it will run again", trial.label, worker, reason)

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Forward the trial's log lines."""
        for line in lines:
            logger.info("[%s] %s", trial.label, line)


@dataclass
class _Worker:
    worker_id: str
    info: dict[str, Any]
    conn: ConnKey | None
    last_seen: float
    trial_id: str | None = None


@dataclass
class _Running:
    worker_id: str
    attempt: int
    history: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    """Counts of trials by state, and when the study started."""

    total: int
    pending: int
    running: int
    ok: int
    failed: int
    started_at: float

    @property
    def done(self) -> int:
        """Trials in a final state."""
        return self.total - self.pending - self.running


class _MessageError(Exception):
    """A request that breaks the message schema; answered with an error reply."""


def _field(message: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = message.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _MessageError(f"{message.get('type')!r} message needs field {name!r}")
    return value


def _optional_number(message: Mapping[str, Any], name: str) -> float | None:
    value = message.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _MessageError(f"field {name!r} must be a number or null")
    return float(value)


class Controller:
    """Holds the trial buffer and every trial's state; hands trials to workers.

    Args:
        trials: Every trial of the study, in the order they are offered.
        heartbeat_interval: Seconds between a running worker's heartbeats.
        heartbeat_timeout: Seconds of silence after which a running worker counts as lost.
        max_attempts: Times a trial may be handed out before a lost worker makes it final.
        listener: Receives trial events (default: log lines).
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        *,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float | None = None,
        max_attempts: int = 3,
        listener: ControllerListener | None = None,
    ) -> None:
        self._trials = {t.trial_id: t for t in trials}
        if len(self._trials) != len(trials):
            raise ValueError("trial ids must be unique")
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or max(30.0, 10 * heartbeat_interval)
        self.max_attempts = max_attempts
        self._listener: ControllerListener = listener or LoggingListener()
        self._pending: deque[str] = deque(self._trials)
        self._running: dict[str, _Running] = {}
        self._results: dict[str, TrialResult] = {}
        self._attempts: dict[str, int] = dict.fromkeys(self._trials, 0)
        self._workers: dict[str, _Worker] = {}
        self._parked: dict[str, tuple[Reply, ConnKey | None]] = {}
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._aborted: str | None = None
        self.started_at = time.time()

    # ----------------------------------------------------------------- public, any thread
    def start(self) -> None:
        """Start the controller thread."""
        self.started_at = time.time()
        self._thread = threading.Thread(
            target=self._run, name="autoablation-controller", daemon=True
        )
        self._thread.start()

    def submit(self, message: dict[str, Any], reply: Reply, conn: ConnKey | None = None) -> None:
        """Hand a request to the controller; ``reply`` is called (once) with the answer."""
        self._inbox.put(("message", (message, reply, conn)))

    def connection_closed(self, conn: ConnKey) -> None:
        """Tell the controller a connection closed; a worker holding a trial on it is lost."""
        self._inbox.put(("closed", conn))

    def abort(self, reason: str) -> None:
        """Stop handing out trials; every trial not yet final becomes ``cancelled``."""
        self._inbox.put(("abort", reason))

    def stop(self) -> None:
        """End the controller thread."""
        self._inbox.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every trial is final; False on timeout."""
        return self._done.wait(timeout)

    def is_done(self) -> bool:
        """Whether every trial is final."""
        return self._done.is_set()

    def results(self) -> list[TrialResult]:
        """Final results so far, in trial order."""
        with self._lock:
            return [self._results[t] for t in self._trials if t in self._results]

    def progress(self) -> Progress:
        """A consistent snapshot of the trial counts."""
        with self._lock:
            statuses = [r.status for r in self._results.values()]
            return Progress(
                total=len(self._trials),
                pending=len(self._pending),
                running=len(self._running),
                ok=statuses.count(TrialStatus.OK),
                failed=len(statuses) - statuses.count(TrialStatus.OK),
                started_at=self.started_at,
            )

    # ----------------------------------------------------------------- controller thread
    def _run(self) -> None:
        self._check_done()
        while True:
            try:
                kind, payload = self._inbox.get(timeout=self._next_deadline())
            except queue.Empty:
                kind, payload = "tick", None
            if kind == "stop":
                return
            try:
                with self._lock:
                    self._dispatch(kind, payload)
                    self._expire_silent_workers()
                    self._check_done()
            except Exception:
                logger.exception("controller error while handling %s", kind)

    def _next_deadline(self) -> float | None:
        if not self._running:
            return None
        oldest = min(self._workers[r.worker_id].last_seen for r in self._running.values())
        return max(0.0, oldest + self.heartbeat_timeout - time.monotonic())

    def _dispatch(self, kind: str, payload: Any) -> None:
        if kind == "message":
            message, reply, conn = payload
            try:
                self._handle(message, reply, conn)
            except _MessageError as exc:
                reply({"type": "error", "message": str(exc)})
        elif kind == "closed":
            self._on_closed(payload)
        elif kind == "abort":
            self._on_abort(str(payload))

    def _handle(self, message: dict[str, Any], reply: Reply, conn: ConnKey | None) -> None:
        kind = message.get("type")
        if kind == "register":
            self._on_register(message, reply, conn)
            return
        worker = self._known_worker(message)
        if kind == "heartbeat":
            self._on_heartbeat(worker, message)
            reply({"type": "ack"})
            return
        worker.conn = conn
        if kind == "next":
            self._offer(worker, reply, conn)
        elif kind == "result":
            self._on_result(worker, message)
            if message.get("next"):
                self._offer(worker, reply, conn)
            else:
                reply({"type": "ack"})
        elif kind == "bye":
            self._workers.pop(worker.worker_id, None)
            self._parked.pop(worker.worker_id, None)
            reply({"type": "ack"})
        else:
            raise _MessageError(f"unknown message type {kind!r}")

    def _known_worker(self, message: Mapping[str, Any]) -> _Worker:
        worker_id = _field(message, "worker", str)
        worker = self._workers.get(worker_id)
        if worker is None:
            raise _MessageError(f"worker {worker_id!r} is not registered; send 'register' first")
        worker.last_seen = time.monotonic()
        return worker

    def _on_register(self, message: Mapping[str, Any], reply: Reply, conn: ConnKey | None) -> None:
        worker_id = _field(message, "worker", str)
        info = message.get("info") or {}
        if not isinstance(info, dict):
            raise _MessageError("'register' field 'info' must be an object")
        previous = self._workers.get(worker_id)
        if previous is not None and previous.trial_id is not None:
            self._lose(previous, "it registered again while running the trial")
        self._workers[worker_id] = _Worker(worker_id, info, conn, time.monotonic())
        reply({"type": "registered", "heartbeat_interval": self.heartbeat_interval})

    def _offer(self, worker: _Worker, reply: Reply, conn: ConnKey | None) -> None:
        if worker.trial_id is not None:  # a repeated 'next': the reply was lost on the way
            reply({"type": "trial", "trial": self._trials[worker.trial_id].to_dict()})
        elif self._pending and self._aborted is None:
            self._assign(worker, reply)
        elif self._running and self._aborted is None:
            self._parked[worker.worker_id] = (reply, conn)
        else:
            reply({"type": "done"})

    def _assign(self, worker: _Worker, reply: Reply) -> None:
        trial_id = self._pending.popleft()
        self._attempts[trial_id] += 1
        attempt = self._attempts[trial_id]
        self._running[trial_id] = _Running(worker.worker_id, attempt)
        worker.trial_id = trial_id
        worker.last_seen = time.monotonic()
        trial = self._trials[trial_id]
        reply({"type": "trial", "trial": trial.to_dict(), "attempt": attempt})
        self._notify(self._listener.trial_started, trial, worker.worker_id, attempt)

    def _serve_parked(self) -> None:
        while self._parked and self._pending and self._aborted is None:
            worker_id, (reply, _conn) = next(iter(self._parked.items()))
            del self._parked[worker_id]
            worker = self._workers.get(worker_id)
            if worker is not None:
                self._assign(worker, reply)

    def _on_heartbeat(self, worker: _Worker, message: Mapping[str, Any]) -> None:
        trial_id = message.get("trial")
        if not isinstance(trial_id, str):
            raise _MessageError("'heartbeat' message needs field 'trial'")
        running = self._running.get(trial_id)
        if running is None or running.worker_id != worker.worker_id:
            return  # a late heartbeat for a trial this worker no longer holds
        self._record(trial_id, running, message)

    def _record(self, trial_id: str, running: _Running, message: Mapping[str, Any]) -> None:
        """Keep metrics and forward log lines carried by a heartbeat or result."""
        for point in message.get("metrics") or ():
            if isinstance(point, list) and len(point) == 2 and isinstance(point[0], int):
                value = point[1]
                if value is None or isinstance(value, (int, float)):  # None: a non-finite value
                    running.history.append((point[0], float("nan") if value is None else value))
        lines = [str(line) for line in message.get("logs") or ()]
        if lines:
            trial = self._trials[trial_id]
            self._notify(self._listener.trial_logs, trial, running.worker_id, lines)

    def _on_result(self, worker: _Worker, message: Mapping[str, Any]) -> None:
        trial_id = _field(message, "trial", str)
        if trial_id not in self._trials:
            raise _MessageError(f"unknown trial {trial_id!r}")
        if worker.trial_id == trial_id:
            worker.trial_id = None
        if trial_id in self._results:
            logger.info("ignoring a second result for trial %s from %s", trial_id, worker.worker_id)
            return
        status = TrialStatus(_field(message, "status", str))
        if status not in (TrialStatus.OK, TrialStatus.FAILED):
            raise _MessageError("'result' status must be 'ok' or 'failed'")
        running = self._running.pop(trial_id, None)
        if running is None:  # requeued after a presumed loss, but the result arrived: keep it
            if trial_id in self._pending:
                self._pending.remove(trial_id)
            running = _Running(worker.worker_id, max(1, self._attempts[trial_id]))
        self._record(trial_id, running, message)
        outputs = message.get("outputs") or {}
        result = TrialResult(
            trial=self._trials[trial_id],
            status=status,
            metric=_optional_number(message, "metric"),
            error=str(message.get("error") or ""),
            started_at=_optional_number(message, "started_at"),
            finished_at=_optional_number(message, "finished_at"),
            worker=worker.worker_id,
            attempts=running.attempt,
            outputs=outputs if isinstance(outputs, dict) else {},
            history=tuple(running.history),
        )
        self._finish(result)

    def _finish(self, result: TrialResult) -> None:
        self._results[result.trial.trial_id] = result
        self._notify(self._listener.trial_finished, result)

    def _lose(self, worker: _Worker, reason: str) -> None:
        trial_id = worker.trial_id
        worker.trial_id = None
        if trial_id is None or trial_id not in self._running:
            return
        running = self._running.pop(trial_id)
        trial = self._trials[trial_id]
        if running.attempt >= self.max_attempts:
            self._finish(
                TrialResult(
                    trial=trial,
                    status=TrialStatus.LOST,
                    error=f"worker {worker.worker_id} was lost ({reason}) on attempt "
                    f"{running.attempt} of {self.max_attempts}",
                    worker=worker.worker_id,
                    attempts=running.attempt,
                    history=tuple(running.history),
                )
            )
        else:
            self._pending.appendleft(trial_id)
            self._notify(self._listener.trial_requeued, trial, worker.worker_id, reason)
            self._serve_parked()

    def _on_closed(self, conn: ConnKey) -> None:
        for worker in list(self._workers.values()):
            if worker.conn == conn:
                self._parked.pop(worker.worker_id, None)
                if worker.trial_id is not None:
                    self._lose(worker, "its connection closed")

    def _expire_silent_workers(self) -> None:
        if not self._running:
            return
        now = time.monotonic()
        for running in list(self._running.values()):
            worker = self._workers[running.worker_id]
            if now - worker.last_seen > self.heartbeat_timeout:
                self._lose(worker, f"no heartbeat for {now - worker.last_seen:.0f}s")

    def _on_abort(self, reason: str) -> None:
        if self._aborted is not None:
            return
        self._aborted = reason
        for trial_id in itertools.chain(list(self._running), list(self._pending)):
            running = self._running.pop(trial_id, None)
            self._finish(
                TrialResult(
                    trial=self._trials[trial_id],
                    status=TrialStatus.CANCELLED,
                    error=f"not finished: {reason}",
                    worker=running.worker_id if running else "",
                    attempts=self._attempts[trial_id],
                    history=tuple(running.history) if running else (),
                )
            )
        self._pending.clear()
        for worker in self._workers.values():
            worker.trial_id = None

    def _check_done(self) -> None:
        if self._pending or self._running:
            return
        for reply, _conn in self._parked.values():
            reply({"type": "done"})
        self._parked.clear()
        self._done.set()

    def _notify(self, method: Callable[..., None], *args: Any) -> None:
        try:
            method(*args)
        except Exception:
            logger.error("trial listener failed:\n%s", traceback.format_exc())


class LocalChannel:
    """An in-process `Channel` to a controller: the RPC messages without sockets.

    Messages make a JSON round trip both ways, so what works here works over the wire.
    """

    _ids = itertools.count(1)

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self._conn = f"local-{next(self._ids)}"

    def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``message`` to the controller and wait for its reply."""
        future: Future[dict[str, Any]] = Future()
        wire = decode_message(encode_message(message))
        self._controller.submit(
            wire, lambda r: future.set_result(decode_message(encode_message(r))), self._conn
        )
        reply = future.result()
        if reply.get("type") == "error":
            raise ProtocolError(
                f"controller refused {message.get('type')!r}: {reply.get('message')}"
            )
        return reply

    def close(self) -> None:
        """Tell the controller this link is gone."""
        self._controller.connection_closed(self._conn)
