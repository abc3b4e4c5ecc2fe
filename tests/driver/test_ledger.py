"""Every arrow of the trial lifecycle, as plain calls on the ledger: no threads, no sockets."""

from __future__ import annotations

from typing import Any

import pytest

from autoablation import TrialStatus
from autoablation._driver.events import (
    TrialFinished,
    TrialLogs,
    TrialMetrics,
    TrialRequeued,
    TrialsAdded,
    TrialStarted,
)
from autoablation._driver.ledger import TrialLedger
from autoablation._driver.losses import LossHistory
from autoablation._driver.schedule import LongestFirst
from autoablation._wire.messages import Result
from tests.helpers import make_trials

TRIALS = make_trials(3)
BASE, F1, F2 = (t.trial_id for t in TRIALS)


def ok(worker: str, trial_id: str, metric: float = 1.0, **fields: Any) -> Result:
    return Result(worker, trial_id, TrialStatus.OK, metric=metric, **fields)


def failed(worker: str, trial_id: str, error: str = "RuntimeError: boom", **fields: Any) -> Result:
    return Result(worker, trial_id, TrialStatus.FAILED, error=error, **fields)


def ledger(trials: Any = TRIALS, **options: Any) -> TrialLedger:
    return TrialLedger(trials, **options)


def status(book: TrialLedger, trial_id: str) -> TrialStatus | None:
    result = book.result(trial_id)
    return None if result is None else result.status


# ---------------------------------------------------------------------------- hand-outs
def test_assign_hands_out_pending_trials_in_order_and_counts_attempts() -> None:
    book = ledger()
    first = book.assign("w1")
    assert first is not None and (first.trial.trial_id, first.worker, first.attempt) == (
        BASE,
        "w1",
        1,
    )
    assert book.held_by("w1") is first and set(book.holders()) == {"w1"}
    assert book.drain() == [TrialStarted(TRIALS[0], "w1", 1)]
    assert book.snapshot().pending == 2 and book.snapshot().running == 1


def test_nothing_to_assign_gives_none_and_a_busy_worker_cannot_take_a_second_trial() -> None:
    book = ledger(TRIALS[:1])
    assert book.assign("w1") is not None
    with pytest.raises(ValueError, match="runs trial"):
        book.assign("w1")
    assert book.assign("w2") is None and not book.can_assign and book.running == 1


def test_duplicate_trial_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        ledger([TRIALS[0], TRIALS[0]])


def test_pending_trials_follow_the_scheduler_which_learns_their_durations() -> None:
    trials = make_trials(4)
    hints = {("feature", "f1"): 1.0, ("feature", "f2"): 3.0, ("feature", "f3"): 2.0}
    scheduler = LongestFirst(trials, hints)
    book = ledger(trials, scheduler=scheduler)
    base = book.assign("w")
    assert base is not None and base.trial.ablated == "base"
    book.report(ok("w", base.trial.trial_id, started_at=10.0, finished_at=12.5))
    assert scheduler.estimate(base.trial) == 2.5
    taken = book.assign("w")
    assert taken is not None and taken.trial.ablated == "f2"
    book.lose("w", "its connection closed")  # back to the front, whatever its estimate
    handouts = [book.assign(f"w{i}") for i in range(3)]
    assert [h.trial.ablated for h in handouts if h] == ["f2", "f3", "f1"]


# ------------------------------------------------------------------------------ results
@pytest.mark.parametrize("final", [TrialStatus.OK, TrialStatus.FAILED, TrialStatus.TIMED_OUT])
def test_a_report_makes_a_running_trial_final(final: TrialStatus) -> None:
    book = ledger()
    book.assign("w")
    book.record("w", BASE, [(0, 0.5)], ["epoch 0"])
    metric = 0.9 if final is TrialStatus.OK else None
    book.report(Result("w", BASE, final, metric=metric, error="e", metrics=((1, 0.7),)))
    result = book.result(BASE)
    assert result is not None and result.status is final and result.metric == metric
    assert result.history == ((0, 0.5), (1, 0.7)) and result.attempts == 1
    assert [type(e) for e in book.drain()] == [
        TrialStarted,
        TrialMetrics,
        TrialLogs,
        TrialMetrics,
        TrialFinished,
    ]
    assert book.held_by("w") is None and book.running == 0


