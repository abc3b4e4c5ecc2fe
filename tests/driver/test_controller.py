"""The controller's trial lifecycle, driven by real worker loops on threads.

Every test runs twice: over the in-process channel and over the real RPC server on loopback.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from autoablation import FatalTrialError, ProtocolError, TrialStatus
from autoablation._driver.controller import Controller
from autoablation._driver.rpc import serve_over_rpc
from autoablation._executor.client import ControllerClient
from autoablation._executor.runtime import TrialPolicy, TrialRuntime
from autoablation._executor.worker import run_worker
from autoablation._wire.channel import RpcChannel
from autoablation._wire.frames import new_secret
from autoablation._wire.local import LocalChannel
from autoablation._wire.messages import Result
from autoablation._wire.server import RpcServer
from tests.helpers import Recorder, make_trials

NO_RUNTIME = TrialRuntime(None, None)


class Harness:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.recorder = Recorder()
        self.controller: Controller | None = None
        self.server: RpcServer | None = None
        self.secret = new_secret()
        self.channels: list[Any] = []

    def start(self, trials: list[Any], **options: Any) -> Controller:
        controller = Controller(trials, listener=self.recorder, **options)
        controller.start()
        self.controller = controller
        if self.mode == "rpc":
            self.server = serve_over_rpc(controller, self.secret)
            self.server.start()
        return controller

    def channel(self) -> Any:
        assert self.controller is not None
        if self.server is not None:
            channel: Any = RpcChannel(self.server.address, self.secret)
        else:
            channel = LocalChannel(self.controller)
        self.channels.append(channel)
        return channel

    def client(self) -> ControllerClient:
        return ControllerClient(self.channel(), self.channel())

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        if self.server is not None:
            self.server.stop()
        if self.controller is not None:
            self.controller.stop()


@pytest.fixture(params=["local", "rpc"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = Harness(request.param)
    yield h
    h.close()


def worker_thread(
    harness: Harness,
    worker_id: str,
    train: Any,
    out: dict[str, Any],
    policy: TrialPolicy | None = None,
    info: dict[str, Any] | None = None,
) -> threading.Thread:
    def run() -> None:
        out[worker_id] = run_worker(
            harness.client(),
            train,
            NO_RUNTIME,
            worker_id=worker_id,
            info=info or {},
            optimization_key="metric",
            policy=policy or TrialPolicy(),
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_every_trial_runs_exactly_once_across_workers(harness: Harness) -> None:
    trials = make_trials(12)
    controller = harness.start(trials)
    summaries: dict[str, Any] = {}
    threads = [worker_thread(harness, f"w{i}", lambda: 1.0, summaries) for i in range(3)]
    for thread in threads:
        thread.join(timeout=60)
    assert controller.wait(timeout=10)
    ran = [t for s in summaries.values() for t in s.trials]
    assert sorted(ran) == sorted(t.trial_id for t in trials)
    results = controller.results()
    assert [r.trial.trial_id for r in results] == [t.trial_id for t in trials]
    assert all(r.status is TrialStatus.OK and r.metric == 1.0 and r.attempts == 1 for r in results)
    assert harness.recorder.started[0][0] == trials[0].trial_id  # the base trial goes first


def test_a_failing_trial_is_recorded_and_the_others_finish(harness: Harness) -> None:
    trials = make_trials(4)
    controller = harness.start(trials)

    def train(reporter: Any) -> float:
        if reporter.ablated == "f2":
            raise RuntimeError("boom in f2")
        reporter.log(f"ran {reporter.ablated}")
        reporter.broadcast(0.5, step=0)
        return 0.9

    summaries: dict[str, Any] = {}
    worker_thread(harness, "w0", train, summaries).join(timeout=60)
    results = {r.trial.ablated: r for r in controller.results()}
    assert results["f2"].status is TrialStatus.FAILED
    assert "RuntimeError: boom in f2" in results["f2"].error and "Traceback" in results["f2"].error
    assert all(results[n].status is TrialStatus.OK for n in ("base", "f1", "f3"))
    assert results["f1"].history == ((0, 0.5),)
    assert (trials[1].trial_id, "ran f1") in harness.recorder.logs
    assert results["f2"].attempts == 1  # an error in the user's code is not retried by default
    assert harness.recorder.requeued == []
    assert controller.halted is None


def test_max_trial_retries_runs_a_failed_trial_again(harness: Harness) -> None:
    trials = make_trials(3)
    controller = harness.start(trials, max_trial_retries=2)
    failures = {"f1": 1, "f2": 5}  # f1 fails once then works; f2 never works

    def train(reporter: Any) -> float:
        if failures.get(reporter.ablated, 0) > 0:
            failures[reporter.ablated] -= 1
            raise RuntimeError(f"flaky {reporter.ablated}")
        return 1.0

    worker_thread(harness, "w0", train, {}).join(timeout=60)
    results = {r.trial.ablated: r for r in controller.results()}
    assert results["f1"].status is TrialStatus.OK and results["f1"].attempts == 2
    assert results["f2"].status is TrialStatus.FAILED and results["f2"].attempts == 3
    assert "RuntimeError: flaky f2" in results["f2"].error
    reasons = [reason for _, _, reason in harness.recorder.requeued]
    assert reasons == [
        "it failed (retry 1 of 2): RuntimeError: flaky f1",
        "it failed (retry 1 of 2): RuntimeError: flaky f2",
        "it failed (retry 2 of 2): RuntimeError: flaky f2",
    ]


def test_failures_past_the_budget_halt_the_study(harness: Harness) -> None:
    trials = make_trials(6)
    controller = harness.start(trials, max_failures=1)

    def train(reporter: Any) -> float:
        if reporter.ablated in ("f1", "f2", "f3"):
            raise RuntimeError(f"broken {reporter.ablated}")
        return 1.0

    worker_thread(harness, "w0", train, {}).join(timeout=60)
    assert controller.wait(timeout=10)
    statuses = {r.trial.ablated: r.status.value for r in controller.results()}
    assert statuses == {
        "base": "ok",
        "f1": "failed",
        "f2": "failed",
        "f3": "cancelled",
        "f4": "cancelled",
        "f5": "cancelled",
    }
    assert controller.halted == "2 trials ended without a metric, more than max_failures=1"


@pytest.mark.parametrize(
    ("error", "policy"),
    [
        (FatalTrialError("the cluster has no GPU"), TrialPolicy()),
        (MemoryError("the cluster has no GPU"), TrialPolicy(fatal_errors=(MemoryError,))),
    ],
    ids=["FatalTrialError", "fatal_errors"],
)
def test_an_error_marked_fatal_halts_the_study_at_once(
    harness: Harness, error: BaseException, policy: TrialPolicy
) -> None:
    trials = make_trials(4)
    controller = harness.start(trials, max_trial_retries=3)

    def train(reporter: Any) -> float:
        if reporter.ablated == "f1":
            raise error
        return 1.0

    worker_thread(harness, "w0", train, {}, policy).join(timeout=60)
    results = {r.trial.ablated: r for r in controller.results()}
    assert [r.status.value for r in results.values()] == ["ok", "failed", "cancelled", "cancelled"]
    assert results["f1"].attempts == 1  # fatal: not retried, whatever max_trial_retries says
    halted = controller.halted or ""
    assert halted.startswith(f"trial {trials[1].trial_id} raised an error marked fatal: ")
    assert halted.endswith(f"{type(error).__name__}: the cluster has no GPU")


def test_a_trial_past_its_timeout_is_timed_out_and_the_worker_goes_on(harness: Harness) -> None:
    trials = make_trials(3)
    controller = harness.start(trials)

    def train(reporter: Any) -> float:
        while reporter.ablated == "f1":
            threading.Event().wait(0.01)
        return 1.0

    worker_thread(harness, "w0", train, {}, TrialPolicy(trial_timeout=0.3)).join(timeout=60)
    results = {r.trial.ablated: r for r in controller.results()}
    assert results["f1"].status is TrialStatus.TIMED_OUT
    assert results["f1"].error == "TrialTimeout: it ran past trial_timeout=0.3s"
    assert results["base"].status is results["f2"].status is TrialStatus.OK
    assert controller.halted is None


def test_a_trial_that_ignores_its_timeout_is_reported_by_the_watchdog(harness: Harness) -> None:
    trials = make_trials(2)
    controller = harness.start(trials)
    release = threading.Event()

    def train(reporter: Any) -> float:
        while reporter.ablated == "f1" and not release.is_set():
            with contextlib.suppress(BaseException):  # ignores TrialTimeout
                threading.Event().wait(0.01)
        return 1.0

    thread = worker_thread(harness, "w0", train, {}, TrialPolicy(trial_timeout=0.1))
    assert controller.wait(timeout=60)  # final although the function still runs
    result = controller.results()[1]
    assert result.status is TrialStatus.TIMED_OUT
    assert "did not stop within 2s more" in result.error
    release.set()
    thread.join(timeout=60)
    assert controller.results()[1].status is TrialStatus.TIMED_OUT  # its late return is ignored


def test_a_bad_return_value_fails_the_trial_with_the_reason(harness: Harness) -> None:
    controller = harness.start(make_trials(1))
    summaries: dict[str, Any] = {}
    worker_thread(harness, "w0", lambda: {"loss": 0.1}, summaries).join(timeout=60)
    (result,) = controller.results()
    assert result.status is TrialStatus.FAILED
    assert result.error == (
        "the training function returned a dict without the optimization key 'metric'; "
        "its keys are: 'loss'"
    )


def test_the_trial_of_a_worker_whose_connection_closes_runs_elsewhere(harness: Harness) -> None:
    trials = make_trials(3)
    controller = harness.start(trials)
    doomed = harness.client()
    doomed.register("doomed", {})
    taken = doomed.next_trial("doomed")
    assert taken is not None and taken.trial_id == trials[0].trial_id
    summaries: dict[str, Any] = {}
    survivor = worker_thread(harness, "survivor", lambda: 1.0, summaries)
    doomed.close()  # the executor died: its sockets close
    survivor.join(timeout=60)
    assert controller.wait(timeout=10)
    results = {r.trial.trial_id: r for r in controller.results()}
    assert results[taken.trial_id].status is TrialStatus.OK
    assert results[taken.trial_id].attempts == 2 and results[taken.trial_id].worker == "survivor"
    assert harness.recorder.requeued[0][:2] == (taken.trial_id, "doomed")


def test_a_silent_worker_loses_its_trial_to_a_parked_one(harness: Harness) -> None:
    trials = make_trials(2)
    controller = harness.start(trials, heartbeat_interval=0.05, heartbeat_timeout=0.3)
    silent = harness.client()
    silent.register("silent", {})
    taken = silent.next_trial("silent")
    assert taken is not None
    summaries: dict[str, Any] = {}
    worker_thread(harness, "alive", lambda: 1.0, summaries).join(timeout=60)
    assert controller.wait(timeout=10)
    result = next(r for r in controller.results() if r.trial.trial_id == taken.trial_id)
    assert result.worker == "alive" and result.attempts == 2
    assert "no heartbeat" in harness.recorder.requeued[0][2]
    # The silent worker's late result is ignored: the first result stands.
    silent.report(Result("silent", taken.trial_id, TrialStatus.FAILED, error="late"))
    assert (
        next(r for r in controller.results() if r.trial.trial_id == taken.trial_id).worker
        == "alive"
    )


def test_a_trial_lost_on_every_attempt_is_final(harness: Harness) -> None:
    # heartbeat_timeout=1: the deciding loss waits 1 s for the worker to reconnect, not 5
    controller = harness.start(make_trials(1), max_attempts=2, heartbeat_timeout=1.0)
    for attempt in range(2):
        client = harness.client()
        client.register(f"w{attempt}", {})
        assert client.next_trial(f"w{attempt}") is not None
        client.close()
    assert controller.wait(timeout=10)
    (result,) = controller.results()
    assert result.status is TrialStatus.LOST and result.attempts == 2
    assert "the trial lost 2 of 2 allowed workers" in result.error


def test_a_parked_worker_is_told_done_when_the_last_trial_finishes(harness: Harness) -> None:
    trials = make_trials(1)
    controller = harness.start(trials)
    busy, idle = harness.client(), harness.client()
    busy.register("busy", {})
    idle.register("idle", {})
    trial = busy.next_trial("busy")
    assert trial is not None
    answer: list[Any] = []
    waiter = threading.Thread(target=lambda: answer.append(idle.next_trial("idle")))
    waiter.start()
    busy.report(Result("busy", trial.trial_id, TrialStatus.OK, metric=1.0))
    waiter.join(timeout=10)
    assert answer == [None] and controller.wait(timeout=10)


def test_progress_counts_trials_by_state(harness: Harness) -> None:
    trials = make_trials(3)
    controller = harness.start(trials)
    channel = channel_for(harness, "w")
    first = channel.request({"type": "next", "worker": "w"})["trial"]["trial_id"]
    result = {"type": "result", "worker": "w", "trial": first, "status": "failed", "next": True}
    second = channel.request(result)["trial"]["trial_id"]
    progress = controller.progress()
    assert (progress.total, progress.pending, progress.running) == (3, 1, 1)
    assert (progress.ok, progress.failed, progress.done) == (0, 1, 1)
    channel.request({"type": "result", "worker": "w", "trial": second, "status": "ok", "metric": 1})
    assert (controller.progress().ok, controller.progress().done) == (1, 2)


def test_a_listener_may_read_the_controller_it_listens_to(harness: Harness) -> None:
    done: list[int] = []

    class Reader(Recorder):
        def trial_finished(self, result: Any) -> None:
            super().trial_finished(result)
            done.append(controller.progress().done)  # no lock is held while it is called

    harness.recorder = Reader()
    controller = harness.start(make_trials(3))
    worker_thread(harness, "w", lambda: 1.0, {}).join(timeout=60)
    assert controller.wait(timeout=10)
    assert done == [1, 2, 3]  # each call sees the snapshot of its own event


def test_asking_again_returns_the_trial_already_held(harness: Harness) -> None:
    harness.start(make_trials(2))
    client = harness.client()
    client.register("w", {})
    first = client.next_trial("w")
    assert client.next_trial("w") == first


def test_abort_cancels_what_has_not_finished(harness: Harness) -> None:
    controller = harness.start(make_trials(3))
    client = harness.client()
    client.register("w", {})
    assert client.next_trial("w") is not None
    controller.abort("the Spark job failed")
    assert controller.wait(timeout=10)
    assert [r.status for r in controller.results()] == [TrialStatus.CANCELLED] * 3
    assert controller.results()[0].error == "not finished: the Spark job failed"
    assert client.next_trial("w") is None


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "teleport", "worker": "w"}, "unknown message type 'teleport'"),
        ({"type": "bye", "worker": "w"}, "unknown message type 'bye'"),  # a worker just leaves
        ({"type": "next", "worker": "ghost"}, "worker 'ghost' is not registered"),
        ({"type": "next"}, "needs field 'worker'"),
        (
            {"type": "result", "worker": "w", "trial": "nope", "status": "ok", "metric": 1},
            "unknown trial 'nope'",
        ),
    ],
)
def test_malformed_requests_get_an_error_reply(
    harness: Harness, message: dict[str, Any], reason: str
) -> None:
    harness.start(make_trials(1))
    channel = harness.channel()
    channel.request({"type": "register", "worker": "w"})
    with pytest.raises(ProtocolError, match=reason):
        channel.request(message)
    assert channel.request({"type": "next", "worker": "w"})["type"] == "trial"


def channel_for(harness: Harness, worker: str, **info: Any) -> Any:
    channel = harness.channel()
    channel.request({"type": "register", "worker": worker, "info": info})
    return channel


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"metric": "0.9"}, "field 'metric' must be a number; got str"),
        ({"status": "OK"}, "status must be one of 'ok', 'failed', 'timed_out'; got 'OK'"),
        ({"metric": 10**400}, "field 'metric' is out of range"),
        ({"metric": None}, "an 'ok' result needs a finite metric"),
        ({"metrics": 5}, "'metrics' must be a list of"),
        ({"metrics": [[1.5, 0.3]]}, "'metrics' must be a list of"),
        ({"logs": [1, 2]}, "'logs' must be a list of strings"),
        ({"outputs": [1]}, "'outputs' must be an object"),
    ],
)
def test_a_malformed_result_changes_nothing(
    harness: Harness, fields: dict[str, Any], reason: str
) -> None:
    controller = harness.start(make_trials(2))
    channel = channel_for(harness, "w")
    trial = channel.request({"type": "next", "worker": "w"})["trial"]["trial_id"]
    good = {"type": "result", "worker": "w", "trial": trial, "status": "ok", "metric": 1.0}
    with pytest.raises(ProtocolError, match=reason):
        channel.request({**good, **fields})
    assert controller.progress().running == 1 and controller.results() == []
    assert channel.request({"type": "next", "worker": "w"})["trial"]["trial_id"] == trial
    channel.request({**good, "next": False})
    assert [r.trial.trial_id for r in controller.results()] == [trial]


def test_a_malformed_heartbeat_is_answered_with_an_error(harness: Harness) -> None:
    harness.start(make_trials(1))
    channel = channel_for(harness, "w")
    trial = channel.request({"type": "next", "worker": "w"})["trial"]["trial_id"]
    with pytest.raises(ProtocolError, match="'metrics' must be a list"):
        channel.request({"type": "heartbeat", "worker": "w", "trial": trial, "metrics": "x"})
    assert channel.request({"type": "heartbeat", "worker": "w", "trial": trial})["type"] == "ack"


def test_tasks_killed_with_a_failed_job_do_not_use_up_their_trials(harness: Harness) -> None:
    trials = make_trials(3)
    controller = harness.start(trials, max_attempts=1, heartbeat_timeout=1.0)
    culprit = channel_for(harness, "culprit", generation=0, partition=0)
    bystander = channel_for(harness, "bystander", generation=0, partition=1)
    bad = culprit.request({"type": "next", "worker": "culprit"})["trial"]["trial_id"]
    innocent = bystander.request({"type": "next", "worker": "bystander"})["trial"]["trial_id"]
    culprit.close()  # the crash
    bystander.close()  # Spark kills the rest of the failed job...
    controller.job_failed(0, 0)  # ...and the launcher learns which task failed
    summaries: dict[str, Any] = {}
    restarted = {"generation": 1, "partition": 0}  # a task of the job started again
    worker_thread(harness, "next-job", lambda: 1.0, summaries, info=restarted).join(timeout=60)
    assert controller.wait(timeout=10)
    results = {r.trial.trial_id: r for r in controller.results()}
    assert results[bad].status is TrialStatus.LOST
    assert results[innocent].status is TrialStatus.OK and results[innocent].attempts == 2


def test_a_genuine_late_result_replaces_a_lost_verdict(harness: Harness) -> None:
    controller = harness.start(make_trials(1), max_attempts=1, heartbeat_timeout=0.2)
    slow = channel_for(harness, "slow")
    trial = slow.request({"type": "next", "worker": "slow"})["trial"]["trial_id"]
    assert controller.wait(timeout=10)  # silent past the timeout: lost on its only attempt
    assert controller.results()[0].status is TrialStatus.LOST
    slow.request(
        {
            "type": "result",
            "worker": "slow",
            "trial": trial,
            "status": "ok",
            "metric": 0.93,
            "metrics": [[0, 0.5]],
        }
    )
    (result,) = controller.results()
    assert (result.status, result.metric, result.worker) == (TrialStatus.OK, 0.93, "slow")
    assert result.history == ((0, 0.5),)


def test_a_late_result_over_a_lost_verdict_keeps_the_metrics_of_its_heartbeats(
    harness: Harness,
) -> None:
    controller = harness.start(make_trials(1), max_attempts=1, heartbeat_timeout=0.2)
    slow = channel_for(harness, "slow")
    trial = slow.request({"type": "next", "worker": "slow"})["trial"]["trial_id"]
    slow.request({"type": "heartbeat", "worker": "slow", "trial": trial, "metrics": [[0, 0.1]]})
    assert controller.wait(timeout=10)  # then silent past the timeout: lost
    assert controller.results()[0].history == ((0, 0.1),)
    ok = {"type": "result", "worker": "slow", "trial": trial, "status": "ok", "metric": 0.9}
    slow.request({**ok, "metrics": [[1, 0.2]]})
    (result,) = controller.results()
    assert (result.status, result.history) == (TrialStatus.OK, ((0, 0.1), (1, 0.2)))


def test_a_late_result_keeps_its_own_history_while_another_worker_reruns(
    harness: Harness,
) -> None:
    controller = harness.start(make_trials(1), heartbeat_timeout=0.3, heartbeat_interval=0.05)
    first = channel_for(harness, "first")
    trial = first.request({"type": "next", "worker": "first"})["trial"]["trial_id"]
    first.request({"type": "heartbeat", "worker": "first", "trial": trial, "metrics": [[0, 0.1]]})
    second = channel_for(harness, "second")
    again = second.request({"type": "next", "worker": "second"})  # parked until first is lost
    assert again["trial"]["trial_id"] == trial and again["attempt"] == 2
    second.request({"type": "heartbeat", "worker": "second", "trial": trial, "metrics": [[0, 0.9]]})
    first.request(
        {
            "type": "result",
            "worker": "first",
            "trial": trial,
            "status": "ok",
            "metric": 0.5,
            "metrics": [[1, 0.2]],
        }
    )
    (result,) = controller.results()
    assert (result.worker, result.attempts, result.history) == ("first", 1, ((0, 0.1), (1, 0.2)))
    second.request(
        {"type": "result", "worker": "second", "trial": trial, "status": "ok", "metric": 0.7}
    )
    assert controller.results()[0].metric == 0.5 and controller.wait(timeout=10)


def test_oversized_logs_reach_the_driver_trimmed_instead_of_killing_the_task(
    harness: Harness,
) -> None:
    controller = harness.start(make_trials(1))

    def chatty(reporter: Any) -> float:
        for _ in range(1000):
            reporter.log("x" * 10_000)
        return 1.0

    summaries: dict[str, Any] = {}
    worker_thread(harness, "w", chatty, summaries).join(timeout=60)
    (result,) = controller.results()
    assert result.status is TrialStatus.OK and result.attempts == 1
    assert any("log lines dropped" in line for _, line in harness.recorder.logs)


def test_a_planner_adds_trials_before_the_study_counts_as_done(harness: Harness) -> None:
    # A sequential study: the first result asks for two more trials, which the parked and the
    # asking workers take; "done" comes only after them, and each look reaches the listener.
    base, first, second = make_trials(3)
    asked: list[list[str]] = []

    def planner(results: Any) -> tuple[list[Any], list[dict[str, Any]]]:
        asked.append([r.trial.trial_id for r in results])
        if len(results) == 1:
            return [first, second], [{"kind": "feature", "ablated": "f1", "repeats": 1}]
        return [], []

    controller = harness.start([base], planner=planner)
    summaries: dict[str, Any] = {}
    threads = [worker_thread(harness, f"w{i}", lambda: 1.0, summaries) for i in range(2)]
    for thread in threads:
        thread.join(timeout=60)
    assert controller.wait(timeout=10)
    ran = sorted(t for s in summaries.values() for t in s.trials)
    assert ran == sorted([base.trial_id, first.trial_id, second.trial_id])
    assert [r.trial for r in controller.results()] == [base, first, second]
    assert asked[0] == [base.trial_id] and len(asked) == 3
    assert harness.recorder.looks == [{"kind": "feature", "ablated": "f1", "repeats": 1}]
    assert harness.recorder.added == [first.trial_id, second.trial_id]
    assert controller.progress().total == 3


def test_a_task_of_a_failed_job_gets_no_new_trial(harness: Harness) -> None:
    trials = make_trials(4)
    controller = harness.start(trials)
    culprit = channel_for(harness, "culprit", generation=0, partition=0)
    survivor = channel_for(harness, "survivor", generation=0, partition=1)
    culprit.request({"type": "next", "worker": "culprit"})
    running = survivor.request({"type": "next", "worker": "survivor"})["trial"]["trial_id"]
    culprit.close()  # its Python worker crashed: in local mode Spark fails the whole job
    controller.job_failed(0, 0)
    # The survivor's trial finishes before Spark gets round to killing its task: the result
    # counts, but the task takes no new trial beside the restarted job.
    finished = {"type": "result", "worker": "survivor", "trial": running, "status": "ok"}
    reply = survivor.request({**finished, "metric": 1.0, "next": True})
    assert reply["type"] == "done"
    assert survivor.request({"type": "next", "worker": "survivor"})["type"] == "done"
    assert controller.progress().pending == 3  # the crashed trial and the two never started
    fresh = channel_for(harness, "restarted", generation=1, partition=0)
    assert fresh.request({"type": "next", "worker": "restarted"})["type"] == "trial"


def test_a_parked_task_of_a_failed_job_is_told_done(harness: Harness) -> None:
    controller = harness.start(make_trials(1))
    runner = channel_for(harness, "runner", generation=0, partition=0)
    runner.request({"type": "next", "worker": "runner"})
    channel_for(harness, "idle", generation=0, partition=1)
    replies: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    # Straight into the inbox, so the order is known: parked (nothing waits, one trial runs)...
    controller.submit({"type": "next", "worker": "idle"}, replies.put, "idle-connection")
    controller.job_failed(0, 0)  # ...then the runner's task fails the job...
    runner.close()  # ...and its connection closes: its trial waits for the next job
    assert replies.get(timeout=10) == {"type": "done"}
    assert harness.recorder.wait_until(lambda r: len(r.requeued) == 1)
    assert controller.progress().pending == 1


def test_a_heartbeat_or_result_sent_again_is_taken_once(harness: Harness) -> None:
    controller = harness.start(make_trials(1), max_trial_retries=1)
    channel = channel_for(harness, "w")
    trial = channel.request({"type": "next", "worker": "w"})["trial"]["trial_id"]
    beat = {"type": "heartbeat", "id": 1, "worker": "w", "trial": trial, "metrics": [[0, 0.5]]}
    channel.request(beat)
    channel.request(beat)  # its reply was lost: the channel sent it again
    assert harness.recorder.metrics == [(trial, 0, 0.5)]
    failure = {"type": "result", "id": 2, "worker": "w", "trial": trial, "status": "failed"}
    channel.request(failure)  # retried once, as max_trial_retries=1 allows...
    channel.request(failure)  # ...and the same report again does not use up the retry
    assert controller.results() == [] and controller.progress().pending == 1
    assert [reason for _, _, reason in harness.recorder.requeued] == [
        "it failed (retry 1 of 1): failed"
    ]


def test_a_worker_cut_off_and_heard_from_again_is_not_charged_for_it(harness: Harness) -> None:
    controller = harness.start(make_trials(1), max_attempts=2)
    first = channel_for(harness, "cut-off")
    trial = first.request({"type": "next", "worker": "cut-off"})["trial"]["trial_id"]
    first.close()  # a network fault: the connection closes, the trial is put back
    again = harness.channel()
    again.request({"type": "heartbeat", "worker": "cut-off", "trial": trial})  # it was alive
    crashing = channel_for(harness, "crashing")
    assert crashing.request({"type": "next", "worker": "crashing"})["trial"]["trial_id"] == trial
    crashing.close()  # a real crash: only the first charge of max_attempts=2
    assert harness.recorder.wait_until(lambda r: len(r.requeued) == 2)
    assert controller.results() == [] and controller.progress().pending == 1


def test_a_worker_cut_off_on_its_trials_last_chance_reconnects_before_any_verdict(
    harness: Harness,
) -> None:
    controller = harness.start(make_trials(1), max_attempts=1, heartbeat_timeout=30.0)
    first = channel_for(harness, "w")
    trial = first.request({"type": "next", "worker": "w"})["trial"]["trial_id"]
    first.close()  # a network fault: this loss would make the trial lost, so it waits...
    again = harness.channel()  # ...and the worker, alive, sends its result on a new connection
    ok = {"type": "result", "id": 1, "worker": "w", "trial": trial, "status": "ok", "metric": 1.0}
    again.request(ok)
    assert controller.wait(timeout=10)
    assert [r.status for r in harness.recorder.finished] == [TrialStatus.OK]  # never lost
    assert harness.recorder.requeued == []
