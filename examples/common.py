"""Driver-side helpers shared by the examples: command-line flags and the Spark session.

Only the driver uses this module: functions that executors run live in each example itself, so
Spark ships them by value and executors need nothing but autoablation installed.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def parser(
    description: str, *, epochs: int, repeats: int, one_study: bool = True
) -> argparse.ArgumentParser:
    """The flags every example takes; ``one_study`` adds those of a script that runs one study."""
    flags = argparse.ArgumentParser(description=description)
    flags.add_argument("--epochs", type=int, default=epochs, help="training epochs per trial")
    flags.add_argument("--repeats", type=int, default=repeats, help="runs of every trial")
    flags.add_argument("--master", default=None, help="Spark master for `python` runs")
    if one_study:
        flags.add_argument("--workers", type=int, default=None, help="default: Spark's slots")
        flags.add_argument(
            "--resume",
            action="store_true",
            help="continue the last run (without it, a run replaces the last one's directory)",
        )
    return flags


def session(master: str | None, name: str, *, default_master: str | None = None) -> Any:
    """The Spark session: ``--master`` when given, else spark-submit's, else ``default_master``.

    Returns None when there is nothing to choose (experiment.launch takes the active session or
    starts one). Under spark-submit (or the pyspark shell) the JVM that launched this Python
    holds the master, and ``default_master`` does not override it.
    """
    launched_by_spark = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is None and not launched_by_spark:
        master = default_master
    if master is None and default_master is None:
        return None
    from pyspark.sql import SparkSession

    from autoablation import SPARK_CONF

    builder = SparkSession.builder.appName(name)
    if master is not None:
        builder = builder.master(master)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    return builder.config(map=SPARK_CONF).getOrCreate()  # workers forked with Keras loaded


def launch_options(args: argparse.Namespace) -> dict[str, Any]:
    """What every example passes to experiment.launch from its flags."""
    return {
        "num_workers": args.workers,
        "repeats": args.repeats,
        "resume": args.resume,
        "overwrite": not args.resume,
    }