def test_a_heartbeat_for_a_trial_the_worker_does_not_hold_is_ignored() -> None:
    book = ledger()
    book.assign("w")
    book.drain()
    book.record("other", BASE, [(0, 0.5)], ["x"])
    book.record("w", F1, [(0, 0.5)], ["x"])
    assert book.drain() == []


def test_a_second_result_is_ignored() -> None:
    book = ledger()
    book.assign("w")
    book.report(ok("w", BASE, 0.9))
    book.report(ok("w", BASE, 0.1))
    result = book.result(BASE)
    assert result is not None and result.metric == 0.9
    assert [type(e) for e in book.drain()].count(TrialFinished) == 1


# ------------------------------------------------------------------------------ retries
@pytest.mark.parametrize(
    ("final", "said"), [(TrialStatus.FAILED, "failed"), (TrialStatus.TIMED_OUT, "timed out")]
)
def test_a_failure_with_retries_left_goes_back_to_the_front(final: TrialStatus, said: str) -> None:
    book = ledger(max_trial_retries=1)
    book.assign("w")
    book.drain()
    book.report(Result("w", BASE, final, error="Traceback\nRuntimeError: flaky"))
    assert book.drain() == [
        TrialRequeued(TRIALS[0], "w", f"it {said} (retry 1 of 1): RuntimeError: flaky")
    ]
    assert book.result(BASE) is None and book.snapshot().pending == 3
    again = book.assign("w")
    assert again is not None and again.trial.trial_id == BASE and again.attempt == 2
    book.report(Result("w", BASE, final, error="still"))
    result = book.result(BASE)
    assert result is not None and result.status is final and result.attempts == 2


def test_an_error_marked_fatal_is_not_retried_and_halts_the_study() -> None:
    book = ledger(max_trial_retries=3)
    book.assign("w1")
    book.assign("w2")
    book.report(failed("w1", BASE, "FatalTrialError: no GPU", fatal=True))
    assert book.halted == f"trial {BASE} raised an error marked fatal: FatalTrialError: no GPU"
    assert [r.status.value for r in book.results()] == ["failed", "cancelled", "cancelled"]
    assert book.finished and not book.can_assign and book.held_by("w2") is None


def test_failures_past_the_budget_halt_the_study() -> None:
    book = ledger(make_trials(4), max_failures=1, max_attempts=1)
    for worker in ("w1", "w2", "w3"):
        book.assign(worker)
    book.report(failed("w1", BASE))
    assert book.halted is None
    book.lose("w2", "its connection closed")  # lost counts against the budget too
    assert book.halted == "2 trials ended without a metric, more than max_failures=1"
    statuses = [r.status.value for r in book.results()]
    assert statuses == ["failed", "lost", "cancelled", "cancelled"]
    assert book.finished and book.held_by("w3") is None


# ------------------------------------------------------------------------------- losses
def test_a_lost_worker_puts_its_trial_back_at_the_front() -> None:
    book = ledger()
    book.assign("w1")
    book.drain()
    book.lose("w1", "its connection closed")
    assert book.drain() == [TrialRequeued(TRIALS[0], "w1", "its connection closed")]
    assert book.held_by("w1") is None and book.snapshot().pending == 3
    again = book.assign("w2")
    assert again is not None and again.trial.trial_id == BASE and again.attempt == 2


def test_losing_a_worker_that_holds_nothing_changes_nothing() -> None:
    book = ledger()
    book.lose("w", "gone")
    assert book.drain() == [] and book.snapshot().pending == 3


def test_a_trial_lost_on_every_attempt_is_final_as_lost() -> None:
    book = ledger(TRIALS[:1], max_attempts=2)
    for worker in ("w1", "w2"):
        book.assign(worker)
        book.record(worker, BASE, [(0, 0.1)])
        book.lose(worker, "no heartbeat for 31s")
    result = book.result(BASE)
    assert result is not None and result.status is TrialStatus.LOST
    assert result.attempts == 2 and result.worker == "w2" and result.history == ((0, 0.1),)
    assert result.error == (
        "worker w2 was lost (no heartbeat for 31s); the trial lost 2 of 2 allowed workers"
    )
    assert book.finished


def test_losses_of_tasks_spark_killed_with_a_failed_job_are_not_charged() -> None:
    book = ledger(max_attempts=1)
    book.assign("culprit", generation=0, partition=0)
    book.assign("bystander", generation=0, partition=1)
    book.job_failed(0, 0)  # the launcher learned it first
    book.lose("culprit", "its connection closed")
    book.lose("bystander", "its connection closed")
    assert status(book, BASE) is TrialStatus.LOST
    assert status(book, F1) is None and book.snapshot().pending == 2


