"""Benchmarks 4 to 6: the driver's CPU during a study, 10,000 trials, and start-up time.

    python bench/overhead.py --workers 4 --runs 3

4. Driver CPU: CPU seconds the driver's Python process (where the controller, RPC server and
   journal run) and its JVM use per second of a study of sleeping trials; beside it, the
   JVM's CPU while a plain Spark job of as many sleeping tasks runs as long (Spark's own).
5. Scale: per-trial dispatch cost of 10,000 zero-work trials against 500 in the same run, and
   the driver's peak resident memory.
6. Start-up: seconds from calling `launch` to the first trial running, on a session that is
   already up: cold (the first study in a fresh session, so in a fresh process each run) and
   warm (the next one). Beside it, the same for a plain Spark job of no-op tasks, from its
   submission to its first task running, in a fresh session of its own: what Spark itself
   costs before any Python code of the job runs.
The tables show the medians of the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from _common import (
    add_runs,
    feature_study,
    median,
    report,
    run,
    session,
    span_per_trial_per_slot,
    spread,
)

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


def first_task_after_submit(spark: Any, workers: int) -> float:
    """Seconds from submitting a plain Spark job of no-op tasks to its first task running."""
    sc = spark.sparkContext
    submitted = time.time()
    starts = sc.parallelize(range(workers), workers).mapPartitions(lambda _: [time.time()])
    return float(min(starts.collect())) - submitted


def startup_child(kind: str, workers: int) -> None:
    """One fresh session: print its start-up figures as JSON (run in a process of its own)."""
    began = time.time()
    spark = session(workers, f"bench-start-{kind}")
    figures = {"session": time.time() - began}
    if kind == "plain":
        figures["cold"] = first_task_after_submit(spark, workers)
        figures["warm"] = first_task_after_submit(spark, workers)
    else:
        from autoablation import experiment  # noqa: F401 - imported before, as a script does

        study = feature_study(3)
        for label in ("cold", "warm"):
            began = time.time()
            frame = run(spark, zero_work, study, f"bench-start-{label}", workers)
            figures[label] = float(frame["started_at"].min()) - began
    print(json.dumps(figures))


def startup(workers: int, runs: int) -> list[dict[str, Any]]:
    figures: dict[str, list[dict[str, float]]] = {"launch": [], "plain": []}
    for _ in range(runs):
        for kind in figures:
            command = [sys.executable, __file__, "--startup-child", kind, f"--workers={workers}"]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            figures[kind].append(json.loads(out.splitlines()[-1]))
    rows = [
        {
            "measure": "Spark session start (for scale)",
            "value": median([f["session"] for f in figures["launch"]]),
            "unit": "s",
        }
    ]
    for label in ("cold", "warm"):
        ours = [f[label] for f in figures["launch"]]
        plain = [f[label] for f in figures["plain"]]
        rows.append({"measure": f"start-up ({label})", "value": median(ours), "unit": "s"})
        rows[-1]["runs"] = spread(ours)
        rows.append(
            {
                "measure": f"plain Spark job, submit to first task ({label})",
                "value": median(plain),
                "unit": "s",
                "runs": spread(plain),
            }
        )
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


def driver_cpu(spark: Any, workers: int, seconds: float, runs: int) -> list[dict[str, Any]]:
    trials = int(workers * seconds / 0.25) // 20 * 20

    def train() -> float:
        time.sleep(0.25)
        return 0.0

    python, jvm, rate, plain_jvm = [], [], [], []
    for _ in range(runs):
        window = CpuWindow(spark)
        study = feature_study(19)
        run(spark, train, study, "bench-driver-cpu", workers, repeats=trials // 20, listener=window)
        assert window.first is not None and window.last is not None
        wall = window.last[0] - window.first[0]
        python.append(100 * (window.last[1] - window.first[1]) / wall)
        jvm.append(100 * (window.last[2] - window.first[2]) / wall)
        rate.append(trials / wall)
        plain_jvm.append(plain_job_jvm_cpu(spark, workers, wall))
    return [
        {"measure": "driver Python CPU", "value": median(python), "unit": "% of wall"},
        {"measure": "driver JVM CPU", "value": median(jvm), "unit": "% of wall"},
        {"measure": "trials per second", "value": median(rate), "unit": "1/s"},
        {
            "measure": "driver JVM CPU, plain job of sleeping tasks",
            "value": median(plain_jvm),
            "unit": "% of wall",
        },
    ]


def plain_job_jvm_cpu(spark: Any, workers: int, seconds: float) -> float:
    """JVM CPU (% of wall) while a plain job of ``workers`` tasks sleeps: Spark's own share."""
    began, cpu = time.time(), jvm_cpu(spark)
    rdd = spark.sparkContext.parallelize(range(workers), workers)
    rdd.foreach(lambda _: time.sleep(seconds))
    return 100 * (jvm_cpu(spark) - cpu) / (time.time() - began)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(spark: Any, workers: int, small: int, large: int, runs: int) -> list[dict[str, Any]]:
    costs: dict[int, list[float]] = {small: [], large: []}
    peaks: dict[int, float] = {}
    for _ in range(runs):
        for trials in (small, large):
            repeats = trials // 100
            name = f"bench-scale-{trials}"
            frame = run(spark, zero_work, feature_study(99), name, workers, repeats=repeats)
            assert len(frame) == 100 * repeats
            costs[trials].append(span_per_trial_per_slot(frame, workers) * 1000)
            peaks.setdefault(trials, peak_rss_mb())  # the first run's: the peak only grows
    ratios = [big / few for big, few in zip(costs[large], costs[small], strict=True)]
    rows: list[dict[str, Any]] = []
    for trials in (small, large):
        rows.append(
            {
                "measure": f"{trials} trials",
                "value": median(costs[trials]),
                "unit": "ms per trial per slot",
                "runs": spread(costs[trials]),
            }
        )
        rows.append({"measure": f"driver Python peak RSS after {trials}", "value": peaks[trials]})
        rows[-1]["unit"] = "MiB"
    rows.append({"measure": f"{large} vs {small} cost", "value": median(ratios), "unit": "ratio"})
    rows[-1]["runs"] = spread(ratios)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cpu-seconds", type=float, default=20.0, help="length of the CPU study")
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--startup-child", choices=("launch", "plain"), help=argparse.SUPPRESS)
    add_runs(parser, 3)
    args = parser.parse_args()
    if args.startup_child:
        startup_child(args.startup_child, args.workers)
        return
    rows = startup(args.workers, args.runs)
    spark = session(args.workers, "bench-overhead")
    run(spark, zero_work, feature_study(39), "bench-warm-up", args.workers)  # JVM and workers
    rows += driver_cpu(spark, args.workers, args.cpu_seconds, args.runs)
    rows += scale(spark, args.workers, 500, args.large, args.runs)
    for row in rows:
        row.setdefault("runs", "")
    report("overhead", rows, workers=args.workers, runs=args.runs)


if __name__ == "__main__":
    main()
