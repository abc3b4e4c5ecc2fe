"""Faults injected into studies on the real local Spark session: hung and stubborn training
functions, a fatal error, and two studies launched at once from one driver.

The killed driver is in e2e/test_resume.py; killed executors and Python workers on a standalone
cluster are in e2e/test_cluster.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autoablation import (
    AblationStudy,
    ExperimentError,
    ExperimentResult,
    FatalTrialError,
    TrialStatus,
    experiment,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def study(titanic: pd.DataFrame) -> AblationStudy:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("pclass", "sex", "age")
    return study


def finals(directory: Path) -> Counter[str]:
    """How many final results the journal holds for each trial."""
    events = [json.loads(line) for line in (directory / "journal.jsonl").open()]
    return Counter(e["result"]["trial"]["ablated"] for e in events if "result" in e)


def stubborn_train(reporter: Any) -> float:
    if reporter.ablated == "sex":
        threading.Event().wait(3600)  # a hung call: trial_timeout interrupts it
    while reporter.ablated == "pclass":
        with contextlib.suppress(BaseException):  # swallows even TrialTimeout: only an exit helps
            threading.Event().wait(0.05)
    return 1.0


def test_hung_and_stubborn_trials_time_out_and_their_slots_go_on(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    result = experiment.launch(
        stubborn_train,
        study,
        name="timeouts",
        spark=spark,
        num_workers=2,
        trial_timeout=2.0,
        experiment_dir=tmp_path,
        verbose=0,
    )
    by_name = {t.trial.ablated: t for t in result.trials}
    assert {n: t.status.value for n, t in by_name.items()} == {
        "base": "ok",
        "pclass": "timed_out",
        "sex": "timed_out",
        "age": "ok",
    }
    assert by_name["sex"].error == "TrialTimeout: it ran past trial_timeout=2s"
    assert by_name["pclass"].error == (
        "TrialTimeout: it ran past trial_timeout=2s and did not stop within 2s more; "
        "its Python worker process was ended to free the slot"
    )
    assert by_name["sex"].attempts == by_name["pclass"].attempts == 1  # not retried by default
    assert set(finals(tmp_path).values()) == {1}
    log = (tmp_path / "driver.log").read_text()
    assert "[feature:sex] timed_out" in log.split("[feature:age] started on")[0]  # slot went on


def fatal_train(reporter: Any) -> float:
    if reporter.ablated == "sex":
        raise FatalTrialError("the data store is read-only; every trial would fail")
    return 1.0


def test_a_fatal_error_stops_the_study_and_keeps_what_finished(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    with pytest.raises(ExperimentError, match="raised an error marked fatal") as caught:
        experiment.launch(
            fatal_train,
            study,
            name="fatal",
            spark=spark,
            num_workers=1,
            max_trial_retries=2,
            experiment_dir=tmp_path,
            verbose=0,
        )
    assert "FatalTrialError: the data store is read-only" in str(caught.value)
    result = caught.value.result
    assert result is not None
    statuses = {t.trial.ablated: t.status for t in result.trials}
    assert statuses == {
        "base": TrialStatus.OK,
        "pclass": TrialStatus.OK,
        "sex": TrialStatus.FAILED,
        "age": TrialStatus.CANCELLED,
    }
    assert set(finals(tmp_path).values()) == {1}


def exiting_train(reporter: Any) -> float:
    if reporter.ablated == "sex":
        sys.exit(3)  # the user's script ends itself: the trial failed, the worker lives on
    return 1.0


def test_sys_exit_in_a_trial_fails_that_trial_once_and_the_study_goes_on(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    result = experiment.launch(
        exiting_train,
        study,
        name="exiting",
        spark=spark,
        num_workers=1,
        experiment_dir=tmp_path,
        verbose=0,
    )
    by_name = {t.trial.ablated: t for t in result.trials}
    assert {n: t.status.value for n, t in by_name.items()} == {
        "base": "ok",
        "pclass": "ok",
        "sex": "failed",
        "age": "ok",
    }
    assert by_name["sex"].reason.startswith("SystemExit(3): the training function called")
    assert by_name["sex"].attempts == 1
    events = [json.loads(line)["event"] for line in (tmp_path / "journal.jsonl").open()]
    assert "requeued" not in events and events.count("started") == 4  # no retry, no lost worker
    assert len({t.worker for t in result.trials}) == 1  # one Spark job, one task, throughout


def rendezvous_train(fifo: Path, side: str, value: float) -> Any:
    """The base trials of two studies meet on a named pipe: only concurrent ones can."""

    def train(reporter: Any) -> dict[str, Any]:
        if reporter.ablated == "base":
            if side == "a":
                with open(fifo, "w") as pipe:  # blocks until the other side opens it
                    pipe.write("here")
            else:
                with open(fifo) as pipe:
                    pipe.read()
        return {"metric": value, "side": side, "pid": os.getpid()}

    return train


def test_two_studies_launched_at_once_in_one_driver_do_not_interfere(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    fifo = tmp_path / "rendezvous"
    os.mkfifo(fifo)
    results: dict[str, ExperimentResult] = {}
    errors: list[BaseException] = []

    def launch(side: str, value: float) -> None:
        try:
            results[side] = experiment.launch(
                rendezvous_train(fifo, side, value),
                study,
                name=f"concurrent-{side}",
                spark=spark,
                num_workers=1,
                trial_timeout=120,  # a missed rendezvous fails the trial instead of hanging
                experiment_dir=tmp_path / side,
                verbose=0,
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=launch, args=args) for args in (("a", 1.0), ("b", 2.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=280)
    assert errors == [] and set(results) == {"a", "b"}
    for side, value in (("a", 1.0), ("b", 2.0)):
        frame = results[side].to_pandas()
        assert (frame["status"] == "ok").all(), frame["error"].tolist()
        assert (frame["metric"] == value).all() and (frame["side"] == side).all()
        assert set(finals(tmp_path / side).values()) == {1} and len(finals(tmp_path / side)) == 4
    assert results["a"].job_group != results["b"].job_group


def crashing_train(reporter: Any) -> float:
    if reporter.ablated == "sex":
        os._exit(3)  # its Python worker dies every time: in local mode the job fails each time
    return 1.0


def test_a_job_that_keeps_failing_stops_the_study_with_what_finished(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    stopped = r"the Spark job failed: .*\(after 1 restarts in a row with no trial finished\)"
    with pytest.raises(ExperimentError, match=stopped) as e:
        experiment.launch(
            crashing_train,
            study,
            name="crashing",
            spark=spark,
            num_workers=1,
            max_job_restarts=1,
            max_attempts=5,
            experiment_dir=tmp_path,
            verbose=0,
        )
    result = e.value.result
    assert result is not None
    statuses = {t.trial.ablated: t.status.value for t in result.trials}
    assert statuses == {"base": "ok", "pclass": "ok", "sex": "cancelled", "age": "cancelled"}
    assert set(finals(tmp_path).values()) == {1}


def crash_the_first_time(markers: str, reporter: Any) -> float:
    """Every feature trial kills its Python worker on its first run (its job fails each time)."""
    marker = Path(markers) / reporter.trial_id
    if reporter.ablated != "base" and not marker.exists():
        marker.touch()
        os._exit(3)
    return 1.0


def test_job_failures_between_which_trials_finish_do_not_use_up_the_restarts(
    spark: Any, study: AblationStudy, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    result = experiment.launch(
        functools.partial(crash_the_first_time, str(markers)),
        study,
        name="flaky",
        spark=spark,
        num_workers=1,  # local mode: each crash fails the job, three times in all
        max_job_restarts=1,
        experiment_dir=tmp_path / "runs",
        verbose=0,
    )
    assert len(list(markers.iterdir())) == 3  # the three crashes happened
    assert {t.trial.ablated: (t.status.value, t.attempts) for t in result.trials} == {
        "base": ("ok", 1),
        "pclass": ("ok", 2),
        "sex": ("ok", 2),
        "age": ("ok", 2),
    }