def test_a_failed_job_lifts_earlier_charges_and_reruns_a_trial_it_made_lost() -> None:
    book = ledger(max_attempts=1)
    book.assign("culprit", generation=0, partition=0)
    book.assign("bystander", generation=0, partition=1)
    book.lose("culprit", "its connection closed")
    book.lose("bystander", "its connection closed")
    assert status(book, BASE) is status(book, F1) is TrialStatus.LOST
    book.drain()
    book.job_failed(0, 0)
    assert book.drain() == [TrialRequeued(TRIALS[1], "bystander", "its job was killed")]
    assert status(book, BASE) is TrialStatus.LOST and status(book, F1) is None
    again = book.assign("next-job", generation=1, partition=0)
    assert again is not None and again.trial.trial_id == F1 and again.attempt == 2


def test_a_failed_job_with_an_unknown_culprit_charges_every_loss() -> None:
    book = ledger(max_attempts=1)
    book.assign("a", generation=0, partition=0)
    book.assign("b", generation=0, partition=1)
    book.job_failed(0, None)
    book.lose("a", "closed")
    book.lose("b", "closed")
    book.job_failed(0, None)
    assert status(book, BASE) is status(book, F1) is TrialStatus.LOST


def test_a_genuine_late_result_replaces_a_lost_verdict() -> None:
    book = ledger(TRIALS[:1], max_attempts=1)
    book.assign("slow")
    book.lose("slow", "no heartbeat for 31s")
    assert status(book, BASE) is TrialStatus.LOST and book.finished
    book.report(ok("slow", BASE, 0.93, metrics=((0, 0.5),)))
    (result,) = book.results()
    assert (result.status, result.metric, result.worker) == (TrialStatus.OK, 0.93, "slow")
    assert result.history == ((0, 0.5),) and book.snapshot().results.in_order() == [result]


def test_a_late_result_over_a_lost_verdict_keeps_what_its_heartbeats_sent() -> None:
    book = ledger(TRIALS[:1], max_attempts=1)
    book.assign("slow")
    book.record("slow", BASE, [(0, 0.1)])
    book.lose("slow", "no heartbeat for 31s")
    lost = book.result(BASE)
    assert lost is not None and lost.history == ((0, 0.1),)
    book.report(ok("slow", BASE, 0.9, metrics=((1, 0.2),)))
    (result,) = book.results()
    assert (result.status, result.attempts) == (TrialStatus.OK, 1)
    assert result.history == ((0, 0.1), (1, 0.2))


def test_a_late_failure_over_a_lost_verdict_that_gets_a_retry_waits_again() -> None:
    book = ledger(TRIALS[:1], max_attempts=1, max_trial_retries=1)
    book.assign("slow", generation=0, partition=1)
    book.lose("slow", "no heartbeat for 31s")
    book.report(failed("slow", BASE))  # genuine after all, and it has a retry left
    snapshot = book.snapshot()
    assert book.result(BASE) is None and snapshot.results.in_order() == []
    assert snapshot.pending == 1 and not book.finished
    book.job_failed(0, 0)  # lifts the loss's charge: nothing lost to put back now
    assert book.snapshot().pending == 1
    again = book.assign("w")
    assert again is not None and again.attempt == 2 and book.assign("v") is None


def test_a_late_result_counts_with_its_own_record_and_makes_the_rerun_moot() -> None:
    book = ledger(TRIALS[:1])
    book.assign("first")
    book.record("first", BASE, [(0, 0.1)])
    book.lose("first", "no heartbeat for 31s")
    book.assign("second")
    book.record("second", BASE, [(0, 0.9)])
    book.report(ok("first", BASE, 0.5, metrics=((1, 0.2),)))
    (result,) = book.results()
    assert (result.worker, result.attempts, result.history) == ("first", 1, ((0, 0.1), (1, 0.2)))
    assert book.held_by("second") is None and book.finished
    book.report(ok("second", BASE, 0.7))  # the moot rerun's result: a duplicate
    assert book.results()[0].metric == 0.5


def test_a_late_result_while_the_trial_waits_again_takes_it_off_the_queue() -> None:
    book = ledger(TRIALS[:1])
    book.assign("w")
    book.lose("w", "its connection closed")
    assert book.snapshot().pending == 1
    book.report(ok("w", BASE))
    assert book.snapshot().pending == 0 and book.finished and book.assign("v") is None


