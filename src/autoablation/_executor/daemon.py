"""Spark's Python daemon, with Keras loaded once before it forks the workers.

Spark starts one Python daemon per executor and worker environment and forks every Python
worker from it. A worker that trains imports Keras (TensorFlow: about 10 CPU seconds on a small
machine) once per process: once per task slot, and again whenever Spark replaces a worker (one
killed, or one it ended after a minute idle between two studies). With
``spark.python.daemon.module=autoablation._executor.daemon`` (`SPARK_CONF`; sessions that
autoablation starts have it) this daemon imports Keras once, on the backend that autoablation's
jobs name in `PRELOAD`, before it forks: every worker of those jobs starts with Keras loaded and
its objects frozen out of the garbage collector's walk (`startup.freeze_imports`), their memory
shared with the daemon until written. Workers of jobs that name no backend (Spark SQL, a user's
own RDDs) are exactly PySpark's own.

Workers are forked after TensorFlow is imported and before its runtime starts (no operation has
run and no device was listed), so each worker still sizes its own thread pools and sees only
its own GPUs; a study with GPUs does not ask for the preload all the same, nor one whose
training function takes neither a model nor the default dataset (it may never import Keras).
If the import fails, the daemon serves as PySpark's would, and each task meets the problem
where it imports Keras itself and reports it there.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from autoablation._core.backends import ENV
from autoablation._executor import startup
from autoablation._executor.backends import THREAD_VARIABLES

logger = logging.getLogger("autoablation.executor")

MODULE = "autoablation._executor.daemon"
SPARK_CONF: dict[str, Any] = {"spark.python.daemon.module": MODULE}
"""The Spark setting that makes executors start this daemon: give it to the session's builder
(``.config(map=SPARK_CONF)``), before the SparkContext starts."""

PRELOAD = "AUTOABLATION_PRELOAD"
"""The worker environment variable naming the backend this daemon loads Keras with."""

preloaded_s: float | None = None
"""Seconds the daemon spent importing Keras, in it and every worker it forked; None where the
daemon loaded nothing (or this process did not come from it)."""
preloaded_at: float | None = None
"""When (``time.time()``) the daemon had Keras loaded; None as for `preloaded_s`."""


def preload_environment(backend: str, cpus: int) -> dict[str, str]:
    """Worker variables that ask this daemon for Keras on ``backend``, with ``cpus`` threads.

    The thread pools are sized by variables that the backend reads when it loads, so they
    travel here (one task slot's CPUs, as `use_backend` sets them in a fresh worker).
    """
    variables = {PRELOAD: backend}
    for package, names in THREAD_VARIABLES.items():
        if package in ("tensorflow", backend):
            variables.update(dict.fromkeys(names, str(cpus)))
    return variables


def preload(environ: Mapping[str, str] = os.environ) -> float | None:
    """Import Keras on the backend ``environ`` names under `PRELOAD`; seconds it took.

    Returns None (and logs why) when nothing was asked for or the import failed. The import
    is not reported as any worker's own (`startup.take` marks it reported here).
    """
    global preloaded_s, preloaded_at
    backend = environ.get(PRELOAD)
    if not backend:
        return None
    os.environ[ENV] = backend
    began = time.perf_counter()
    try:
        startup.import_keras()
    except Exception as exc:  # the workers import it themselves and report the error
        logger.warning("Python daemon: Keras did not load on %r (%s)", backend, exc)
        for name in [n for n in sys.modules if n == "keras" or n.startswith("keras.")]:
            del sys.modules[name]  # half imported: each worker tries again on its own
        return None
    startup.take()
    preloaded_s, preloaded_at = time.perf_counter() - began, time.time()
    return preloaded_s


def main() -> None:
    """Preload, then serve as PySpark's daemon."""
    preload()
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    # Run as a script, this file is `__main__`: run the module itself, so the workers find
    # `preloaded_s` where they import it.
    from autoablation._executor import daemon

    daemon.main()
