"""The documentation builds without a warning, and its examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def test_the_user_defined_ablator_example_works(titanic: pd.DataFrame) -> None:
    namespace: dict[str, Any] = {}
    exec(python_blocks("ablators.md")[0], namespace)
    from autoablation import AblationStudy

    study = AblationStudy(titanic, label_name="survived")
    study.features.include(["sex", "pclass", "age"])
    trials = namespace["Cumulative"]().trials(study)
    assert [(t.kind, t.ablated) for t in trials] == [
        ("base", "base"),
        ("cumulative", "sex"),
        ("cumulative", "sex + pclass"),
        ("cumulative", "sex + pclass + age"),
    ]
    assert trials[3].removed_features == ("sex", "pclass", "age")
    assert namespace["Cumulative"].name == "cumulative"


def test_the_docs_build_in_strict_mode(tmp_path: Path) -> None:
    """Broken links, pages missing from the nav and bad API references all fail the build."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "api" / "index.html").read_text()
    assert (
        "AblationStudy" in api and "Add a trial without a module of a functional graph" in api
    )  # rendered from docstrings
    assert (tmp_path / "experiments" / "index.html").is_file()
