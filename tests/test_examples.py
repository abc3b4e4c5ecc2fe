"""The quick start runs as a user would run it: with python, and with spark-submit."""

from __future__ import annotations

import os
import re
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


def check_table(out: str, repeats: int) -> None:
    trials = 8 * repeats
    policy = f"loco, {repeats} repeats" if repeats > 1 else "loco"
    assert f"Ablation study 'titanic' ({policy}): {trials} trials ({trials} ok)" in out
    rows = re.findall(r"^\s*\d+\s{2}(?:feature|layer|base)\s", out, flags=re.M)
    assert len(rows) == 8
    names = {"sex", "pclass", "age", "sibsp", "parch", "my_dense_two", "my_dense_three", "base"}
    assert names <= set(out.split())


def test_quickstart_runs_with_python() -> None:
    out = run([sys.executable, str(QUICKSTART), "--epochs", "1", "--master", "local[2]"])
    check_table(out, repeats=3)
    assert "p (Holm)" in out and "journal, logs and plots:" in out


def test_quickstart_runs_with_spark_submit() -> None:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    command = [str(spark_submit), "--master", "local[2]", str(QUICKSTART), "--epochs", "1"]
    check_table(run([*command, "--repeats", "1"]), repeats=1)
