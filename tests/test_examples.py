"""The quick start runs as a user would run it: with python, and with spark-submit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart.py"


def run(command: list[str]) -> str:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def check_table(out: str) -> None:
    assert "Ablation study 'titanic' (loco): 8 trials (8 ok)" in out
    lines = out[out.index("rank  kind") :].splitlines()
    assert len([line for line in lines[1:] if line.strip()]) == 8
    names = {"sex", "pclass", "age", "sibsp", "parch", "my_dense_two", "my_dense_three", "base"}
    assert names <= set(out.split())


def test_quickstart_runs_with_python() -> None:
    check_table(run([sys.executable, str(QUICKSTART), "--epochs", "1", "--master", "local[2]"]))


def test_quickstart_runs_with_spark_submit() -> None:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    check_table(run([str(spark_submit), "--master", "local[2]", str(QUICKSTART), "--epochs", "1"]))
