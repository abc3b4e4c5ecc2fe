"""Chaos: one study under storms of real faults gives the answer of a calm run (issue 15).

``make chaos`` runs it (after the README's set-up; about an hour on a 2-core machine). The
study (a deterministic training function, `tests/chaos/training.py`) runs calm, then under
seeded storms (`tests/chaos/harness.py`): on local Spark, and on a real standalone cluster
started on 127.0.0.1 as the cluster tests start it (a master and two one-core workers). Each
storm kills Python workers mid-trial (and, on the cluster, executor JVMs), kills the driver
with SIGKILL at random moments and in the middle of a journal write and resumes the study, puts
a TCP proxy between the tasks and the driver that drops, cuts short and delays frames and holds
heartbeats past the timeout, and makes the journal's disk full or read-only for a moment. After
the last storm of each kind the experiment is extended (two more components, one more repeat).

It prints one line per storm, then ``chaos: faults=N lost=L duplicated=D identical=yes|no``
(N faults that landed, L trials without a result and D duplicated results over every storm);
it exits with status 1 when the invariant fails anywhere. The figures are in
``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
)  # the cluster's Python workers import tests.chaos, as the drivers do
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.chaos.harness import Schedule, Storm, StormReport, replace  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

LOCAL = Schedule(
    seed=0,
    features=12,
    repeats=4,  # 52 trials; extended to 14 components and 5 repeats (75 trials)
    driver_kills=2,
    driver_kills_mid_write=1,
    worker_kills=26,
    proxy_cuts=50,
    proxy_truncations=30,
    proxy_delays=36,
    stalled_beats=16,
    proxy_rate=0.2,
    disk_episodes=40,
    disk_rate=0.4,
)
CLUSTER = replace(LOCAL, worker_kills=16, executor_kills=8, executor_kill_every=5)
CLUSTER_CONF = {
    "spark.executor.cores": "1",
    "spark.cores.max": "2",
    "spark.executor.memory": "1g",
}


def storms(root: Path, base: Schedule, rounds: int, seed: int, **storm: Any) -> list[StormReport]:
    """``rounds`` storms of one kind against one calm run; the last one then extended."""
    reports: list[StormReport] = []
    calm = calm_extended = None
    for number in range(rounds):
        chaos = Storm(root / f"storm-{number}", replace(base, seed=seed + number), **storm)
        if calm is None:
            calm = chaos.calm(root / "calm")
        began = time.monotonic()
        report = chaos.run(calm)
        reports.append(report)
        print(f"  {report.summary()} in {time.monotonic() - began:.0f}s", flush=True)
        for verdict in report.lost_verdicts:
            print(f"    lost verdict: {verdict}", flush=True)
        if number == rounds - 1:
            calm_extended = chaos.calm(root / "calm-extended", extended=True)
            extension = chaos.extend(calm_extended)
            print(
                f"  extended: {extension.new_trials} new trials, ran "
                f"{sum(extension.ran.values())} runs of {len(extension.ran)} trials; "
                f"exactly the new ones: {'yes' if extension.exact else 'no'}; same ranking as "
                f"a calm run: {'yes' if extension.same_ranking else 'no'}",
                flush=True,
            )
            if not (extension.exact and extension.same_ranking):
                report.differences.append("the extension ran other trials or ranked otherwise")
                report.identical = False
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", type=int, default=4, help="storms on local Spark")
    parser.add_argument("--cluster", type=int, default=2, help="storms on a standalone cluster")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="autoablation-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"chaos harness in {root}", flush=True)
    reports: list[StormReport] = []
    if args.local:
        print("local[2]:", flush=True)
        reports += storms(root / "local", LOCAL, args.local, args.seed)
    if args.cluster:
        print("standalone cluster (a master, two one-core workers, on 127.0.0.1):", flush=True)
        (root / "cluster").mkdir(exist_ok=True)
        cluster = Cluster(root / "cluster")
        try:
            workers = [cluster.add_worker(1), cluster.add_worker(2)]
            reports += storms(
                root / "cluster",
                CLUSTER,
                args.cluster,
                args.seed + 1000,
                mode="cluster",
                master=cluster.url,
                conf=CLUSTER_CONF,
                cluster_work=root / "cluster",
                cluster_daemons=[w.process.pid for w in workers],
            )
        finally:
            cluster.stop()
    faults = sum(r.landed for r in reports)
    lost = sum(len(r.lost) for r in reports)
    duplicated = sum(r.duplicated for r in reports)
    identical = all(r.identical for r in reports)
    again = sum(r.rerun_after_resume for r in reports)
    print(f"finished trials run again after a resume: {again}")
    print(
        f"chaos: faults={faults} lost={lost} duplicated={duplicated} "
        f"identical={'yes' if identical else 'no'}"
    )
    return 0 if all(r.held for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
