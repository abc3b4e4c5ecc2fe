"""The driver's controller: the one owner of every trial's lifecycle.

It runs on its own thread and reads an inbox fed by the RPC server (or by in-process
`LocalChannel` clients). Only that thread changes trial state; the lock only keeps readers
(progress, results) from seeing it half-changed. Listener calls and replies (socket writes)
made while handling an event are deferred and run after the lock is released, in order, so a
slow listener or a reply never holds up a reader and no other lock is taken under this one.

Lifecycle::

    pending --assign--> running --result--> ok | failed | timed_out
                           |         |
                           |         +--failed/timed_out--> pending (up to max_trial_retries)
                           +--worker lost--> pending (again, up to max_attempts) | lost
    pending/running --abort--> cancelled

Two kinds of failure have their own policy: a lost worker (infrastructure) is retried up to
``max_attempts``; an error from the user's code only up to ``max_trial_retries`` (default 0).
The study halts, cancelling what is left, when more than ``max_failures`` trials end without a
metric, or at once when a trial reports an error marked fatal; `halted` then says why.

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
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver.events import Listener, LoggingListener
from autoablation._driver.schedule import LongestFirst
from autoablation._wire.messages import (
    ACK,
    DONE,
    Assignment,
    Error,
    Heartbeat,
    MessageError,
    Register,
    Registered,
    Result,
    parse_request,
)

logger = logging.getLogger("autoablation.controller")

Reply = Callable[[dict[str, Any]], None]
ConnKey = Hashable


@dataclass
class _Worker:
    worker_id: str
    info: dict[str, Any]
    conn: ConnKey | None
    last_seen: float
    generation: int = 0
    partition: int = -1
    trial_id: str | None = None


@dataclass
class _Running:
    """One hand-out of a trial to a worker, and what that worker reported so far."""

    worker_id: str
    attempt: int
    history: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class _Loss:
    """A lost hand-out; ``charged`` when it counts against ``max_attempts``."""

    trial_id: str
    generation: int
    partition: int
    charged: bool


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


_UNKNOWN_CULPRIT = -1
_FAILURES = (TrialStatus.FAILED, TrialStatus.TIMED_OUT, TrialStatus.LOST)


class Controller:
    """Holds the trial buffer and every trial's state; hands trials to workers.

    Args:
        trials: Every trial of the study, in the order they are offered.
        heartbeat_interval: Seconds between a running worker's heartbeats.
        heartbeat_timeout: Seconds of silence after which a running worker counts as lost.
        max_attempts: Lost workers a trial may survive; the last loss makes it ``lost``. Losses
            caused by Spark killing the other tasks of a failed job are not counted.
        max_trial_retries: Times a trial that failed or timed out runs again.
        max_failures: Trials that may end without a metric before the study halts; None for
            no limit.
        scheduler: Orders pending trials (longest expected first) and learns from finished
            ones; None keeps submission order.
        listener: Receives trial events (default: log lines).
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        *,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float | None = None,
        max_attempts: int = 3,
        max_trial_retries: int = 0,
        max_failures: int | None = None,
        scheduler: LongestFirst | None = None,
        listener: Listener | None = None,
    ) -> None:
        self._trials = {t.trial_id: t for t in trials}
        if len(self._trials) != len(trials):
            raise ValueError("trial ids must be unique")
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or max(30.0, 10 * heartbeat_interval)
        self.max_attempts = max_attempts
        self.max_trial_retries = max_trial_retries
        self.max_failures = max_failures
        self._listener: Listener = listener or LoggingListener()
        self._scheduler = scheduler
        order = scheduler.order(trials) if scheduler is not None else trials
        self._pending: deque[str] = deque(t.trial_id for t in order)
        self._running: dict[str, _Running] = {}
        self._orphans: dict[tuple[str, str], _Running] = {}
        self._results: dict[str, TrialResult] = {}
        self._attempts: dict[str, int] = dict.fromkeys(self._trials, 0)
        self._charges: dict[str, int] = dict.fromkeys(self._trials, 0)
        self._retries: dict[str, int] = dict.fromkeys(self._trials, 0)
        self._losses: list[_Loss] = []
        self._failed_jobs: dict[int, int] = {}
        self._workers: dict[str, _Worker] = {}
        self._parked: dict[str, tuple[Reply, ConnKey | None]] = {}
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._deferred: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._aborted: str | None = None
        self._halted: str | None = None
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

    def job_failed(self, generation: int, culprit: int | None) -> None:
        """Tell the controller Spark failed job ``generation`` because of task ``culprit``.

        Spark then kills that job's other tasks; the trials they lose are run again without
        counting against ``max_attempts``. With an unknown culprit every loss counts.
        """
        self._inbox.put(
            ("job_failed", (generation, _UNKNOWN_CULPRIT if culprit is None else culprit))
        )

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

    @property
    def halted(self) -> str | None:
        """Why the controller halted the study itself (failure budget, fatal error), or None."""
        with self._lock:
            return self._halted

    def is_alive(self) -> bool:
        """Whether the controller thread runs."""
        return self._thread is not None and self._thread.is_alive()

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
        while True:
            try:
                with self._lock:
                    done = self._check_done()
                    timeout = self._next_deadline()
                self._run_deferred()
                if done:
                    self._done.set()
                try:
                    kind, payload = self._inbox.get(timeout=timeout)
                except queue.Empty:
                    kind, payload = "tick", None
                if kind == "stop":
                    return
                try:
                    with self._lock:
                        self._dispatch(kind, payload)
                        self._expire_silent_workers()
                finally:
                    self._run_deferred()
            except Exception:  # the controller thread must outlive any single bad event
                logger.exception("controller error")

    def _later(self, reply: Reply) -> Reply:
        """``reply``, deferred until the lock is released."""
        return lambda message: self._deferred.append((reply, (message,)))

    def _run_deferred(self) -> None:
        """Make the listener calls and replies deferred while the lock was held, in order."""
        deferred, self._deferred = self._deferred, []
        for call, args in deferred:
            try:
                call(*args)
            except Exception:
                logger.exception("controller error in a deferred call")

    def _next_deadline(self) -> float | None:
        seen = [
            worker.last_seen
            for running in self._running.values()
            if (worker := self._workers.get(running.worker_id)) is not None
        ]
        if not seen:
            return None if not self._running else 0.0
        return max(0.0, min(seen) + self.heartbeat_timeout - time.monotonic())

    def _dispatch(self, kind: str, payload: Any) -> None:
        if kind == "message":
            message, reply, conn = payload
            reply = self._later(reply)
            try:
                self._handle(message, reply, conn)
            except MessageError as exc:
                reply(Error(str(exc)).encode())
            except Exception as exc:
                logger.exception("controller failed on a %r request", message.get("type"))
                reply(Error(f"internal controller error: {exc!r}").encode())
        elif kind == "closed":
            self._on_closed(payload)
        elif kind == "job_failed":
            self._on_job_failed(*payload)
        elif kind == "abort":
            self._on_abort(str(payload))

    def _handle(self, message: dict[str, Any], reply: Reply, conn: ConnKey | None) -> None:
        request = parse_request(message)
        match request:
            case Register():
                self._on_register(request, reply, conn)
                return
            case Heartbeat():
                self._on_heartbeat(self._known_worker(request.worker), request)
                reply(ACK.encode())
                return
        worker = self._known_worker(request.worker)
        worker.conn = conn
        if isinstance(request, Result):
            self._on_result(worker, request)
            if not request.want_next:
                reply(ACK.encode())
                return
        self._offer(worker, reply, conn)

    def _known_worker(self, worker_id: str) -> _Worker:
        worker = self._workers.get(worker_id)
        if worker is None:
            raise MessageError(f"worker {worker_id!r} is not registered; send 'register' first")
        worker.last_seen = time.monotonic()
        return worker

    def _on_register(self, message: Register, reply: Reply, conn: ConnKey | None) -> None:
        previous = self._workers.get(message.worker)
        if previous is not None and previous.trial_id is not None:
            self._lose(previous, "it registered again while running the trial")
        self._workers[message.worker] = _Worker(
            message.worker,
            dict(message.info),
            conn,
            time.monotonic(),
            generation=message.generation,
            partition=message.partition,
        )
        reply(Registered(self.heartbeat_interval).encode())

    def _offer(self, worker: _Worker, reply: Reply, conn: ConnKey | None) -> None:
        if worker.trial_id is not None:  # a repeated 'next': the reply was lost on the way
            attempt = self._attempts[worker.trial_id]
            trial = self._trials[worker.trial_id]
            reply(Assignment(trial, attempt).encode())
        elif self._pending and self._aborted is None:
            self._assign(worker, reply)
        elif self._running and self._aborted is None:
            self._parked[worker.worker_id] = (reply, conn)
        else:
            reply(DONE.encode())

    def _assign(self, worker: _Worker, reply: Reply) -> None:
        trial_id = self._pending.popleft()
        self._attempts[trial_id] += 1
        attempt = self._attempts[trial_id]
        self._running[trial_id] = _Running(worker.worker_id, attempt)
        worker.trial_id = trial_id
        worker.last_seen = time.monotonic()
        trial = self._trials[trial_id]
        reply(Assignment(trial, attempt).encode())
        self._notify(self._listener.trial_started, trial, worker.worker_id, attempt)

    def _serve_parked(self) -> None:
        while self._parked and self._pending and self._aborted is None:
            worker_id, (reply, _conn) = next(iter(self._parked.items()))
            del self._parked[worker_id]
            worker = self._workers.get(worker_id)
            if worker is not None:
                self._assign(worker, reply)

    def _on_heartbeat(self, worker: _Worker, beat: Heartbeat) -> None:
        running = self._running.get(beat.trial)
        if running is None or running.worker_id != worker.worker_id:
            return  # a late heartbeat for a trial this worker no longer holds
        self._record(beat.trial, running, beat.metrics, beat.logs)

    def _record(
        self,
        trial_id: str,
        running: _Running,
        metrics: Sequence[tuple[int, float]],
        logs: Sequence[str],
    ) -> None:
        """Keep metrics and forward log lines carried by a heartbeat or a result."""
        running.history.extend(metrics)
        trial = self._trials[trial_id]
        if metrics:
            self._notify(self._listener.trial_metrics, trial, running.worker_id, list(metrics))
        if logs:
            self._notify(self._listener.trial_logs, trial, running.worker_id, list(logs))

    def _on_result(self, worker: _Worker, message: Result) -> None:
        trial_id = message.trial
        if trial_id not in self._trials:
            raise MessageError(f"unknown trial {trial_id!r}")
        if worker.trial_id == trial_id:
            worker.trial_id = None
        previous = self._results.get(trial_id)
        if previous is not None and previous.status is not TrialStatus.LOST:
            logger.info("ignoring a second result for trial %s from %s", trial_id, worker.worker_id)
            self._orphans.pop((trial_id, worker.worker_id), None)
            return
        record = self._running.get(trial_id)
        if record is not None and record.worker_id == worker.worker_id:
            del self._running[trial_id]
        else:
            # A result from a worker presumed lost: use its own record. If another worker
            # runs the trial again meanwhile, that run is moot now.
            if record is not None:
                del self._running[trial_id]
                other = self._workers.get(record.worker_id)
                if other is not None and other.trial_id == trial_id:
                    other.trial_id = None
            record = self._orphans.get((trial_id, worker.worker_id)) or _Running(
                worker.worker_id, max(1, self._attempts[trial_id])
            )
            if trial_id in self._pending:  # requeued when the worker was presumed lost
                self._pending.remove(trial_id)
        self._record(trial_id, record, message.metrics, message.logs)
        trial = self._trials[trial_id]
        result = TrialResult(
            trial=trial,
            status=message.status,
            metric=message.metric,
            error=message.error,
            started_at=message.started_at,
            finished_at=message.finished_at,
            worker=worker.worker_id,
            attempts=record.attempt,
            outputs=message.outputs,
            history=tuple(record.history),
        )
        if message.status is not TrialStatus.OK and not message.fatal and self._retry(trial):
            self._requeue(
                trial,
                worker.worker_id,
                f"it {message.status.value.replace('_', ' ')} (retry {self._retries[trial_id]} "
                f"of {self.max_trial_retries}): {result.reason}",
            )
            return
        self._finish(result)
        if message.fatal:
            self._halt(f"trial {trial_id} raised an error marked fatal: {result.reason}")

    def _retry(self, trial: Trial) -> bool:
        """Whether a trial that failed in the user's code gets another run (and count it)."""
        if self._aborted is not None or self._retries[trial.trial_id] >= self.max_trial_retries:
            return False
        self._retries[trial.trial_id] += 1
        return True

    def _halt(self, reason: str) -> None:
        """Stop the study from within: cancel what is not final, and say why."""
        if self._halted is None and self._aborted is None:
            self._halted = reason
            logger.error("halting the study: %s", reason)
        self._on_abort(reason)

    def _finish(self, result: TrialResult) -> None:
        trial_id = result.trial.trial_id
        self._results[trial_id] = result
        for key in [k for k in self._orphans if k[0] == trial_id]:
            del self._orphans[key]
        self._notify(self._listener.trial_finished, result)
        self._learn(result)
        if self.max_failures is not None and result.status in _FAILURES:
            failures = sum(r.status in _FAILURES for r in self._results.values())
            if failures > self.max_failures:
                self._halt(
                    f"{failures} trials ended without a metric, more than "
                    f"max_failures={self.max_failures}"
                )

    def _learn(self, result: TrialResult) -> None:
        """Show the scheduler a trial's duration; reorder what waits if that changes it."""
        duration = result.duration_s
        if self._scheduler is None or duration is None or result.status is TrialStatus.CANCELLED:
            return
        if self._scheduler.observe(result.trial, duration) and len(self._pending) > 1:
            ordered = self._scheduler.order(self._trials[t] for t in self._pending)
            self._pending = deque(t.trial_id for t in ordered)

    def _is_collateral(self, worker: _Worker) -> bool:
        """Whether a loss is Spark killing a failed job's other tasks, not the trial's fault."""
        culprit = self._failed_jobs.get(worker.generation)
        return culprit is not None and culprit != _UNKNOWN_CULPRIT and culprit != worker.partition

    def _lose(self, worker: _Worker, reason: str) -> None:
        trial_id = worker.trial_id
        worker.trial_id = None
        running = self._running.get(trial_id) if trial_id is not None else None
        if trial_id is None or running is None or running.worker_id != worker.worker_id:
            return
        del self._running[trial_id]
        self._orphans[(trial_id, worker.worker_id)] = running
        charged = not self._is_collateral(worker)
        self._losses.append(_Loss(trial_id, worker.generation, worker.partition, charged))
        self._charges[trial_id] += charged
        trial = self._trials[trial_id]
        if self._charges[trial_id] >= self.max_attempts:
            self._finish(
                TrialResult(
                    trial=trial,
                    status=TrialStatus.LOST,
                    error=f"worker {worker.worker_id} was lost ({reason}); the trial lost "
                    f"{self._charges[trial_id]} of {self.max_attempts} allowed workers",
                    worker=worker.worker_id,
                    attempts=running.attempt,
                    history=tuple(running.history),
                )
            )
        else:
            self._requeue(trial, worker.worker_id, reason)

    def _requeue(self, trial: Trial, worker_id: str, reason: str) -> None:
        self._pending.appendleft(trial.trial_id)
        self._notify(self._listener.trial_requeued, trial, worker_id, reason)
        self._serve_parked()

    def _on_job_failed(self, generation: int, culprit: int) -> None:
        self._failed_jobs[generation] = culprit
        if culprit == _UNKNOWN_CULPRIT:
            return
        for loss in self._losses:
            if loss.generation != generation or loss.partition == culprit or not loss.charged:
                continue
            loss.charged = False
            self._charges[loss.trial_id] -= 1
            result = self._results.get(loss.trial_id)
            if result is not None and result.status is TrialStatus.LOST and self._aborted is None:
                del self._results[loss.trial_id]  # it was lost to a job kill, not its own fault
                self._requeue(self._trials[loss.trial_id], result.worker, "its job was killed")

    def _on_closed(self, conn: ConnKey) -> None:
        for worker in list(self._workers.values()):
            if worker.conn == conn:
                self._parked.pop(worker.worker_id, None)
                if worker.trial_id is not None:
                    self._lose(worker, "its connection closed")

    def _expire_silent_workers(self) -> None:
        now = time.monotonic()
        for trial_id, running in list(self._running.items()):
            worker = self._workers.get(running.worker_id)
            if worker is None:  # cannot happen through the protocol; recover anyway
                self._running.pop(trial_id)
                self._requeue(self._trials[trial_id], running.worker_id, "its worker vanished")
            elif now - worker.last_seen > self.heartbeat_timeout:
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

    def _check_done(self) -> bool:
        if self._pending or self._running:
            return False
        for reply, _conn in self._parked.values():
            reply(DONE.encode())
        self._parked.clear()
        return True

    def _notify(self, method: Callable[..., None], *args: Any) -> None:
        self._deferred.append((_call_listener, (method, *args)))


def _call_listener(method: Callable[..., None], *args: Any) -> None:
    try:
        method(*args)
    except Exception:
        logger.error("trial listener failed:\n%s", traceback.format_exc())
