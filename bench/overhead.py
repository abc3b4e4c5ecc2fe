"""Benchmarks 4 to 6: the driver's CPU during a study, 10,000 trials, and start-up time.

    python bench/overhead.py --workers 4

4. Driver CPU: CPU seconds the driver's Python process (where the controller, RPC server and
   journal run) and its JVM use per minute of a study of sleeping trials.
5. Scale: per-trial dispatch cost of 10,000 zero-work trials against 500, and the driver's
   peak resident memory.
6. Start-up: seconds from calling `launch` to the first trial running, on a session that is
   already up (cold: the first study in it; warm: the next one).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from typing import Any

from _common import feature_study, report, run, session, span_per_trial_per_slot

from autoablation import Listener

_TICK = os.sysconf("SC_CLK_TCK")


def jvm_cpu(spark: Any) -> float:
    """CPU seconds the driver's JVM used so far (user + system)."""
    pid = spark.sparkContext._gateway.proc.pid
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def python_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def zero_work() -> float:
    return 0.0


def startup(spark: Any, workers: int) -> list[dict[str, Any]]:
    rows = []
    for label in ("cold", "warm"):
        began = time.time()
        frame = run(spark, zero_work, feature_study(3), f"bench-start-{label}", workers)
        first = float(frame["started_at"].min())
        rows.append({"measure": f"start-up ({label})", "value": first - began, "unit": "s"})
    return rows


class CpuWindow(Listener):
    """CPU and wall clock at the first trial start and at each trial end (the study proper)."""

    def __init__(self, spark: Any) -> None:
        self._spark = spark
        self.first: tuple[float, float, float] | None = None
        self.last: tuple[float, float, float] | None = None

    def _now(self) -> tuple[float, float, float]:
        return time.time(), python_cpu(), jvm_cpu(self._spark)

    def trial_started(self, trial: Any, worker: str, attempt: int) -> None:
        if self.first is None:
            self.first = self._now()

    def trial_finished(self, result: Any) -> None:
        self.last = self._now()


def driver_cpu(spark: Any, workers: int, seconds: float) -> list[dict[str, Any]]:
    trials = int(workers * seconds / 0.25) // 20 * 20

    def train() -> float:
        time.sleep(0.25)
        return 0.0

    window = CpuWindow(spark)
    study = feature_study(19)
    run(spark, train, study, "bench-driver-cpu", workers, repeats=trials // 20, listener=window)
    assert window.first is not None and window.last is not None
    wall = window.last[0] - window.first[0]
    python = window.last[1] - window.first[1]
    jvm = window.last[2] - window.first[2]
    return [
        {"measure": "driver Python CPU", "value": 100 * python / wall, "unit": "% of wall"},
        {"measure": "driver JVM CPU", "value": 100 * jvm / wall, "unit": "% of wall"},
        {"measure": "trials per second", "value": trials / wall, "unit": "1/s"},
    ]


def scale(spark: Any, workers: int, small: int, large: int) -> list[dict[str, Any]]:
    rows = []
    costs = {}
    for trials in (small, large):
        repeats = trials // 100
        frame = run(
            spark, zero_work, feature_study(99), f"bench-scale-{trials}", workers, repeats=repeats
        )
        assert len(frame) == 100 * repeats
        costs[trials] = span_per_trial_per_slot(frame, workers) * 1000
        rows.append(
            {
                "measure": f"{len(frame)} trials",
                "value": costs[trials],
                "unit": "ms per trial per slot",
            }
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(
            {
                "measure": f"driver Python peak RSS after {len(frame)}",
                "value": peak_mb,
                "unit": "MiB",
            }
        )
    rows.append(
        {
            "measure": f"{large} vs {small} cost",
            "value": costs[large] / costs[small],
            "unit": "ratio",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cpu-seconds", type=float, default=30.0, help="length of the CPU study")
    parser.add_argument("--large", type=int, default=10_000)
    args = parser.parse_args()
    began = time.time()
    spark = session(args.workers, "bench-overhead")
    session_s = time.time() - began
    rows = [{"measure": "Spark session start (for scale)", "value": session_s, "unit": "s"}]
    rows += startup(spark, args.workers)
    rows += driver_cpu(spark, args.workers, args.cpu_seconds)
    rows += scale(spark, args.workers, 500, args.large)
    report("overhead", rows, workers=args.workers)


if __name__ == "__main__":
    main()
