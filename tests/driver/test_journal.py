"""The experiment directory: journal events, replay, resume guards, trial logs."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
from pathlib import Path

import pytest

from autoablation import StudyError, TrialStatus, load
from autoablation._driver import journal as journal_module
from autoablation._driver import seams
from autoablation._driver.appender import LineAppender
from autoablation._driver.events import Listeners, LoggingListener
from autoablation._driver.journal import LOCK, DriverLog, ExperimentDir, JournalWriter
from autoablation._results.store import read_journal
from tests.helpers import synthetic_results

FINGERPRINT = {"label": "y", "seed": 0, "data": "abc"}


def write_study(path: Path, results: list, *, end: bool = True) -> ExperimentDir:
    directory = ExperimentDir(path)
    directory.open(FINGERPRINT, resume=False, overwrite=False)
    trials = [r.trial for r in results]
    directory.write_study(
        {
            "name": "planted",
            "options": {"direction": "max"},
            "trials": [t.to_dict() for t in trials],
        }
    )
    journal = JournalWriter(directory, fingerprint=FINGERPRINT, options={}, previous={})
    journal.experiment_started("planted", trials, 0)
    for result in results:
        journal.trial_started(result.trial, "w0", 1)
        journal.trial_logs(result.trial, "w0", [f"training {result.trial.ablated}"])
        journal.trial_metrics(result.trial, "w0", list(result.history))
        journal.trial_finished(result)
    if end:
        journal.experiment_ended("finished")
    return directory


def test_replaying_the_journal_reproduces_the_results(tmp_path: Path) -> None:
    results = synthetic_results({"x1": -0.2, "x2": 0.0}, repeats=2, history=True)
    directory = write_study(tmp_path / "run", results)
    state = read_journal(directory.journal)
    assert state.runs == 1 and state.ended == "finished" and state.fingerprint == FINGERPRINT
    assert [state.results[r.trial.trial_id] for r in results] == results
    loaded = load(directory.path)
    assert loaded.to_pandas().equals(type(loaded)("planted", results).to_pandas())
    assert (directory.path / "results.csv").read_text().count("\n") == len(results) + 1
    log = directory.path / "trials" / results[1].trial.trial_id / "output.log"
    assert log.read_text() == "training x1\n"


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    results = synthetic_results({"x1": -0.2}, repeats=1)
    directory = write_study(tmp_path / "run", results, end=False)
    with directory.journal.open("a") as handle:
        handle.write('{"event": "finished", "result": {"tri')  # the driver died mid-write
    state = read_journal(directory.journal)
    assert len(state.results) == 2 and state.ended is None


def test_a_study_interrupted_before_some_trials_finished_loads_them_as_pending(
    tmp_path: Path,
) -> None:
    results = synthetic_results({"x1": -0.2, "x2": 0.0}, repeats=1)
    directory = write_study(tmp_path / "run", results[:2], end=False)
    document = json.loads((directory.path / "study.json").read_text())
    document["trials"] = [r.trial.to_dict() for r in results]
    (directory.path / "study.json").write_text(json.dumps(document))
    statuses = [t.status for t in load(directory.path).trials]
    assert statuses == [TrialStatus.OK, TrialStatus.OK, TrialStatus.PENDING]


def test_an_existing_experiment_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    write_study(tmp_path / "run", synthetic_results({"x": 0.0}, repeats=1))
    with pytest.raises(StudyError, match="already holds an experiment; pass resume=True"):
        ExperimentDir(tmp_path / "run").open(FINGERPRINT, resume=False, overwrite=False)
    state = ExperimentDir(tmp_path / "run").open(FINGERPRINT, resume=True, overwrite=False)
    assert len(state.results) == 2
    fresh = ExperimentDir(tmp_path / "run").open(FINGERPRINT, resume=False, overwrite=True)
    assert fresh.results == {} and not (tmp_path / "run" / "journal.jsonl").exists()


def test_advice_spells_options_the_way_lagom_takes_them(tmp_path: Path) -> None:
    from autoablation._driver.options import LAGOM

    write_study(tmp_path / "run", synthetic_results({"x": 0.0}, repeats=1))
    with pytest.raises(StudyError) as refused:
        ExperimentDir(tmp_path / "run").open(
            FINGERPRINT, resume=False, overwrite=False, caller=LAGOM
        )
    assert str(refused.value).endswith(
        "already holds an experiment; pass AblationConfig(..., resume=True) to continue it, "
        "AblationConfig(..., overwrite=True) to start over, or another name or experiment_dir"
    )
    with pytest.raises(StudyError, match=r"or AblationConfig\(\.\.\., overwrite=True\)$"):
        ExperimentDir(tmp_path / "run").open(
            {**FINGERPRINT, "seed": 1}, resume=True, overwrite=False, caller=LAGOM
        )


def test_a_file_where_the_experiment_dir_should_be_is_a_study_error(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(StudyError, match=r"experiment_dir '.*/runs' is a file, not a folder; pass"):
        ExperimentDir(tmp_path / "runs").open(FINGERPRINT, resume=False, overwrite=False)
    with pytest.raises(StudyError, match=r"cannot create experiment_dir '.*/runs/study': "):
        ExperimentDir(tmp_path / "runs" / "study").open(FINGERPRINT, resume=False, overwrite=False)


def test_a_different_study_cannot_resume_the_directory(tmp_path: Path) -> None:
    write_study(tmp_path / "run", synthetic_results({"x": 0.0}, repeats=1))
    other = {**FINGERPRINT, "seed": 1}
    with pytest.raises(StudyError, match=r"holds a different study.*seed: 0 then, 1 now"):
        ExperimentDir(tmp_path / "run").open(other, resume=True, overwrite=False)


def test_the_driver_log_has_a_line_per_event_and_the_librarys_warnings(tmp_path: Path) -> None:
    import logging

    (result,) = synthetic_results({}, repeats=1)
    log = DriverLog(tmp_path / "driver.log")
    log.experiment_started("planted", [result.trial], 0)
    log.trial_started(result.trial, "w0", 1)
    log.trial_logs(result.trial, "w0", ["epoch 1"])
    logging.getLogger("autoablation.spark").warning("the Spark job failed: boom")
    log.trial_finished(result)
    log.experiment_ended("finished")
    logging.getLogger("autoablation.spark").warning("after the end")
    lines = (tmp_path / "driver.log").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines[:3]] == [
        "experiment 'planted': 1 trials to run, 0 done before",
        "[base] started on w0",
        "[base] epoch 1",
    ]
    assert "WARNING autoablation.spark: the Spark job failed: boom" in lines[3]
    assert lines[-1].endswith("experiment finished") and "after the end" not in "".join(lines)


def test_overwrite_deletes_only_what_autoablation_wrote(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("my code")
    (tmp_path / "data.csv").write_text("my data")
    write_study(tmp_path, synthetic_results({"x": 0.0}, repeats=1))
    directory = ExperimentDir(tmp_path)
    directory.open(FINGERPRINT, resume=False, overwrite=True)
    directory.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".autoablation.lock",
        "data.csv",
        "train.py",
    ]


def test_two_launches_cannot_share_a_directory(tmp_path: Path) -> None:
    first = ExperimentDir(tmp_path)
    first.open(FINGERPRINT, resume=False, overwrite=False)
    with pytest.raises(
        StudyError, match=r"in use by another launch \(pid \d+ on \S+ since [\d: -]+\)"
    ):
        ExperimentDir(tmp_path).open(FINGERPRINT, resume=True, overwrite=False)
    first.close()
    ExperimentDir(tmp_path).open(FINGERPRINT, resume=True, overwrite=False)


def test_a_directory_whose_journal_has_no_event_yet_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").touch()  # a launch that failed before its first event
    state = ExperimentDir(tmp_path).open(FINGERPRINT, resume=False, overwrite=False)
    assert state.results == {}


@pytest.mark.parametrize(
    ("tail", "ended"),
    [
        ('{"event": "ended", "t": 1', None),  # half a line: cut off, every line parses
        ('{"event": "ended", "t": 1, "status": "finished"}', "finished"),  # whole: ended
    ],
)
def test_a_resume_repairs_the_last_line_a_killed_driver_left(
    tmp_path: Path, tail: str, ended: str | None
) -> None:
    results = synthetic_results({"x": 0.0}, repeats=1)
    directory = write_study(tmp_path, results, end=False)
    directory.close()
    with directory.journal.open("a") as handle:
        handle.write(tail)
    JournalWriter(directory, fingerprint=FINGERPRINT, options={}, previous={}).experiment_started(
        "again", [], 0
    )
    assert read_journal(directory.journal).runs == 2
    events = [json.loads(line) for line in directory.journal.read_text().splitlines()]
    assert [e.get("status") for e in events if e["event"] == "ended"] == ([ended] if ended else [])


def test_results_json_is_strict_json_without_histories(tmp_path: Path) -> None:
    import math

    results = synthetic_results({"x": -0.1}, repeats=1, history=True)
    results[0] = type(results[0])(
        results[0].trial, results[0].status, metric=0.8, history=((0, math.nan), (1, 0.5))
    )
    directory = write_study(tmp_path, results)
    rows = json.loads((directory.path / "results.json").read_text(), parse_constant=_refuse)
    assert all(row["history"] is None for row in rows)
    state = read_journal(directory.journal)  # the journal keeps the history, NaN as null
    assert math.isnan(state.results[results[0].trial.trial_id].history[0][1])


def _refuse(token: str) -> None:
    raise ValueError(f"not strict JSON: {token}")


def test_the_fingerprint_allows_new_custom_models_but_not_changed_ones() -> None:
    from autoablation._results.store import fingerprint_difference

    before = {"seed": 0, "custom_models": {"small": "aaa"}}
    assert (
        fingerprint_difference(before, {"seed": 0, "custom_models": {"small": "aaa", "big": "b"}})
        == []
    )
    assert fingerprint_difference(before, {"seed": 0, "custom_models": {"small": "zzz"}}) == [
        "custom_models"
    ]


def test_the_fingerprint_compares_projections_and_reads_legacy_shape_strategies() -> None:
    from autoablation._results.store import fingerprint_difference

    legacy_error = {"seed": 0, "shape_strategy": "error"}  # written before projections
    now = {"seed": 0, "projections": {"layer:a": [], "layer:b": ["b_projection"]}}
    assert fingerprint_difference(legacy_error, now) == []  # "error" never projected
    assert fingerprint_difference({"seed": 0, "shape_strategy": "project"}, now) == [
        "shape_strategy"  # projected wherever a shape changed: not these models
    ]
    earlier = {"seed": 0, "projections": {"layer:a": []}}
    assert fingerprint_difference(earlier, now) == []  # a new component extends the study
    assert fingerprint_difference(
        {"seed": 0, "projections": {"layer:a": ["a_projection"]}}, now
    ) == ["projections"]


def test_a_journal_before_vary_split_resumes_but_a_changed_regime_is_refused(
    tmp_path: Path,
) -> None:
    # written before vary_split existed: it ran one fixed split
    write_study(tmp_path / "run", synthetic_results({"x1": -0.2}, repeats=1))
    legacy_dir = ExperimentDir(tmp_path / "run")
    state = legacy_dir.open({**FINGERPRINT, "vary_split": True}, resume=True, overwrite=False)
    assert state.fingerprint == FINGERPRINT  # resumed: the launcher keeps its fixed split
    legacy_dir.close()
    directory = ExperimentDir(tmp_path / "new")
    directory.open({**FINGERPRINT, "vary_split": False}, resume=False, overwrite=False)
    JournalWriter(
        directory, fingerprint={**FINGERPRINT, "vary_split": False}, options={}, previous={}
    ).experiment_started("x", [], 0)
    directory.close()
    with pytest.raises(StudyError, match="vary_split: False then, True now"):
        ExperimentDir(tmp_path / "new").open(
            {**FINGERPRINT, "vary_split": True}, resume=True, overwrite=False
        )


def test_the_journal_keeps_what_recomputing_the_statistics_needs(tmp_path: Path) -> None:
    from autoablation._results.sequential import SequentialDesign
    from autoablation._results.stats import METHOD

    directory = ExperimentDir(tmp_path / "seq")
    directory.open(FINGERPRINT, resume=False, overwrite=False)
    journal = JournalWriter(
        directory,
        fingerprint=FINGERPRINT,
        options={"min_effect": 0.01, "vary_split": True},
        previous={},
        statistics=METHOD,
    )
    design = SequentialDesign(2, min_effect=0.01)
    journal.experiment_started("seq", [], 0)
    journal.design(design.to_dict())
    look = {"kind": "feature", "ablated": "a", "repeats": 6, "decision": "undecided"}
    journal.look(look)
    journal.experiment_ended("finished")
    state = read_journal(directory.journal)
    assert state.statistics == METHOD and state.options["min_effect"] == 0.01
    assert SequentialDesign.from_dict(state.design or {}) == design
    assert state.looks == [look]
    assert read_journal(Path(__file__).parents[1] / "data" / "legacy-experiment" / "journal.jsonl")


class FlakyDisk(LineAppender):
    """A journal file whose next writes fail as a full or read-only disk's do.

    ``faults`` holds one entry per coming ``write`` call: ``"short"`` writes a part and
    returns its size, ``"full"`` raises ENOSPC, ``"read-only"`` raises EROFS, None writes.
    """

    def __init__(self, path: Path, faults: list[str | None], truncate: bool = True) -> None:
        super().__init__(path)
        self.faults = faults
        self.truncate = truncate

    def _write(self, data: memoryview) -> int:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "short":
            return super()._write(data[: len(data) // 2])
        if fault == "full":
            raise OSError(errno.ENOSPC, "No space left on device")
        if fault == "read-only":
            raise OSError(errno.EROFS, "Read-only file system")
        return super()._write(data)

    def _truncate(self, size: int) -> None:
        if not self.truncate:
            raise OSError(errno.EROFS, "Read-only file system")
        super()._truncate(size)


@pytest.mark.parametrize(
    ("faults", "truncate"),
    [
        (["short", "full"], True),  # a full disk: part of the write, then ENOSPC
        (["read-only", "read-only"], True),  # remounted read-only for a moment
        (["short", "full", "short", "read-only"], False),  # ...where even the undo fails
    ],
)
def test_events_the_disk_refuses_wait_and_are_written_once_in_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    faults: list[str | None],
    truncate: bool,
) -> None:
    disks: list[FlakyDisk] = []

    def flaky(path: Path) -> FlakyDisk:
        disks.append(FlakyDisk(path, [], truncate))
        return disks[-1]

    monkeypatch.setattr(seams, "journal_appender", flaky)
    results = synthetic_results({"x": 0.0, "y": -0.1}, repeats=2)
    directory = ExperimentDir(tmp_path)
    directory.open(FINGERPRINT, resume=False, overwrite=False)
    journal = JournalWriter(directory, fingerprint=FINGERPRINT, options={}, previous={})
    journal.experiment_started("storm", [r.trial for r in results], 0)
    for number, result in enumerate(results):
        if number == 1:
            disks[0].faults.extend(faults)  # the disk fails while trial 1's result is written
        journal.trial_started(result.trial, "w0", 1)
        journal.trial_finished(result)
    journal.experiment_ended("finished")
    events = []
    for line in directory.journal.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a torn fragment, if any, is skipped
            events.append(json.loads(line))
    finished = [e["result"]["trial"]["trial_id"] for e in events if e["event"] == "finished"]
    assert finished == [r.trial.trial_id for r in results]  # each once, in order
    assert [e["event"] for e in events].count("experiment") == 1
    assert len(read_journal(directory.journal).results) == len(results)
    refusals = [r for r in caplog.records if "could not write the journal" in r.message]
    assert len(refusals) == 1 and "written again" in caplog.text


def test_events_the_disk_still_refuses_at_the_end_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(seams, "journal_appender", lambda p: FlakyDisk(p, ["full"] * 100))
    monkeypatch.setattr(journal_module, "_LAST_WRITE_RETRIES_S", (0.0,))
    (result,) = synthetic_results({}, repeats=1)
    directory = ExperimentDir(tmp_path)
    directory.open(FINGERPRINT, resume=False, overwrite=False)
    journal = JournalWriter(directory, fingerprint=FINGERPRINT, options={}, previous={})
    journal.experiment_started("full", [result.trial], 0)
    journal.trial_finished(result)
    journal.experiment_ended("finished")
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "misses its last events: the disk refused them ([Errno 28]" in error.message
    assert "resume=True would run their trials again" in error.message


def test_the_driver_log_writes_each_loss_and_failure_once(tmp_path: Path) -> None:
    (result,) = synthetic_results({}, repeats=1)
    failed = dataclasses.replace(result, status=TrialStatus.LOST, error="worker w0 was lost")
    fan_out = Listeners([DriverLog(tmp_path / "driver.log"), LoggingListener()])
    fan_out.trial_requeued(result.trial, "w0", "its connection closed")
    fan_out.trial_finished(failed)
    fan_out.experiment_ended("finished")
    text = (tmp_path / "driver.log").read_text()
    assert text.count("lost w0 (its connection closed)") == 1
    assert text.count("worker w0 was lost") == 1


def test_a_lock_a_killed_driver_left_is_named_when_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("pid 4242 on node-7 since 2026-01-01 10:00:00")  # not held
    directory = ExperimentDir(tmp_path)
    directory.open(FINGERPRINT, resume=True, overwrite=False)
    assert directory.stale_lock == "pid 4242 on node-7 since 2026-01-01 10:00:00"
    directory.close()
    assert (tmp_path / LOCK).read_text() == ""  # released cleanly: nobody holds it
    again = ExperimentDir(tmp_path)
    again.open(FINGERPRINT, resume=True, overwrite=False)
    assert again.stale_lock is None
    again.close()


def test_the_journal_counts_the_hand_outs_and_losses_a_resume_carries_on(tmp_path: Path) -> None:
    results = synthetic_results({"x1": -0.2}, repeats=1)
    directory = ExperimentDir(tmp_path / "storm")
    directory.open(FINGERPRINT, resume=False, overwrite=False)
    journal = JournalWriter(directory, fingerprint=FINGERPRINT, options={}, previous={})
    trials = [r.trial for r in results]
    journal.experiment_started("storm", trials, 0)
    for trial in trials:
        journal.trial_started(trial, "w0", 1)
        journal.trial_requeued(trial, "w0", "its connection closed")
        journal.trial_started(trial, "w1", 2)
    journal.experiment_ended("interrupted")
    directory.close()
    state = read_journal(directory.journal)
    assert sum(state.started.values()) == 2 * len(trials) and state.requeued == len(trials)
