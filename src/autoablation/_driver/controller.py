"""The driver's controller: one thread that owns the trial ledger and answers the workers.

The state is split three ways: `TrialLedger` (`ledger.py`) holds every trial's lifecycle,
`WorkerRegistry` (`workers.py`) the workers, their connections, parked replies and liveness,
and `Controller` is the thread around them. It reads a typed inbox (requests from the RPC
server or in-process `LocalChannel` clients, closed connections, a failed Spark job, an abort,
stop) and blocks on it until an item arrives or the next liveness deadline passes: nothing
polls. For each item it changes ledger and registry, collecting in order what there is to say
(replies to workers, listener events), publishes an immutable snapshot, then says it.
`autoablation._driver.rpc.serve_over_rpc` wires a controller to the RPC server.

Thread safety and lock order:

* Any thread may call the public methods. `submit`, `connection_closed`, `job_failed`, `abort`
  and `stop` only put an item in the inbox; `results`, `progress` and `halted` read the
  published snapshot; `wait` and `is_done` an event.
* Only the controller thread touches the ledger and the registry, so they take no locks.
* The controller's one lock guards the reference to the published snapshot, and is held only
  to swap or read it: a leaf, under which nothing else is called.
* Listener calls and reply callbacks run on the controller thread holding no lock. The reply
  callback of `serve_over_rpc` is `RpcServer.send`, which takes the server's write lock (also a
  leaf: see `autoablation._wire.server`); a `LocalChannel`'s completes a future. No thread
  ever holds two of these locks, so there is no order to get wrong.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver.events import (
    Listener,
    LoggingListener,
    LookMade,
    TrialEvent,
    TrialFinished,
)
from autoablation._driver.inbox import Abort, Closed, Incoming, Item, JobFailed, Stop
from autoablation._driver.ledger import TrialLedger
from autoablation._driver.losses import LossHistory
from autoablation._driver.schedule import LongestFirst
from autoablation._driver.workers import ConnKey, ReplyFn, Worker, WorkerRegistry
from autoablation._wire.messages import (
    ACK,
    DONE,
    Assignment,
    Error,
    Heartbeat,
    MessageError,
    Next,
    Register,
    Registered,
    Reply,
    Request,
    Result,
    parse_request,
)

logger = logging.getLogger("autoablation.controller")

Planner = Callable[[Sequence[TrialResult]], tuple[Sequence[Trial], Sequence[Mapping[str, Any]]]]
"""Given the final results so far: the trials to add, and the looks made (a sequential study)."""


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


class _Send(NamedTuple):
    """A reply to deliver, in its place among the listener events."""

    reply: ReplyFn
    message: Reply


class Controller:
    """Hands trials to workers and keeps every trial's state, on a thread of its own.

    Args:
        trials: Every trial of the study, in the order they are offered.
        heartbeat_interval: Seconds between a running worker's heartbeats.
        heartbeat_timeout: Seconds of silence after which a running worker counts as lost
            (default: the larger of 30 s and ten heartbeat intervals).
        max_attempts: Lost workers a trial may survive; the last loss makes it ``lost``. Losses
            caused by Spark killing the other tasks of a failed job, or of workers heard from
            again, are not counted; in a storm of losses a trial needs more
            (`autoablation._driver.losses`).
        max_trial_retries: Times a trial that failed or timed out runs again.
        max_failures: Trials that may end without a metric before the study halts; None for
            no limit.
        scheduler: Orders pending trials (longest expected first) and learns from finished
            ones; None keeps submission order.
        listener: Receives trial events (default: log lines).
        planner: Asked after each final result which trials to add and which looks were made
            (a sequential study, `autoablation._driver.sequential.SequentialPlanner.plan`);
            None for a study of fixed trials.
        history: The hand-outs and losses of the study's earlier runs, when it resumes.

    Example::

        controller = Controller(trials, listener=journal)
        server = serve_over_rpc(controller, secret)  # autoablation._driver.rpc
        controller.start()
        server.start()
        controller.wait()
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
        planner: Planner | None = None,
        history: LossHistory | None = None,
    ) -> None:
        self._planner = planner
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or max(30.0, 10 * heartbeat_interval)
        self._ledger = TrialLedger(
            trials,
            max_attempts=max_attempts,
            max_trial_retries=max_trial_retries,
            max_failures=max_failures,
            scheduler=scheduler,
            history=history,
        )
        self._registry = WorkerRegistry(self.heartbeat_timeout)
        self._listener: Listener = listener or LoggingListener()
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._effects: list[_Send | TrialEvent] = []  # controller thread only
        self._lock = threading.Lock()  # guards _snapshot, nothing else
        self._snapshot = self._ledger.snapshot()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.time()

    # ----------------------------------------------------------------- public, any thread
    def start(self) -> None:
        """Start the controller thread."""
        self.started_at = time.time()
        self._thread = threading.Thread(
            target=self._run, name="autoablation-controller", daemon=True
        )
        self._thread.start()

    def submit(
        self, message: Mapping[str, Any], reply: ReplyFn, conn: ConnKey | None = None
    ) -> None:
        """Hand a decoded request to the controller; ``reply`` is called once with the answer."""
        self._inbox.put(Incoming(message, reply, conn))

    def connection_closed(self, conn: ConnKey) -> None:
        """Tell the controller a connection closed; a worker holding a trial on it is lost."""
        self._inbox.put(Closed(conn))

    def job_failed(self, generation: int, culprit: int | None) -> None:
        """Tell the controller Spark failed job ``generation`` because of task ``culprit``.

        Spark then kills that job's other tasks: they get no new trial (a parked one is told
        ``done``), and the trials they lose are run again without counting against
        ``max_attempts``. With an unknown culprit every loss counts.
        """
        self._inbox.put(JobFailed(generation, culprit))

    def abort(self, reason: str) -> None:
        """Stop handing out trials; every trial not yet final becomes ``cancelled``."""
        self._inbox.put(Abort(reason))

    def stop(self) -> None:
        """End the controller thread."""
        self._inbox.put(Stop())
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
            return self._snapshot.halted

    def is_alive(self) -> bool:
        """Whether the controller thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def results(self) -> list[TrialResult]:
        """Final results so far, in trial order."""
        with self._lock:
            snapshot = self._snapshot
        return snapshot.results.in_order()

    def progress(self) -> Progress:
        """A consistent snapshot of the trial counts."""
        with self._lock:
            s = self._snapshot
        statuses = [r.status for r in s.results.in_order()]
        ok = statuses.count(TrialStatus.OK)
        return Progress(s.total, s.pending, s.running, ok, len(statuses) - ok, self.started_at)

    # ----------------------------------------------------------------- controller thread
    def _run(self) -> None:
        self._settle()  # a study without trials is done at once
        while True:
            try:
                deadline = self._registry.deadline(self._ledger.holders())
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    item: Item | None = self._inbox.get(timeout=timeout)
                except queue.Empty:
                    item = None  # a liveness deadline passed
                if isinstance(item, Stop):
                    return
                try:
                    self._step(item)
                    if deadline is not None and time.monotonic() >= deadline:
                        self._expire()
                finally:
                    self._settle()
            except Exception:  # the controller thread must outlive any single bad event
                logger.exception("controller error")

    def _expire(self) -> None:
        """Lose the workers that hold a trial and fell silent, or did not reconnect in time.

        Only needed once the earliest deadline passed: a worker that takes a trial during an
        item is heard from at that moment. A worker whose loss would make its trial ``lost``
        gets one more heartbeat timeout first: silence is weak evidence of a death.
        """
        now = time.monotonic()
        for worker in self._registry.closed_for_good(list(self._ledger.holders()), now):
            self._lose(worker, "its connection closed")
        for worker, silence in self._registry.silent(list(self._ledger.holders()), now):
            if self._ledger.would_convict(worker) and self._registry.be_patient(worker):
                logger.info(
                    "%s is silent for %.0fs; waiting once more before losing it", worker, silence
                )
                continue
            self._lose(worker, f"no heartbeat for {silence:.0f}s")

    def _step(self, item: Item | None) -> None:
        match item:
            case Incoming(message, reply, conn):
                # The one place a refused request becomes an Error reply.
                try:
                    self._handle(parse_request(message), reply, conn)
                except MessageError as exc:
                    self._effects.append(_Send(reply, Error(str(exc))))
                except Exception as exc:
                    logger.exception("controller failed on a %r request", message.get("type"))
                    self._effects.append(_Send(reply, Error(f"internal controller error: {exc!r}")))
            case Closed(conn):
                now = time.monotonic()
                for worker in self._registry.closed(conn):
                    # A loss that would decide the trial waits a moment: a worker that is
                    # alive reconnects, and Spark may name another task as its job's culprit.
                    if self._ledger.would_convict(worker) and self._registry.defer_close(
                        worker, now
                    ):
                        continue
                    self._lose(worker, "its connection closed")
            case JobFailed(generation, culprit):
                self._ledger.job_failed(generation, culprit)
                for reply in self._registry.job_failed(generation):
                    self._effects.append(_Send(reply, DONE))  # its task is being killed
                self._collect()
            case Abort(reason):
                self._ledger.abort(reason)
                self._collect()

    def _settle(self) -> None:
        """Publish the snapshot, then deliver what the last item caused, outside the lock."""
        finished = self._ledger.finished
        if finished:
            for reply in self._registry.release_parked():
                self._effects.append(_Send(reply, DONE))
        snapshot = self._ledger.snapshot()
        with self._lock:
            self._snapshot = snapshot
        effects, self._effects = self._effects, []
        for effect in effects:
            if isinstance(effect, _Send):
                try:
                    effect.reply(effect.message.encode())
                except Exception:
                    logger.exception("could not send a %r reply", effect.message.TYPE)
            else:
                try:
                    effect.tell(self._listener)
                except Exception:
                    logger.error("trial listener failed:\n%s", traceback.format_exc())
        if finished:
            self._done.set()

    def _handle(self, request: Request, reply: ReplyFn, conn: ConnKey | None) -> None:
        now = time.monotonic()
        match request:  # the most frequent first
            case Result(worker=worker_id, trial=trial_id, request_id=request_id):
                worker = self._known(worker_id, now)
                worker.conn = conn  # a control call: the worker's connection now
                if not self._ledger.knows(trial_id):
                    raise MessageError(f"unknown trial {trial_id!r}")
                if not request_id or request_id > worker.last_result:  # else: sent again
                    worker.last_result = request_id
                    self._ledger.report(request)
                    self._collect()
                if request.want_next:
                    self._offer(worker, reply)
                else:
                    self._effects.append(_Send(reply, ACK))
            case Next(worker_id):
                worker = self._known(worker_id, now)
                worker.conn = conn
                self._offer(worker, reply)
            case Heartbeat(worker_id, trial_id, metrics, logs, request_id):
                worker = self._known(worker_id, now)
                if not request_id or request_id > worker.last_beat:  # else: sent again
                    worker.last_beat = request_id
                    self._ledger.record(worker_id, trial_id, metrics, logs)
                    self._effects.extend(self._ledger.drain())
                self._effects.append(_Send(reply, ACK))
            case Register(worker_id, info):
                previous = self._registry.register(
                    worker_id,
                    info,
                    conn,
                    now,
                    generation=request.generation,
                    partition=request.partition,
                )
                if previous is not None:
                    self._lose(worker_id, "it registered again while running the trial")
                self._effects.append(_Send(reply, Registered(self.heartbeat_interval)))

    def _known(self, worker_id: str, now: float) -> Worker:
        """The record of a worker heard from at ``now``; refused if it never registered.

        A worker presumed lost that speaks did not die: its losses stop counting.
        """
        worker = self._registry.touch(worker_id, now)
        if worker is None:
            raise MessageError(f"worker {worker_id!r} is not registered; send 'register' first")
        if self._ledger.suspects(worker_id):
            self._ledger.heard_from(worker_id)
            self._collect()
        return worker

    def _offer(self, worker: Worker, reply: ReplyFn) -> None:
        """Answer a worker that wants a trial: its own, a pending one, later, or ``done``.

        The caller has just touched the worker (a parked one when it is served), so the
        silence of a worker given a trial counts from its hand-out.
        """
        worker_id = worker.worker_id
        if self._registry.retired(worker):  # its job failed: Spark is killing its task
            self._registry.unpark(worker_id)
            self._ledger.lose(worker_id, "its Spark job failed")  # what it held, if anything
            self._collect()
            self._effects.append(_Send(reply, DONE))
            return
        handout = self._ledger.held_by(worker_id)  # a repeated 'next': the reply was lost
        if handout is None:
            handout = self._ledger.assign(
                worker_id, generation=worker.generation, partition=worker.partition
            )
            if handout is None and self._ledger.running:
                self._registry.park(worker_id, reply)
                return
        self._registry.unpark(worker_id)  # answered now; a reply parked earlier is stale
        message = DONE if handout is None else Assignment(handout.trial, handout.attempt)
        self._effects.append(_Send(reply, message))
        self._effects.extend(self._ledger.drain())  # the start, after the reply

    def _lose(self, worker_id: str, reason: str) -> None:
        self._ledger.lose(worker_id, reason)
        self._collect()

    def _collect(self) -> None:
        """Take the ledger's events, then give trials it put back (or added) to parked workers.

        With a planner, a final result may call for more trials: they are queued here, before
        the controller decides whether the study is done.
        """
        events = self._ledger.drain()
        self._effects.extend(events)
        if self._planner is not None and any(isinstance(e, TrialFinished) for e in events):
            trials, looks = self._planner(self._ledger.results())
            self._ledger.add(trials)
            self._effects.extend(self._ledger.drain())
            self._effects.extend(LookMade(look) for look in looks)
        while self._ledger.can_assign and (parked := self._registry.next_parked()) is not None:
            worker_id, reply = parked
            worker = self._registry.touch(worker_id, time.monotonic())
            assert worker is not None  # the registry never forgets a worker
            self._offer(worker, reply)
