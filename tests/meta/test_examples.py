"""The examples run as a user would run them: with python, with spark-submit, and in a session.

The titanic example starts a process of its own, as ``spark-submit`` does (and the notebook
test a Jupyter kernel); the quick start, digits and inception examples run in this process's
Spark session, as a notebook that runs a script with ``%run`` does (`examples/common.py`'s
`session` takes the running session): the same scripts, without another JVM and three more
TensorFlow imports each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_script

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.py"


def run(command: list[str]) -> str:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=280, cwd=ROOT, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def run_in_session(spark: Any, capsys: pytest.CaptureFixture[str], script: Path, *args: str) -> str:
    """Run ``script`` as ``__main__`` in this process, whose Spark session it takes; its stdout."""
    assert spark is not None  # the session the example's `session()` or `launch` takes
    run_script(script, *args)  # forgets the examples' helper module, imported by name
    return capsys.readouterr().out


def check_table(out: str, repeats: int) -> None:
    trials = 8 * repeats
    policy = f"loco, {repeats} repeats" if repeats > 1 else "loco"
    assert f"Ablation study 'titanic' ({policy}): {trials} trials ({trials} ok)" in out
    rows = re.findall(r"^\s*\d+\s{2}(?:feature|layer|base)\s", out, flags=re.M)
    assert len(rows) == 8
    names = {"sex", "pclass", "age", "sibsp", "parch", "my_dense_two", "my_dense_three", "base"}
    assert names <= set(out.split())


def test_quickstart_runs_in_a_session(spark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # What `make demo` runs (with fewer epochs and repeats); the titanic test below starts a
    # process of its own with spark-submit, and the notebook test a Jupyter kernel.
    flags = ["--master", "local[2]", "--epochs", "1", "--repeats", "2"]
    out = run_in_session(spark, capsys, QUICKSTART, *flags)
    check_table(out, repeats=2)
    assert "p (Holm)  decision" in out and "journal, logs and plots:" in out
    assert not re.search(r"\smatters$", out, flags=re.M)  # two repeats cannot show an effect
    assert "to settle the 7 undecided components" in out


def runs_root() -> Path:
    return Path(os.environ["AUTOABLATION_RUNS"])  # set for the session by conftest


def test_the_titanic_experiment_runs_with_spark_submit() -> None:
    spark_submit = Path(sys.executable).parent / "spark-submit"
    script = ROOT / "examples" / "titanic_features.py"
    out = run(
        [str(spark_submit), "--master", "local[2]", str(script), "--epochs", "1", "--repeats", "2"]
    )
    assert "Ablation study 'titanic-features' (loco, 2 repeats): 12 trials (12 ok)" in out
    # A fresh session: its executor's Python daemon loaded Keras for this study, and says so.
    assert "Spark's Python daemon loaded Keras in" in out
    assert {"sex", "pclass", "age", "sibsp", "parch"} <= set(out.split())
    plots = runs_root() / "titanic-features" / "plots"
    assert (plots / "effects.png").stat().st_size > 0


def test_the_digits_cnn_experiment_runs_in_a_session(
    spark: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ROOT / "examples" / "digits_cnn.py"
    out = run_in_session(spark, capsys, script, "--epochs", "1", "--repeats", "1")
    assert "Ablation study 'digits-cnn' (loco): 5 trials (5 ok)" in out
    for layer in ("second_conv", "dense_layer", "first_dropout", "second_dropout"):
        assert f"  layer  {layer}" in out
    assert (runs_root() / "digits-cnn" / "plots" / "effects.png").stat().st_size > 0


def test_the_inception_experiment_reports_run_times_per_worker_count(
    spark: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    script = ROOT / "examples" / "inception_modules.py"
    flags = [
        "--images",
        "40",
        "--epochs",
        "1",
        "--modules",
        "1",
        "--workers-list",
        "1,2",
        "--eager",
    ]
    out = run_in_session(spark, capsys, script, *flags)
    assert out.count("Ablation study 'inception-") == 2
    assert "2 trials (2 ok)" in out
    assert out.count("module  max_pooling2d_1..mixed0") == 2  # one table per worker count
    scaling = runs_root() / "inception-scaling"
    rows = json.loads((scaling / "scaling.json").read_text())
    assert [row["workers"] for row in rows] == [1, 2]
    assert all(row["seconds"] > 0 and row["trials"] == 2 for row in rows)
    table = out[out.index("workers  run time (s)  speed-up over 1 worker\n") :]
    assert re.search(r"^\s+1\s+\d+\.\d\s+1\.00$", table, flags=re.M)
    two = rows[1]
    assert two["speedup"] == round(rows[0]["seconds"] / two["seconds"], 2)
    assert re.search(rf"^\s+2\s+{two['seconds']:.1f}\s+{two['speedup']:.2f}$", table, flags=re.M)
    assert (scaling / "scaling.png").stat().st_size > 0
