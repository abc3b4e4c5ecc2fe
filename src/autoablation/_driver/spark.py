"""Spark on the driver: the session, the number of worker slots, the driver's addresses."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from autoablation._driver.conf import conf_int, dynamic_allocation, task_cpus
from autoablation._driver.gpus import executor_gpus
from autoablation._executor.daemon import SPARK_CONF as DAEMON_CONF

logger = logging.getLogger("autoablation.spark")

_WRAPPING = threading.RLock()
"""Held while a block lends the SparkContext another interpreter or environment: the warm-up's
thread and the study's wrap their jobs at once, and each must restore what it found."""

_LOCAL = re.compile(r"local(?:\[\s*(\*|\d+)\s*(?:,\s*\d+\s*)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*\]")


def is_local_master(master: str) -> bool:
    """Whether executors run inside the driver's JVM (``local``, ``local[N]``...)."""
    return _LOCAL.fullmatch(master.strip()) is not None


def get_session(spark: Any | None) -> Any:
    """Return ``spark``, the active session, or a new one that runs workers on this Python.

    A session created here hides Spark's console progress bar, starts autoablation's Python
    daemon (`autoablation._executor.daemon`: workers forked with Keras loaded), and keeps
    running after the experiment, so the next launch reuses it.
    """
    if spark is not None:
        return spark
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = (
        SparkSession.builder.appName("autoablation")
        .config("spark.ui.showConsoleProgress", "false")
        .config(map=DAEMON_CONF)  # workers forked with Keras already loaded
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
    cpus = task_cpus(conf)
    executor_cores = conf_int(conf, "spark.executor.cores")

    def per_executor(cores: int) -> int:
        slots = cores // cpus
        if gpus > 0:
            slots = min(slots, int(executor_gpus(conf) // gpus))
        return slots

    if dynamic_allocation(conf):
        maximum = conf_int(conf, "spark.dynamicAllocation.maxExecutors")
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
        return max(1, cores // cpus)
    if match := _LOCAL_CLUSTER.fullmatch(master):
        executors, cores = int(match.group(1)), int(match.group(2))
        return max(1, executors * per_executor(cores))
    instances = conf_int(conf, "spark.executor.instances")
    cores_max = conf_int(conf, "spark.cores.max")
    if cores_max and executor_cores:
        return max(1, (cores_max // executor_cores) * per_executor(executor_cores))
    if instances and not cores_max:  # YARN and Kubernetes give executors one core by default
        return max(1, instances * per_executor(executor_cores or 1))
    cores = cores_max or int(sc.defaultParallelism)
    if gpus > 0 and executor_cores:
        return max(1, (cores // executor_cores) * per_executor(executor_cores))
    # Without spark.executor.cores the GPUs per core are unknown: tasks that find no free GPU
    # wait in Spark's queue and start, with nothing left to do, when the others end.
    return max(1, cores // cpus)


def task_slots_known(sc: Any) -> bool:
    """Whether `task_slots` comes from the configuration, not from what has registered so far.

    Local and local-cluster masters, and clusters sized by ``spark.cores.max`` or
    ``spark.executor.instances`` without dynamic allocation, have a known number of slots; a
    cluster that is still starting executors, or may add some, has not.
    """
    master = str(sc.master).strip()
    if _LOCAL.fullmatch(master) or _LOCAL_CLUSTER.fullmatch(master):
        return True
    conf = sc.getConf()
    if dynamic_allocation(conf):
        return False
    return bool(conf_int(conf, "spark.cores.max") or conf_int(conf, "spark.executor.instances"))


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
def workers_on_driver_python(sc: Any) -> Iterator[None]:
    """Make RDD functions wrapped in this block run on the driver's interpreter.

    Applies only when the user configured no Python for workers (``PYSPARK_PYTHON`` or
    ``spark.pyspark.python``); otherwise their choice stands.
    """
    if _configured_python(sc):
        yield
        return
    with _WRAPPING:
        saved = sc.pythonExec
        sc.pythonExec = sys.executable
        try:
            yield
        finally:
            sc.pythonExec = saved


@contextlib.contextmanager
def worker_environment(sc: Any, variables: Mapping[str, str]) -> Iterator[None]:
    """Give the Python workers of RDD functions wrapped in this block these variables.

    Spark keeps a separate pool of Python workers for each distinct environment, so tasks
    wrapped with another ``KERAS_BACKEND`` never get a reused worker that loaded Keras with a
    different backend. The variables travel with the task, on every cluster manager; the
    context's own environment is restored afterwards.
    """
    # A new dict, never the shared one changed in place: another thread may be wrapping a job
    # of its own (PySpark iterates ``sc.environment`` then), and the lock keeps two of these
    # blocks from restoring each other's variables.
    with _WRAPPING:
        saved = sc.environment
        sc.environment = {**saved, **variables}
        try:
            yield
        finally:
            sc.environment = saved
