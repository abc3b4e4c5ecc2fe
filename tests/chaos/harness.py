"""The storm: a seeded, bounded schedule of real faults against one study, and its verdict.

`Storm.run` drives the chaos study through driver processes (`tests.chaos.driver`), one per
*segment*: each segment but the last ends with the driver killed by SIGKILL (at a random
moment, or by the flaky disk in the middle of a journal write), and the next one resumes the
experiment directory. While a segment runs, the harness kills Python workers running a trial
(and, on a standalone cluster, executor JVMs), and the driver's proxy and flaky disk inject
their own faults. Every fault that landed is in the fault log.

The verdict (`StormReport`) compares the final result table with a calm run's, and counts
what must be zero: trials without a result (``lost``), trials with more than one final result
in the journal (``duplicated``), and trials that ran again in a segment although the journal
held their final result when it started (``rerun_after_resume``). `Storm.extend` then resumes
the experiment with more components and one more repeat and checks that exactly the new trials
run, and that the ranking equals a calm run's of the extended study.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.driver import Segment, run_study
from tests.chaos.faults import FaultLog, executor_of, kill, kill_python_worker

ROOT = Path(__file__).resolve().parents[2]
_FINAL = ("finished", "failed", "timed_out")
_POLL_S = 0.05
"""How often the fault injector looks at the run log (its clock, not a synchronisation)."""

Row = tuple[str, str, int, str, float | None]
"""One row of a result table: kind, what it removes, repeat, status, metric."""


@dataclass(frozen=True)
class Schedule:
    """One storm: the study, its faults (budgets over the whole storm), and their pace."""

    seed: int
    features: int
    repeats: int
    low: float = 0.2
    high: float = 1.5
    """Trial durations are spread between ``low`` and ``high`` seconds."""
    driver_kills: int = 1
    """Drivers killed at a random moment while trials run."""
    driver_kills_mid_write: int = 1
    """Drivers killed by the flaky disk in the middle of a journal write."""
    worker_kills: int = 10
    kill_every: int = 2
    """Trial starts between two Python worker kills."""
    executor_kills: int = 0
    executor_kill_every: int = 6
    proxy_cuts: int = 20
    proxy_truncations: int = 12
    proxy_delays: int = 16
    stalled_beats: int = 6
    proxy_rate: float = 0.08
    disk_episodes: int = 12
    disk_rate: float = 0.25
    heartbeat_interval: float = 0.1
    heartbeat_timeout: float = 1.5
    extend_features: int = 2
    extend_repeats: int = 1

    @property
    def segments(self) -> int:
        """Driver processes in the storm: one per driver kill, and the one that finishes."""
        return self.driver_kills + self.driver_kills_mid_write + 1


@dataclass
class StormReport:
    """What a storm did, and whether the invariant held."""

    mode: str
    trials: int
    runs: int
    segments: int
    faults: Counter[str]
    lost: list[str]
    """Trials without an ``ok`` result in the end (none may be)."""
    lost_verdicts: list[str]
    """Every ``lost`` verdict the journal recorded on the way, with its reason."""
    duplicated: int
    rerun_after_resume: int
    identical: bool
    logged_twice: int
    """Trial events that reached ``driver.log`` a second time, through its log handler."""
    differences: list[str] = field(default_factory=list)

    @property
    def landed(self) -> int:
        """Faults that landed."""
        return sum(self.faults.values())

    @property
    def held(self) -> bool:
        """Whether the invariant held."""
        return (
            not self.lost
            and self.duplicated == 0
            and self.rerun_after_resume == 0
            and self.identical
            and self.logged_twice == 0
        )

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        return (
            f"{self.mode}: {self.trials} trials, {self.runs} runs over {self.segments} driver "
            f"processes; {self.landed} faults ({kinds}); lost={len(self.lost)} "
            f"duplicated={self.duplicated} rerun_after_resume={self.rerun_after_resume} "
            f"identical={'yes' if self.identical else 'no'} "
            f"lost_verdicts={len(self.lost_verdicts)}"
        )


@dataclass
class ExtendReport:
    """The storm's experiment resumed with more components and one more repeat."""

    new_trials: int
    ran: Counter[str]
    exact: bool
    """Exactly the new trials ran, once each."""
    same_ranking: bool


