"""A study run under a storm of real faults gives the same answer as a calm run (issue 15).

The quick schedule of the chaos harness (`tests.chaos`): more than 100 faults on local Spark,
of every kind the harness has there: Python workers killed mid-trial, the driver killed
(at random and in the middle of a journal write) and resumed, connections dropped, frames cut
short and delayed, heartbeats held past the timeout, the journal's disk full or read-only for
a moment. ``make chaos`` runs the full harness (local mode and a standalone cluster, more than
1,000 faults); ``docs/reliability.md`` shows its figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import Schedule, Storm

pytestmark = [pytest.mark.spark, pytest.mark.slow]

QUICK = Schedule(
    seed=15,
    features=6,
    repeats=3,  # 21 trials
    low=0.1,
    high=1.0,
    driver_kills=1,
    driver_kills_mid_write=1,
    worker_kills=8,
    proxy_cuts=36,
    proxy_truncations=20,
    proxy_delays=36,
    stalled_beats=10,
    proxy_rate=0.3,
    disk_episodes=24,
    disk_rate=0.6,
)
SEVERAL = (
    "python-worker-killed",
    "proxy-cut",
    "proxy-truncated",
    "proxy-delayed",
    "heartbeat-stalled",
    "disk-full",
    "disk-read-only",
)


@pytest.mark.timeout(1200)
def test_a_storm_of_faults_leaves_the_answer_of_a_calm_run(spark: Any, tmp_path: Path) -> None:
    storm = Storm(tmp_path, QUICK)
    calm = storm.calm(tmp_path / "calm", spark=spark)
    report = storm.run(calm)
    assert report.landed >= 100, report.summary()
    assert all(report.faults[kind] >= 2 for kind in SEVERAL), report.summary()
    assert report.faults["driver-killed"] + report.faults["driver-killed-mid-write"] >= 2
    assert report.segments >= 3  # the study was resumed after each driver kill
    assert report.lost == [] and report.lost_verdicts == [], report.lost_verdicts
    assert report.duplicated == 0 and report.rerun_after_resume == 0
    assert report.identical, report.differences
    assert report.logged_twice == 0  # driver.log writes each loss once

    # Extend without rerunning: two more components and one more repeat run only the new
    # trials, and the ranking is that of a calm run of the extended study.
    calm_extended = storm.calm(tmp_path / "calm-extended", extended=True, spark=spark)
    extension = storm.extend(calm_extended, spark=spark)
    assert extension.new_trials == (6 + 2 + 1) * 1 + 2 * 3
    assert extension.exact, extension.ran
    assert extension.same_ranking
