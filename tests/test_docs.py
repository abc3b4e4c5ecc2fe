"""The examples in docs/ run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

DOCS = Path(__file__).resolve().parent.parent / "docs"


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
