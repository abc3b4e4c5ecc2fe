"""Driver-side helpers shared by the examples: command-line flags and the Spark session.

Only the driver uses this module: functions that executors run live in each example itself, so
Spark ships them by value and executors need nothing but autoablation installed.
"""

from __future__ import annotations

import argparse
from typing import Any


def parser(description: str, *, epochs: int, repeats: int) -> argparse.ArgumentParser:
    """The flags every example takes."""
    flags = argparse.ArgumentParser(description=description)
    flags.add_argument("--epochs", type=int, default=epochs, help="training epochs per trial")
    flags.add_argument("--repeats", type=int, default=repeats, help="runs of every trial")
    flags.add_argument("--workers", type=int, default=None, help="default: Spark's task slots")
    flags.add_argument("--master", default=None, help="Spark master for `python` runs")
    flags.add_argument("--resume", action="store_true", help="continue the last run")
    return flags


def session(master: str | None, name: str) -> Any:
    """The Spark session: ``--master`` when given, else spark-submit's or PySpark's default."""
    if master is None:
        return None  # experiment.launch takes the active session or starts one
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(name)
    return builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()


def launch_options(args: argparse.Namespace) -> dict[str, Any]:
    """What every example passes to experiment.launch from its flags."""
    return {
        "num_workers": args.workers,
        "repeats": args.repeats,
        "resume": args.resume,
        "overwrite": not args.resume,
    }
