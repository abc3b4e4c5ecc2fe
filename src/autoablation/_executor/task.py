"""The body of every long-running Spark task, built on the driver from plain values.

The task closure is built by `make_task` from plain values only (address, secret, the training
function, the trial runtime, the Keras backend), never from the SparkSession or the launcher,
and imports what it needs inside the task, as PySpark's own TorchDistributor does.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from autoablation._executor import startup
from autoablation._executor.backends import use_backend
from autoablation._executor.gpus import claim_assigned_gpus, enable_memory_growth

if TYPE_CHECKING:
    from autoablation._executor.runtime import TrialPolicy


HEARTBEAT_TIMEOUT_S = 60.0
"""Seconds a task waits for the driver to acknowledge a heartbeat."""


def _executor_id(local: bool) -> str:
    """A best-effort id of the executor this task runs on."""
    if local:
        return "driver"
    cwd = os.getcwd()
    standalone = re.search(r"app-[^/]+/([^/]+)/?$", cwd)  # <work>/app-<id>/<executor id>
    if standalone:
        return standalone.group(1)
    yarn = re.search(r"(container_[\w]+)", cwd)
    if yarn:
        return yarn.group(1)
    return f"{socket.gethostname()}:{os.getppid()}"


def make_task(
    address: tuple[str, int],
    secret: bytes,
    train_fn: Callable[..., Any],
    runtime: Any,
    optimization_key: str,
    local: bool,
    policy: TrialPolicy,
    backend: str,
) -> Callable[[int, Iterator[int]], Iterator[dict[str, Any]]]:
    """Build the function every long-running Spark task runs.

    Only the arguments are captured; they travel once, inside the task closure. Each task's
    single input row is the job's generation (0, then 1, 2... for restarts), which keeps
    worker ids unique across restarted jobs. ``backend`` is the driver's Keras backend: the
    task sets it before anything imports Keras there, on any cluster manager.
    """

    def task(partition: int, rows: Iterator[int]) -> Iterator[dict[str, Any]]:
        startup.task_started()  # first: what the process spent before it is the task's import
        from pyspark import TaskContext

        rows = iter(rows)
        generation = next(rows, 0)
        context = TaskContext.get()
        attempt = context.attemptNumber() if context is not None else 0
        cpus = context.cpus() if context is not None else 1
        gpus = claim_assigned_gpus(context)
        # Before anything imports Keras here: its backend, one thread pool per task slot (not
        # per core), lazy GPU memory.
        use_backend(backend, cpus=cpus, gpus=bool(gpus))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if gpus:
            if backend == "tensorflow":
                enable_memory_growth()
        else:
            # Read the partition to its end: Spark reuses a Python worker only when its task
            # consumed its input, else the next study pays for a fresh process and its
            # imports. A worker that showed its backend a GPU is left to end instead: the next
            # task may be given another GPU, which the backend here could not see.
            for _ in rows:
                pass

        from autoablation._executor.client import ControllerClient
        from autoablation._executor.worker import run_worker
        from autoablation._wire.channel import RpcChannel

        executor = _executor_id(local)
        job = f"/job{generation}" if generation else ""
        worker_id = f"task{partition}.{attempt}{job}@{executor}"
        info = {
            "generation": generation,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "partition": partition,
            "attempt": attempt,
            "executor": executor,
            "cpus": cpus,
            "gpus": gpus,
        }
        client = ControllerClient(
            RpcChannel(address, secret), RpcChannel(address, secret, timeout=HEARTBEAT_TIMEOUT_S)
        )
        try:
            summary = run_worker(
                client,
                train_fn,
                runtime,
                worker_id=worker_id,
                info=info,
                optimization_key=optimization_key,
                policy=policy,
            )
        finally:
            client.close()
        yield {"worker": summary.worker_id, "trials": list(summary.trials)}

    return task


def make_warmup(backend: str) -> Callable[[int, Iterator[int]], Iterator[dict[str, Any]]]:
    """Build a task that readies a Python worker for the study's tasks, then ends.

    It does what a long-running task does before its first trial (the backend and its thread
    pools, then ``import keras``, timed by `startup`), reads its partition to the end so Spark
    keeps the Python worker for the next task, and yields how long the import took
    (``import_s``) in which process (``pid``), or how long its daemon (``daemon``: host and
    pid) took to load it before forking it, and when (``preloaded_s``, ``preloaded_at``,
    `autoablation._executor.daemon`). Run with
    the study job's interpreter and environment, it lets workers import TensorFlow while the
    driver checks the study; the first trial's result still reports a worker's own import (a
    daemon's is not any worker's: the study's wait for it shows as waiting for workers).
    """

    def warmup(partition: int, rows: Iterator[int]) -> Iterator[dict[str, Any]]:
        startup.task_started()
        from pyspark import TaskContext

        context = TaskContext.get()
        cpus = context.cpus() if context is not None else 1
        use_backend(backend, cpus=cpus, gpus=False)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for _ in rows:
            pass
        began = time.perf_counter()
        startup.import_keras()
        from autoablation._executor import daemon

        yield {
            "import_s": time.perf_counter() - began,
            "pid": os.getpid(),
            "preloaded_s": daemon.preloaded_s or 0.0,  # Keras came with the fork instead
            "preloaded_at": daemon.preloaded_at or 0.0,
            "daemon": f"{socket.gethostname()}:{os.getppid()}",
        }

    return warmup
