"""What the benchmarks share: a quiet local session, zero-work studies, tables and JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"


def session(workers: int, name: str, *, daemon: bool = True) -> Any:
    """A local[workers] session whose Python workers run this interpreter.

    With ``daemon`` (as `launch`'s own session), its workers are forked by autoablation's
    Python daemon, with Keras loaded; without, by PySpark's own (a session of plain Spark).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.ERROR)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{workers}]")
        .appName(name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if daemon:
        from autoablation import SPARK_CONF

        builder = builder.config(map=SPARK_CONF)  # workers forked with Keras loaded
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def feature_study(features: int) -> Any:
    """A study of ``features`` feature trials plus the base, on a tiny table."""
    from autoablation import AblationStudy

    columns = {f"f{i}": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] for i in range(features)}
    table = pd.DataFrame(columns).assign(y=[0, 1, 0, 1, 0, 1])
    study = AblationStudy(table, label_name="y")
    study.features.include([f"f{i}" for i in range(features)])
    return study


def run(
    spark: Any, train: Any, study: Any, name: str, workers: int, **options: Any
) -> pd.DataFrame:
    """One quiet study over the last run's directory; its result table, every trial ok."""
    return launch_ok(spark, train, study, name, workers, **options)[1]


def launch_ok(
    spark: Any, train: Any, study: Any, name: str, workers: int, **options: Any
) -> tuple[Any, pd.DataFrame]:
    """One quiet study over the last run's directory; its result and table, every trial ok."""
    from autoablation import experiment

    result = experiment.launch(
        train,
        study,
        name=name,
        spark=spark,
        num_workers=workers,
        overwrite=True,
        verbose=0,
        **options,
    )
    frame = result.to_pandas()
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    return result, frame


def span(frame: pd.DataFrame) -> float:
    """Last finish - first start, in seconds."""
    return float(frame["finished_at"].max() - frame["started_at"].min())


def span_per_trial_per_slot(frame: pd.DataFrame, workers: int) -> float:
    """(last finish - first start) x K / N, in seconds."""
    return span(frame) * workers / len(frame)


def add_runs(parser: argparse.ArgumentParser, default: int) -> None:
    """The ``--runs`` option: how often a benchmark repeats; its tables show medians."""
    parser.add_argument(
        "--runs", type=int, default=default, help="repeats; the figures are their medians"
    )


def median(values: Sequence[float]) -> float:
    """The median of a benchmark's runs."""
    return float(np.median(values))  # not the statistics module: bench/statistics.py shadows it


def spread(values: Sequence[float], scale: float = 1.0) -> str:
    """``min-max`` of the runs, for the tables."""
    return f"{min(values) * scale:.3g}-{max(values) * scale:.3g}"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def report(name: str, rows: list[dict[str, Any]], **extra: Any) -> None:
    """Print the table and write bench/results/<name>.json."""
    print(f"\n== {name} ==")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for key, value in extra.items():
        print(f"{key}: {value}")
    RESULTS.mkdir(exist_ok=True)
    document = {"benchmark": name, "machine": machine(), "rows": rows, **extra}
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2, default=str))
