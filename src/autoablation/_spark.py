"""Spark glue: the session, the number of worker slots, and the long-running task.

The task closure is built by `make_task` from plain values only (address, secret, the training
function, the trial runtime), never from the SparkSession or the launcher, and imports what it
needs inside the task, as PySpark's own TorchDistributor does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from autoablation._data import PreparedData
from autoablation._datasets import DataHandle, ParquetData, write_parquet
from autoablation._exceptions import StudyError
from autoablation._gpus import claim_assigned_gpus, enable_memory_growth, executor_gpus

if TYPE_CHECKING:
    from autoablation._worker import TrialPolicy

logger = logging.getLogger("autoablation.spark")

HEARTBEAT_TIMEOUT_S = 60.0
"""Seconds a task waits for the driver to acknowledge a heartbeat."""

_LOCAL = re.compile(r"local(?:\[\s*(\*|\d+)\s*(?:,\s*\d+\s*)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]")


def is_local_master(master: str) -> bool:
    """Whether executors run inside the driver's JVM (``local``, ``local[N]``...)."""
    return _LOCAL.fullmatch(master.strip()) is not None


def get_session(spark: Any | None) -> Any:
    """Return ``spark``, the active session, or a new one that runs workers on this Python.

    A session created here hides Spark's console progress bar and keeps running after the
    experiment, so the next launch reuses it.
    """
    if spark is not None:
        return spark
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("autoablation").config(
        "spark.ui.showConsoleProgress", "false"
    )
    if not os.environ.get("PYSPARK_PYTHON"):
        builder = builder.config("spark.pyspark.python", sys.executable)
    logger.info("starting a Spark session (none was given or active)")
    return builder.getOrCreate()


UNBOUNDED_SLOTS = 1_000_000
"""Slots of a cluster that may grow without limit (dynamic allocation without a maximum)."""


