"""The example notebook runs cell by cell in a real Jupyter kernel, as a notebook user runs it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.spark

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "titanic_notebook.ipynb"


def test_the_titanic_notebook_runs_and_shows_the_ranking(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:  # a quick run: the same notebook with fewer epochs and repeats
        cell.source = cell.source.replace("EPOCHS = 10", "EPOCHS = 1").replace(
            "REPEATS = 5", "REPEATS = 2"
        )
    NotebookClient(
        notebook,
        timeout=280,  # per cell, within pytest-timeout's 300 s for the test
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Ablation study 'titanic-notebook' (loco, 2 repeats): 12 trials (12 ok)" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the effects plot is displayed