# -------------------------------------------------------------------------------- abort
def test_abort_cancels_what_runs_and_what_waits() -> None:
    book = ledger()
    book.assign("w")
    book.report(ok("w", BASE))
    book.assign("w")
    book.abort("the Spark job failed")
    assert [r.status.value for r in book.results()] == ["ok", "cancelled", "cancelled"]
    running = book.result(F1)
    assert running is not None and running.worker == "w" and running.attempts == 1
    assert running.error == "not finished: the Spark job failed"
    assert book.finished and book.halted is None and book.assign("w") is None
    book.abort("again")  # a second abort changes nothing
    assert [r.error for r in book.results()][1:] == ["not finished: the Spark job failed"] * 2


def test_a_late_result_for_a_cancelled_trial_is_ignored() -> None:
    book = ledger(TRIALS[:1])
    book.assign("w")
    book.abort("stopped")
    book.report(ok("w", BASE))
    assert status(book, BASE) is TrialStatus.CANCELLED


# ---------------------------------------------------------------------------- snapshots
def test_a_snapshot_does_not_change_after_it_was_taken() -> None:
    book = ledger(max_attempts=1)
    book.assign("w", generation=0, partition=1)
    book.lose("w", "closed")
    before = book.snapshot()
    book.job_failed(0, 0)  # withdraws the lost verdict
    book.assign("v")  # the base trial again
    book.report(ok("v", BASE))
    after = book.snapshot()
    assert [r.status.value for r in before.results.in_order()] == ["lost"]
    assert (before.pending, before.running) == (2, 0)
    assert [r.status.value for r in after.results.in_order()] == ["ok"]
    assert (after.pending, after.running) == (2, 0)


def test_events_come_out_once_in_the_order_they_happened() -> None:
    book = ledger(TRIALS[:1])
    book.assign("w")
    book.report(ok("w", BASE, logs=("done",)))
    events = book.drain()
    assert [type(e) for e in events] == [TrialStarted, TrialLogs, TrialFinished]
    assert book.drain() == []
    assert not any(isinstance(e, TrialMetrics) for e in events)


# ------------------------------------------------------------------ a sequential study's looks
def test_added_trials_are_queued_listed_and_reported_once() -> None:
    base, first, later = make_trials(3)
    book = ledger([base, first])
    book.assign("w")
    book.report(ok("w", base.trial_id))
    book.assign("w")
    book.report(ok("w", first.trial_id))
    assert book.finished
    book.drain()
    book.add([later, first])  # a trial already known is left as it is
    assert not book.finished and book.snapshot().total == 3
    assert book.drain() == [TrialsAdded((later,))]
    handout = book.assign("w")
    assert handout is not None and handout.trial == later and handout.attempt == 1
    book.report(ok("w", later.trial_id, 0.5))
    assert [r.trial for r in book.results()] == [base, first, later]
    assert book.snapshot().results.in_order()[-1].metric == 0.5


def test_nothing_is_added_once_the_study_was_aborted() -> None:
    base, later = make_trials(2)
    book = ledger([base])
    book.abort("stopped")
    book.drain()
    book.add([later])
    assert book.finished and book.snapshot().total == 1 and book.drain() == []


# ------------------------------------------------------- losses: only as far as the evidence
def test_a_trial_put_back_after_a_loss_waits_behind_one_trial_per_other_running_worker() -> None:
    trials = make_trials(6)
    book = ledger(trials)
    for worker in ("w1", "w2", "w3"):
        book.assign(worker)
    book.lose("w1", "its connection closed")  # w2 and w3 still run: it waits behind two
    order = [book.assign(w) for w in ("v1", "v2", "v3")]
    assert [h.trial.ablated for h in order if h is not None] == ["f3", "f4", "base"]


def test_a_lost_worker_heard_from_again_lifts_its_charge_and_its_lost_verdict() -> None:
    book = ledger(TRIALS[:1], max_attempts=1)
    book.assign("w1")
    book.lose("w1", "no heartbeat for 31s")
    assert status(book, BASE) is TrialStatus.LOST and book.suspects("w1")
    book.drain()
    book.heard_from("w1")  # a late heartbeat: its process did not die
    assert status(book, BASE) is None and not book.suspects("w1")
    assert book.drain() == [TrialRequeued(TRIALS[0], "w1", "its worker was heard from again")]
    again = book.assign("w2")
    assert again is not None and again.attempt == 2


