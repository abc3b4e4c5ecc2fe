"""An experiment directory written by autoablation before the package was split into rooms.

`tests/data/legacy-experiment` was written by commit 2325670 (the flat layout) running
`tests/data/make_legacy_experiment.py`. It must still report, and still resume.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoablation import AblationStudy, StudyError, TrialStatus, experiment, load
from autoablation._results.store import read_journal

LEGACY = Path(__file__).parents[1] / "data" / "legacy-experiment"


def table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x[:, 0] > 0).astype(int)})


def train(dataset_function: Any) -> float:
    x, _ = dataset_function.arrays()
    return float(x.shape[1] + np.random.normal(0, 0.01, size=x.shape[1])[-1])


def test_a_legacy_directory_still_reports() -> None:
    result = load(LEGACY)
    assert result.name == "legacy" and result.repeats == 2 and len(result.trials) == 6
    assert all(t.status is TrialStatus.OK for t in result.trials)
    ranking = result.ranking().set_index("ablated")
    assert set(ranking.index) == {"base", "a", "b"}
    assert round(float(ranking.loc["a", "delta"]), 4) == -1.0077


def test_the_report_command_reads_a_legacy_directory(tmp_path: Path, capsys: Any) -> None:
    from autoablation._results.cli import main

    assert main(["report", str(LEGACY), "--plots", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Ablation study 'legacy' (loco, 2 repeats): 6 trials (6 ok)" in out
    assert (tmp_path / "effects.png").exists()


def test_a_legacy_directory_resumes_with_one_more_repeat(spark: Any, tmp_path: Path) -> None:
    directory = tmp_path / "legacy"
    shutil.copytree(LEGACY, directory)
    before = {t.trial.trial_id: t.metric for t in load(directory).trials}
    study = AblationStudy(table(), label_name="y")
    study.features.include("a", "b")
    result = experiment.launch(
        train,
        study,
        name="legacy",
        repeats=3,
        experiment_dir=directory,
        resume=True,
        spark=spark,
        verbose=0,
    )
    assert len(result.trials) == 9 and result.ok
    kept = {t.trial.trial_id: t.metric for t in result.trials if t.trial.trial_id in before}
    assert kept == before  # the old results are kept as they were, not run again
    new = [t.trial for t in result.trials if t.trial.trial_id not in before]
    assert sorted(t.repeat for t in new) == [2, 2, 2]
    # The journal predates vary_split: the resumed run keeps its one fixed split, and says so.
    assert all(t.split_seed is None for t in new) and result.vary_split is False
    state = read_journal(directory / "journal.jsonl")
    assert state.runs == 2 and (state.fingerprint or {})["vary_split"] is False


def test_a_legacy_directory_was_trained_on_tensorflow_and_resumes_only_there(
    tmp_path: Path,
) -> None:
    from autoablation._driver.journal import ExperimentDir
    from autoablation._results.store import read_journal

    assert load(LEGACY).backend == "tensorflow"  # written before backends were recorded
    assert "Keras on tensorflow" in str(load(LEGACY)).splitlines()[0]
    directory = tmp_path / "legacy"
    shutil.copytree(LEGACY, directory)
    recorded = read_journal(directory / "journal.jsonl").fingerprint
    assert recorded is not None and "backend" not in recorded
    on_jax = ExperimentDir(directory)
    with pytest.raises(StudyError) as caught:
        on_jax.open({**recorded, "backend": "jax"}, resume=True, overwrite=False)
    assert "trained with Keras on 'tensorflow', and this launch runs on 'jax'" in str(caught.value)
    on_tensorflow = ExperimentDir(directory)
    state = on_tensorflow.open({**recorded, "backend": "tensorflow"}, resume=True, overwrite=False)
    on_tensorflow.close()
    assert len(state.results) == 6