def task_slots(sc: Any, gpus: float = 0.0) -> int:
    """How many long-running tasks the cluster can run at once.

    Counts ``spark.task.cpus`` per task and, with ``gpus`` per task, the executors' GPUs. On a
    cluster it counts the cores the application was given (``spark.cores.max``, or
    ``spark.executor.instances`` x ``spark.executor.cores``); without either, the cores
    registered so far (``sc.defaultParallelism``, at least 2), which on a cluster that is still
    starting executors is fewer than it will have: pass ``num_workers`` there. Under dynamic
    allocation it counts the executors the cluster may grow to
    (``spark.dynamicAllocation.maxExecutors``): tasks beyond the current executors wait, their
    demand makes Spark add executors, and those take trials as they join.
    """
    conf = sc.getConf()
    master = str(sc.master).strip()
    task_cpus = max(1, int(conf.get("spark.task.cpus", "1")))
    executor_cores = int(conf.get("spark.executor.cores") or 0)

    def per_executor(cores: int) -> int:
        slots = cores // task_cpus
        if gpus > 0:
            slots = min(slots, int(executor_gpus(conf) // gpus))
        return slots

    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        maximum = int(conf.get("spark.dynamicAllocation.maxExecutors") or 0)
        if maximum <= 0 or maximum >= 2**31 - 1:
            return UNBOUNDED_SLOTS
        return max(1, maximum * per_executor(executor_cores or 1))
    local = _LOCAL.fullmatch(master)
    if local:
        threads = local.group(1)
        if threads is None:
            cores = 1
        elif threads == "*":
            cores = os.cpu_count() or 1
        else:
            cores = int(threads)
        return max(1, cores // task_cpus)
    if match := _LOCAL_CLUSTER.fullmatch(master):
        executors, cores = int(match.group(1)), int(match.group(2))
        return max(1, executors * per_executor(cores))
    instances = int(conf.get("spark.executor.instances") or 0)
    cores_max = int(conf.get("spark.cores.max") or 0)
    if cores_max and executor_cores:
        return max(1, (cores_max // executor_cores) * per_executor(executor_cores))
    if instances and not cores_max:  # YARN and Kubernetes give executors one core by default
        return max(1, instances * per_executor(executor_cores or 1))
    cores = cores_max or int(sc.defaultParallelism)
    if gpus > 0 and executor_cores:
        return max(1, (cores // executor_cores) * per_executor(executor_cores))
    # Without spark.executor.cores the GPUs per core are unknown: tasks that find no free GPU
    # wait in Spark's queue and start, with nothing left to do, when the others end.
    return max(1, cores // task_cpus)


def driver_hosts(sc: Any) -> tuple[str, str]:
    """``(bind, advertised)`` addresses for the RPC server.

    In local mode executors share the driver's machine, so the server binds to loopback only.
    On a cluster it binds to ``spark.driver.bindAddress`` (or the driver host) and executors
    connect to ``spark.driver.host``; it never listens on every interface by default.
    """
    if is_local_master(str(sc.master)):
        return "127.0.0.1", "127.0.0.1"
    conf = sc.getConf()
    advertised = conf.get("spark.driver.host") or socket.gethostname()
    return conf.get("spark.driver.bindAddress") or advertised, advertised


def _configured_python(sc: Any) -> bool:
    return bool(os.environ.get("PYSPARK_PYTHON") or sc.getConf().get("spark.pyspark.python"))


@contextlib.contextmanager
def _workers_on_driver_python(sc: Any) -> Iterator[None]:
    """Make RDD functions wrapped in this block run on the driver's interpreter.

    Applies only when the user configured no Python for workers (``PYSPARK_PYTHON`` or
    ``spark.pyspark.python``); otherwise their choice stands.
    """
    if _configured_python(sc):
        yield
        return
    saved = sc.pythonExec
    sc.pythonExec = sys.executable
    try:
        yield
    finally:
        sc.pythonExec = saved


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
) -> Callable[[int, Iterator[int]], Iterator[dict[str, Any]]]:
    """Build the function every long-running Spark task runs.

    Only the arguments are captured; they travel once, inside the task closure. Each task's
    single input row is the job's generation (0, then 1, 2... for restarts), which keeps
    worker ids unique across restarted jobs.
    """

    def task(partition: int, rows: Iterator[int]) -> Iterator[dict[str, Any]]:
        from pyspark import TaskContext

        rows = iter(rows)
        generation = next(rows, 0)
        context = TaskContext.get()
        attempt = context.attemptNumber() if context is not None else 0
        cpus = context.cpus() if context is not None else 1
        if "tensorflow" not in sys.modules:  # one TF thread pool per task slot, not per core
            os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(cpus))
            os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(cpus))
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        gpus = claim_assigned_gpus(context)
        if gpus:
            enable_memory_growth()
        else:
            # Read the partition to its end: Spark reuses a Python worker only when its task
            # consumed its input, else the next study pays for a fresh process and its
            # imports. A worker that showed TensorFlow a GPU is left to end instead: the next
            # task may be given another GPU, which TensorFlow here could not see.
            for _ in rows:
                pass

        from autoablation._client import ControllerClient, RpcChannel
        from autoablation._worker import run_worker

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


def run_job(
    sc: Any,
    num_tasks: int,
    task: Callable[[int, Iterator[int]], Iterator[dict[str, Any]]],
    *,
    group_id: str,
    description: str,
    generation: int = 0,
    profile: Any | None = None,
) -> list[dict[str, Any]]:
    """Run ``num_tasks`` long-running tasks in one Spark job and return their summaries.

    Call it from the thread that should own the job group (the job group is thread-local).
    ``profile`` is a stage-level resource profile for the tasks (GPUs), or None.
    """
    sc.setJobGroup(group_id, description, interruptOnCancel=True)
    rdd = sc.parallelize([generation] * num_tasks, num_tasks).mapPartitionsWithIndex(task)
    if profile is not None:
        rdd = rdd.withResources(profile)
    with _workers_on_driver_python(sc):
        rdd._jrdd  # noqa: B018 - wraps the task function now, with the interpreter chosen above
    return list(rdd.collect())


def describe_failure(exc: BaseException) -> str:
    """One line saying why a Spark job failed, taken from the JVM's message when there is one."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


BROADCAST_LIMIT = 256 * 1024 * 1024
"""Encoded data up to this size goes to executors as a broadcast; larger data as Parquet."""
TRANSPORTS = ("auto", "broadcast", "parquet")


def stage_data(sc: Any, data: PreparedData, transport: str, data_dir: str | None) -> DataHandle:
    """Make the prepared data reachable from every executor.

    ``"broadcast"`` ships it with Spark's broadcast (each executor keeps one copy).
    ``"parquet"`` writes one Parquet file that each executor process reads once: in
    ``data_dir`` (a path or URI every executor can read), or in a temporary folder in local
    mode. ``"auto"`` broadcasts up to `BROADCAST_LIMIT` bytes and uses Parquet above it when
    it has somewhere to put the file.

    Raises:
        StudyError: Parquet on a cluster without a ``data_dir``.
    """
    size = data.x.nbytes + data.y.nbytes + data.test_mask.nbytes
    local = is_local_master(str(sc.master))
    if transport == "auto":
        if size <= BROADCAST_LIMIT:
            transport = "broadcast"
        elif data_dir is not None or local:
            transport = "parquet"
        else:
            logger.warning(
                "broadcasting %.0f MiB of data; pass data_dir=<a path every executor can "
                "read> to stage it as Parquet instead",
                size / 2**20,
            )
            transport = "broadcast"
    if transport == "broadcast":
        handle: DataHandle = sc.broadcast(data)
        return handle
    if data_dir is None and not local:
        raise StudyError(
            "data_transport='parquet' on a cluster needs data_dir=<a path or URI every "
            "executor can read>"
        )
    folder = None
    if data_dir is None:
        data_dir = folder = tempfile.mkdtemp(prefix="autoablation-data-")
    elif "://" not in data_dir:
        data_dir = os.path.abspath(data_dir)  # executors do not share the driver's directory
    path = f"{data_dir.rstrip('/')}/{uuid.uuid4().hex}.parquet"
    cleanup = folder or path  # the temporary folder, or only the file written into data_dir
    write_parquet(data, path)
    logger.info("staged %.0f MiB of data at %s", size / 2**20, path)
    return ParquetData(path, cleanup=cleanup)