def test_a_loss_lifted_by_the_worker_coming_back_does_not_add_up_with_a_later_one() -> None:
    book = ledger(TRIALS[:1], max_attempts=2)
    book.assign("cut-off")
    book.lose("cut-off", "its connection closed")  # a network fault...
    book.heard_from("cut-off")  # ...it reconnects: not the trial's doing
    book.assign("w2")
    book.lose("w2", "its connection closed")  # a real crash: the first charge
    assert status(book, BASE) is None and book.snapshot().pending == 1


def _storm_around(book: TrialLedger, losses: int) -> None:
    """Run every pending trial to the end; the first ``losses`` lose their first worker."""
    n = 0
    while (handout := book.assign(f"o{n}")) is not None:
        if losses and handout.attempt == 1:
            losses -= 1
            book.lose(f"o{n}", "its Python worker was killed")
        else:
            book.report(ok(f"o{n}", handout.trial.trial_id))
        n += 1


def _lose_until_lost(book: TrialLedger, trial_id: str) -> int:
    """Hand the trial to one worker after another, each lost; the losses it took to be lost."""
    for n in range(1, 100):
        assert book.assign(f"v{n}") is not None
        book.lose(f"v{n}", "its Python worker was killed")
        if status(book, trial_id) is TrialStatus.LOST:
            return n
    raise AssertionError("never lost")


def test_in_a_storm_a_trial_is_lost_only_once_its_losses_stand_out() -> None:
    trials = make_trials(21)
    book = ledger(trials)  # max_attempts=3
    victim = book.assign("v0")
    assert victim is not None
    _storm_around(book, losses=8)  # 8 of the other 28 hand-outs lose their worker
    book.lose("v0", "its Python worker was killed")
    # Three losses in a row are not unusual at that rate: 21 trials x (8/28)^3 = 0.49. It takes
    # seven (21 x (8/28)^7 < 0.01) for the losses to point at the trial.
    assert _lose_until_lost(book, victim.trial.trial_id) + 1 == 7
    result = book.result(victim.trial.trial_id)
    assert result is not None and result.error == (
        "worker v6 was lost (its Python worker was killed); the trial lost 7 workers, more "
        "than max_attempts=3 because the study's other trials lost 29% of theirs too"
    )


def test_in_a_storm_of_losses_a_trial_is_lost_at_three_times_max_attempts() -> None:
    trials = make_trials(21)
    book = ledger(trials)
    victim = book.assign("v0")
    assert victim is not None
    _storm_around(book, losses=20)  # every other trial loses a worker: half the hand-outs
    book.lose("v0", "killed")
    assert _lose_until_lost(book, victim.trial.trial_id) + 1 == 9  # 21 x 0.5^9 > 0.01: capped


def test_in_a_quiet_study_a_trial_is_lost_at_max_attempts() -> None:
    trials = make_trials(21)
    book = ledger(trials)
    victim = book.assign("v0")
    assert victim is not None
    _storm_around(book, losses=0)
    book.lose("v0", "killed")
    assert _lose_until_lost(book, victim.trial.trial_id) + 1 == 3


def test_a_resumed_study_remembers_the_storm_its_killed_driver_saw() -> None:
    # The driver was killed in a storm: 30 hand-outs before, 9 of them lost. The resumed run
    # has seen nothing yet, but a trial losing three workers in a row is no news in that storm.
    trials = make_trials(21)
    resumed = ledger(trials, history=LossHistory(handouts=30, lost=9))
    victim = resumed.assign("v0")
    assert victim is not None
    resumed.lose("v0", "killed")
    assert _lose_until_lost(resumed, victim.trial.trial_id) + 1 > 3
    forgetful = ledger(trials)  # without the history: a quiet study, lost at max_attempts
    first = forgetful.assign("v0")
    assert first is not None
    forgetful.lose("v0", "killed")
    assert _lose_until_lost(forgetful, first.trial.trial_id) + 1 == 3


def test_the_ledger_says_whether_losing_a_worker_would_make_its_trial_lost() -> None:
    book = ledger(max_attempts=2)
    book.assign("w1", generation=0, partition=0)
    assert not book.would_convict("w1") and not book.would_convict("idle")
    book.lose("w1", "closed")
    book.assign("w2", generation=0, partition=1)
    assert book.would_convict("w2")  # the second charge of two
    book.job_failed(0, 0)  # ...unless Spark killed it for another task's failure
    assert not book.would_convict("w2")
    assert status(book, BASE) is None  # asking changed nothing
