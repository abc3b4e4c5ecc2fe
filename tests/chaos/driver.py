"""The chaos study's driver: one ``launch``, with the faults a segment of the storm asks for.

Run as ``python -m tests.chaos.driver '<segment as JSON>'`` (the harness starts it, and kills it
when the storm says so); `run_study` runs the same study in the caller's process, on a Spark
session it already has (a calm run). Every launch resumes the experiment directory, so a
segment started after a killed one finishes the study.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.disk import DiskPlan, FlakyJournal
from tests.chaos.faults import FaultLog
from tests.chaos.proxy import FaultyProxy, ProxyPlan
from tests.chaos.training import make_train, study


@dataclass(frozen=True)
class Segment:
    """One launch of the chaos study (one driver process, up to its end or its death)."""

    name: str
    experiment_dir: str
    runs_log: str
    faults_log: str
    segment: str
    features: int
    repeats: int
    low: float
    high: float
    options: dict[str, Any] = field(default_factory=dict)
    proxy: dict[str, Any] | None = None
    disk: dict[str, Any] | None = None
    master: str = "local[2]"
    conf: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


def install_faults(segment: Segment) -> None:
    """Put the segment's proxy and flaky disk into the driver's private seams."""
    from autoablation._driver import seams

    log = FaultLog(segment.faults_log)
    if segment.proxy is not None:
        plan = ProxyPlan(**segment.proxy)
        proxies: list[FaultyProxy] = []

        def route(address: tuple[str, int]) -> tuple[str, int]:
            proxies.append(FaultyProxy(address, plan, log))
            return proxies[-1].address

        seams.task_route = route
    if segment.disk is not None:
        disk = DiskPlan(**segment.disk)
        seams.journal_appender = lambda path: FlakyJournal(Path(path), disk, log)


def run_study(spark: Any, segment: Segment) -> Any:
    """Launch the chaos study as ``segment`` says; its `ExperimentResult`."""
    from autoablation import experiment

    train = make_train(segment.runs_log, segment.segment, segment.low, segment.high)
    return experiment.launch(
        train,
        study(segment.features),
        name=segment.name,
        spark=spark,
        experiment_dir=segment.experiment_dir,
        resume=True,
        repeats=segment.repeats,
        verbose=0,
        **segment.options,
    )


def session(master: str, conf: dict[str, str]) -> Any:
    """A Spark session on loopback only."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("autoablation-chaos")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> None:
    segment = Segment(**json.loads(sys.argv[1]))
    install_faults(segment)
    result = run_study(session(segment.master, segment.conf), segment)
    statuses = [t.status.value for t in result.trials]
    print(json.dumps({"trials": len(statuses), "ok": statuses.count("ok")}), flush=True)


if __name__ == "__main__":
    main()
