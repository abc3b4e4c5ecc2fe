"""The options of every JVM the tests start: quick to start, since each lives seconds to minutes.

The suite starts about fifty JVMs (the local session, every cluster's master, workers and
executors, the drivers that tests start as scripts), and on 2 cores it is CPU-bound. Three
options, passed in ``JAVA_TOOL_OPTIONS`` so that every process the tests start inherits them:

* ``-XX:TieredStopAtLevel=1``: C1 compiles, C2 never does (C2's work pays off in long runs);
* ``-XX:+UseSerialGC``: one collector thread;
* a class-data archive of the classes a Spark driver loads (``-XX:SharedArchiveFile``, Java's
  AppCDS), dumped once by a small local Spark application and kept in ``.pytest_cache``: a
  JVM maps the classes instead of loading and verifying them. ``make test`` dumps it beside
  mypy, which leaves the other core idle (``python -m tests.jvm``); else the first test
  process that needs it does.

Measured on this 2-core machine, one local session and its first job: 32 CPU seconds with
Java's defaults, 11 with the first two options, 6 with the archive as well. An archive the
JVM cannot use (its jars changed since) is skipped silently by Java; its name carries the Java
build and the jars, so a new installation dumps a new one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyspark

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".pytest_cache" / "jvm"
"""Where the archive is kept (git ignores it; `make clean` removes it)."""
QUICK = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
QUIET = "-Xlog:cds=off,cds+dynamic=off"  # Java reports an archive it cannot use on stdout
_APP = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
spark.sparkContext.parallelize(range(8), 2).map(lambda x: x * x).sum()
spark.stop()
"""
logger = logging.getLogger(__name__)


def _key(options: str) -> str:
    """What the archive depends on: the Java build, the options, Spark's jars."""
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    jars = Path(pyspark.__file__).parent / "jars"
    listing = sorted(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in jars.iterdir())
    text = "\n".join([java.stderr, options, pyspark.__version__, *listing])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def class_archive(folder: Path, options: str) -> Path | None:
    """The archive of Spark's classes for JVMs started with ``options``; dumped if missing.

    None when Java could not dump one (the tests then run without it).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"spark-classes-{_key(options)}.jsa"
    if path.exists():
        return path
    partial = path.with_suffix(f".{os.getpid()}.partial")
    app = folder / "dump_classes.py"
    app.write_text(_APP)
    env = {
        **os.environ,
        "JAVA_TOOL_OPTIONS": f"{options} -XX:ArchiveClassesAtExit={partial}",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    submit = Path(sys.executable).parent / "spark-submit"
    command = [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false", str(app)]
    try:  # spark-submit's JVM dumps the archive as it exits, before the call returns
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("no class-data archive for the tests' JVMs: %s", exc)
        return None
    if done.returncode != 0 or not partial.exists():
        logger.warning("no class-data archive for the tests' JVMs:\n%s", done.stderr[-2000:])
        partial.unlink(missing_ok=True)
        return None
    partial.replace(path)
    return path


def java_tool_options(cache: Path = CACHE) -> str:
    """``JAVA_TOOL_OPTIONS`` for the tests: the quick options, with the archive if there is one.

    Options already in the environment are kept, and the archive is dumped with them.
    """
    options = os.environ.get("JAVA_TOOL_OPTIONS") or QUICK
    if "SharedArchiveFile" in options:
        return options
    archive = class_archive(cache, options)
    return options if archive is None else f"{options} -XX:SharedArchiveFile={archive} {QUIET}"


if __name__ == "__main__":  # `make jvm-archive`: dump it beside mypy, before the tests start
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("JAVA_TOOL_OPTIONS for the tests: %s", java_tool_options())