def result_table(result: Any) -> list[Row]:
    """The rows that must not depend on faults: configuration, repeat, status, metric."""
    return sorted(
        (t.trial.kind, t.trial.ablated, t.trial.repeat, t.status.value, t.metric)
        for t in result.trials
    )


def same_ranking(left: Any, right: Any) -> bool:
    """Whether two results rank their components identically, with identical statistics."""
    a = left.ranking().reset_index(drop=True)
    b = right.ranking().reset_index(drop=True)
    return bool(a.equals(b))


def _events(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of a JSON-lines file (a torn one is skipped, as the library does)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            with contextlib.suppress(json.JSONDecodeError):
                yield json.loads(line)


def child_env() -> dict[str, str]:
    """The environment of the drivers (and so of local Spark): this interpreter, this tree."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


class _RunTail:
    """Reads the run log as it grows: which trial each Python worker runs now, per segment."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self.starts: Counter[str] = Counter()  # per segment
        self.running: dict[tuple[str, int], str] = {}  # (segment, pid) -> trial

    def read(self) -> None:
        if not self._path.exists():
            return
        with self._path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            run = json.loads(line)
            key = (run["segment"], run["pid"])
            if run["event"] == "start":
                self.starts[run["segment"]] += 1
                self.running[key] = run["trial"]
            else:
                self.running.pop(key, None)

    def pids(self, segment: str) -> list[int]:
        """The Python workers running a trial of ``segment`` now (the dead ones forgotten)."""
        for key in [k for k in self.running if not os.path.exists(f"/proc/{k[1]}")]:
            del self.running[key]
        return sorted(pid for seg, pid in self.running if seg == segment)


class Storm:
    """Runs the chaos study calm and under a storm, in ``root``, and reports.

    Args:
        root: A fresh folder for the experiment directories and the logs.
        schedule: The storm.
        mode: ``"local"`` or ``"cluster"``: names the report.
        master: The Spark master the drivers use.
        conf: Extra Spark settings of the drivers.
        cluster_work: The cluster's work folder (executor JVMs to kill live under it).
        cluster_daemons: The cluster's worker daemons, ancestors of its Python workers.
    """

    def __init__(
        self,
        root: Path,
        schedule: Schedule,
        *,
        mode: str = "local",
        master: str = "local[2]",
        conf: dict[str, str] | None = None,
        cluster_work: Path | None = None,
        cluster_daemons: Collection[int] = (),
    ) -> None:
        self.root = root
        self.schedule = schedule
        self.mode = mode
        self.master = master
        self.conf = dict(conf or {})
        self.cluster_work = cluster_work
        self.cluster_daemons = tuple(cluster_daemons)
        self.runs_log = root / "runs.jsonl"
        self.faults = FaultLog(root / "faults.jsonl")
        self.storm_dir = root / "storm"
        self._rng = random.Random(schedule.seed)
        self._kills: Counter[str] = Counter()
        root.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------- segments
    def segment(
        self,
        name: str,
        directory: Path,
        *,
        extended: bool = False,
        proxy: dict[str, Any] | None = None,
        disk: dict[str, Any] | None = None,
    ) -> Segment:
        s = self.schedule
        return Segment(
            name="chaos",
            experiment_dir=str(directory),
            runs_log=str(self.runs_log),
            faults_log=self.faults.path,
            segment=name,
            features=s.features + (s.extend_features if extended else 0),
            repeats=s.repeats + (s.extend_repeats if extended else 0),
            low=s.low,
            high=s.high,
            options={
                "heartbeat_interval": s.heartbeat_interval,
                "heartbeat_timeout": s.heartbeat_timeout,
            },
            proxy=proxy,
            disk=disk,
            master=self.master,
            conf=self.conf,
        )

    def calm(self, directory: Path, *, extended: bool = False, spark: Any = None) -> Any:
        """A run without faults: in this process on ``spark``, else in a driver process."""
        segment = self.segment(f"calm-{directory.name}", directory, extended=extended)
        if spark is not None:
            return run_study(spark, segment)
        self._drive(segment, fate=None, faults=False)
        from autoablation import load

        return load(directory)

    def _drive(self, segment: Segment, *, fate: str | None, faults: bool = True) -> int:
        """Run one driver process to its end, injecting the harness's faults; its exit status.

        ``fate`` ``"killed"`` kills the driver at a random moment once trials run; the
        segment's flaky disk may kill it in the middle of a write on its own. Without
        ``faults`` the harness kills nothing.
        """
        s = self.schedule
        tail = _RunTail(self.runs_log)
        log = self.root / f"{segment.segment}.log"
        with log.open("w") as output:
            driver = subprocess.Popen(
                [sys.executable, "-m", "tests.chaos.driver", segment.to_json()],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=child_env(),
                cwd=ROOT,
                start_new_session=True,
            )
        name = segment.segment
        worker_due = executor_due = driver_due = None
        next_worker, next_executor = s.kill_every, s.executor_kill_every
        planned = max(2, s.features * s.repeats // s.segments)
        driver_at = self._rng.randint(max(2, planned // 2), planned) if fate == "killed" else None
        try:
            while driver.poll() is None:
                tail.read()
                now, starts = time.monotonic(), tail.starts[name]
                if faults and self._left("worker") and worker_due is None and starts >= next_worker:
                    worker_due = now + self._rng.uniform(0.0, s.high)
                if worker_due is not None and now >= worker_due:
                    pids = tail.pids(name)  # none while a job restarts: try again soon
                    ancestors = self.cluster_daemons or (driver.pid,)
                    if pids and kill_python_worker(self._rng.choice(pids), ancestors):
                        self._note("python-worker-killed", segment=name)
                        worker_due, next_worker = None, starts + s.kill_every
                if (
                    faults
                    and self.cluster_work is not None
                    and self._left("executor")
                    and executor_due is None
                    and starts >= next_executor
                ):
                    executor_due = now + self._rng.uniform(0.0, s.high)
                if executor_due is not None and now >= executor_due and self.cluster_work:
                    pids = tail.pids(name)  # the executor of a Python worker running a trial
                    jvm = executor_of(self._rng.choice(pids), self.cluster_work) if pids else None
                    if jvm is not None and kill(jvm):
                        self._note("executor-jvm-killed", segment=name)
                        executor_due, next_executor = None, starts + s.executor_kill_every
                if driver_at is not None and driver_due is None and starts >= driver_at:
                    driver_due = now + self._rng.uniform(0.0, s.high)
                if driver_due is not None and now >= driver_due and kill(driver.pid):
                    self.faults.note("driver-killed", segment=name)
                    driver_due = driver_at = None
                with contextlib.suppress(subprocess.TimeoutExpired):
                    driver.wait(_POLL_S)
        finally:
            if driver.poll() is None:
                kill(driver.pid)
            code = driver.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(driver.pid, signal.SIGKILL)  # its machine is gone: local Spark too
        if code not in (0, -signal.SIGKILL):
            raise RuntimeError(f"driver {name} failed ({code}); see {log}")
        return code

    def _left(self, kind: str) -> bool:
        if kind == "worker":
            return self._kills["python-worker-killed"] < self.schedule.worker_kills
        return self._kills["executor-jvm-killed"] < self.schedule.executor_kills

    def _note(self, kind: str, **details: object) -> None:
        self._kills[kind] += 1
        self.faults.note(kind, **details)

    # ---------------------------------------------------------------------------- storm
    def run(self, calm: Any) -> StormReport:
        """The storm, then its verdict against the calm run's result ``calm``."""
        s = self.schedule
        fates = ["killed"] * s.driver_kills + ["mid-write"] * s.driver_kills_mid_write
        self._rng.shuffle(fates)
        fates.append("finish")
        final_before: dict[str, set[str]] = {}
        for number, fate in enumerate(fates):
            name = f"storm-{number}"
            final_before[name] = self._finals()
            used = self.faults.counts()  # each segment may use what the storm has left
            proxy = {
                "seed": self._rng.randrange(2**32),
                "cuts": s.proxy_cuts - used["proxy-cut"],
                "truncations": s.proxy_truncations - used["proxy-truncated"],
                "delays": s.proxy_delays - used["proxy-delayed"],
                "stalled_beats": s.stalled_beats - used["heartbeat-stalled"],
                "rate": s.proxy_rate,
                "beat_hold_s": s.heartbeat_timeout + 0.8,
            }
            planned = max(3, s.features * s.repeats // s.segments)
            kill_at = (
                self._rng.randint(max(2, planned // 2), planned) if fate == "mid-write" else None
            )
            disk = {
                "seed": self._rng.randrange(2**32),
                "episodes": s.disk_episodes - used["disk-full"] - used["disk-read-only"],
                "rate": s.disk_rate,
                "kill_at": kill_at,
            }
            segment = self.segment(name, self.storm_dir, proxy=proxy, disk=disk)
            code = self._drive(segment, fate="killed" if fate == "killed" else None)
            if code == 0:
                if fate != "finish":  # it finished before its planned death: no more needed
                    fates = fates[: number + 1]
                break
        return self._verdict(calm, final_before, len(fates))

    def _finals(self) -> set[str]:
        """The trials whose final result the storm's journal holds now."""
        return {
            event["result"]["trial"]["trial_id"]
            for event in _events(self.storm_dir / "journal.jsonl")
            if event.get("event") in _FINAL
        }

    def _verdict(self, calm: Any, final_before: dict[str, set[str]], segments: int) -> StormReport:
        from autoablation import load

        result = load(self.storm_dir)
        table, expected = result_table(result), result_table(calm)
        ok = {
            (kind, ablated, repeat) for kind, ablated, repeat, status, _ in table if status == "ok"
        }
        lost = [f"{k}/{a}/repeat {r}" for k, a, r, *_ in expected if (k, a, r) not in ok]
        events = list(_events(self.storm_dir / "journal.jsonl"))
        finals = Counter(
            e["result"]["trial"]["trial_id"] for e in events if e.get("event") in _FINAL
        )
        verdicts = [
            f"{e['result']['trial']['ablated']} (repeat {e['result']['trial']['repeat']}): "
            f"{e['result']['error']}"
            for e in events
            if e.get("event") == "lost"
        ]
        runs = [r for r in _events(self.runs_log) if r["event"] == "start"]
        storm_runs = [r for r in runs if r["segment"] in final_before]
        again = sum(r["trial"] in final_before[r["segment"]] for r in storm_runs)
        driver_log = (self.storm_dir / "driver.log").read_text()
        differences = [
            f"calm {a} / storm {b}" for a, b in zip(expected, table, strict=False) if a != b
        ]
        return StormReport(
            mode=self.mode,
            trials=len(expected),
            runs=len(storm_runs),
            segments=segments,
            faults=self.faults.counts(),
            lost=lost,
            lost_verdicts=verdicts,
            duplicated=sum(count - 1 for count in finals.values()),
            rerun_after_resume=again,
            identical=table == expected,
            logged_twice=driver_log.count("autoablation.controller: ["),
            differences=differences[:10],
        )

    # ---------------------------------------------------------------------------- extend
    def extend(self, calm_extended: Any, *, spark: Any = None) -> ExtendReport:
        """Resume the storm's experiment with more components and one more repeat.

        Without faults, as `calm`: in this process on ``spark``, else in a driver process.
        """
        from autoablation import load

        before = {t.trial.trial_id for t in load(self.storm_dir).trials}
        segment = self.segment("extend", self.storm_dir, extended=True)
        if spark is not None:
            run_study(spark, segment)
        else:
            self._drive(segment, fate=None, faults=False)
        ran = Counter(
            r["trial"]
            for r in _events(self.runs_log)
            if r["event"] == "start" and r["segment"] == "extend"
        )
        new = {t.trial.trial_id for t in calm_extended.trials} - before
        extended = load(self.storm_dir)
        return ExtendReport(
            new_trials=len(new),
            ran=ran,
            exact=set(ran) == new and set(ran.values()) <= {1},
            same_ranking=same_ranking(extended, calm_extended)
            and result_table(extended) == result_table(calm_extended),
        )


def replace(schedule: Schedule, **changes: Any) -> Schedule:
    """The schedule with some fields changed."""
    return dataclasses.replace(schedule, **changes)
