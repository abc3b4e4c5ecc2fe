"""Plots, the report command and MLflow tracking, from a study with planted effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autoablation import ExperimentResult
from tests.driver.test_journal import write_study
from tests.helpers import synthetic_results

EFFECTS = {"strong": -0.2, "weak": -0.03, "noise": 0.0, "helps": 0.02}


def test_plot_writes_the_effects_and_the_learning_curves(tmp_path: Path) -> None:
    result = ExperimentResult("planted", synthetic_results(EFFECTS, history=True))
    written = result.plot(tmp_path / "effects.png")
    assert written == [tmp_path / "effects.png", tmp_path / "effects-curves.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_a_large_study_plots_its_largest_effects_and_says_so() -> None:
    from autoablation._results import plots as _plots

    effects = {f"c{i:02d}": -i / 100 for i in range(60)}  # c59 matters most
    result = ExperimentResult("wide", synthetic_results(effects, repeats=2, history=True))
    ranking = result.ranking()
    figure = _plots.effects_figure(ranking, "metric", "max", "wide", top=5)
    axis = figure.axes[0]
    shown = [label.get_text().split()[0] for label in axis.get_yticklabels()]
    assert shown == ["c55", "c56", "c57", "c58", "c59"]  # the most harmful at the top
    assert axis.get_title().endswith("(the 5 largest of 60 effects)")
    everything = _plots.effects_figure(ranking, "metric", "max", "wide", top=None)
    assert len(everything.axes[0].get_yticklabels()) == 60
    largest = _plots.largest_effects(ranking, _plots.TOP_CURVES)
    shown = {("feature", name) for name in largest["ablated"]}
    curves = _plots.curves_figure(result.trials, "wide", shown)
    legend = [text.get_text() for text in curves.axes[0].get_legend().get_texts()]
    assert legend == ["base", *(f"feature:c{i}" for i in range(50, 60))]
    with pytest.raises(ValueError, match="top must be at least 1"):
        result.plot("unused.png", top=0)
    _plots._pyplot().close("all")


def test_without_broadcast_metrics_there_is_no_curves_figure(tmp_path: Path) -> None:
    result = ExperimentResult("planted", synthetic_results(EFFECTS, repeats=1))
    assert result.plot(tmp_path / "effects.png") == [tmp_path / "effects.png"]


def test_the_report_command_prints_the_ranking_and_writes_the_plots(tmp_path: Path) -> None:
    directory = write_study(tmp_path / "run", synthetic_results(EFFECTS, history=True))
    command = Path(sys.executable).parent / "autoablation"
    out = subprocess.run(
        [str(command), "report", str(directory.path)], capture_output=True, text=True, check=True
    ).stdout
    assert "Ablation study 'planted' (loco, 5 repeats): 25 trials (25 ok)" in out
    lines = out.splitlines()
    assert lines[1].split() == [
        "rank",
        "kind",
        "ablated",
        "n",
        "metric",
        "vs",
        "base",
        "p",
        "(Holm)",
        "decision",
    ]
    assert lines[2].split()[:3] == ["1", "feature", "strong"]
    assert (directory.path / "plots" / "effects.png").exists()
    assert (directory.path / "plots" / "effects-curves.png").exists()


def test_the_report_command_explains_a_missing_journal(tmp_path: Path) -> None:
    from autoablation._results.cli import main

    assert main(["report", str(tmp_path)]) == 2


def test_mlflow_gets_a_parent_run_and_a_child_run_per_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient  # a dev dependency: always there for the tests

    from autoablation._driver.tracking import MlflowListener

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file://{tmp_path / 'mlruns'}"
    results = synthetic_results({"strong": -0.2}, repeats=2, history=True)
    listener = MlflowListener("autoablation/planted", tracking_uri=uri, params={"repeats": 2})
    listener.experiment_started("planted", [r.trial for r in results], 0)
    for result in results:
        listener.trial_finished(result)
    listener.experiment_ended("finished")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("autoablation/planted")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].data.params == {"repeats": "2"}
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    strong = [c for c in children if c.data.tags["ablated"] == "strong"]
    assert {c.data.tags["repeat"] for c in strong} == {"0", "1"}
    assert strong[0].data.tags["kind"] == "feature" and "metric" in strong[0].data.metrics
    history = client.get_metric_history(strong[0].info.run_id, "broadcast")
    assert [m.step for m in history] == [0, 1, 2, 3]


def test_an_unreachable_mlflow_stops_tracking_without_stopping_the_study(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from autoablation._driver.tracking import MlflowListener

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    results = synthetic_results({"x": 0.0}, repeats=2)
    listener = MlflowListener("s", tracking_uri="http://127.0.0.1:9", params={})
    listener.experiment_started("s", [r.trial for r in results], 0)
    for result in results:
        listener.trial_finished(result)
    listener.experiment_ended("finished")
    messages = [r.getMessage() for r in caplog.records if r.name == "autoablation.mlflow"]
    assert any("so it stops for this study" in m for m in messages)
    assert any("dropped 5 events" in m for m in messages)


def test_a_study_still_running_prints_its_pending_trials_as_such() -> None:
    from autoablation import TrialResult, TrialStatus

    results = synthetic_results({"x": -0.2, "y": 0.0}, repeats=1)
    results[2] = TrialResult(results[2].trial, TrialStatus.PENDING)
    text = str(ExperimentResult("running", results))
    assert "1 trials have no result yet" in text and "feature:y:" not in text


def test_the_effects_plot_marks_decisions_and_the_negligible_band() -> None:
    from autoablation._results import plots as _plots

    result = ExperimentResult(
        "planted", synthetic_results({"strong": -0.2, "noise": 0.0}, repeats=8), min_effect=0.01
    )
    ranking = result.ranking()
    assert set(ranking["decision"]) == {"", "matters", "negligible"}
    figure = _plots.effects_figure(ranking, "metric", "max", "t", min_effect=0.01)
    axis = figure.axes[0]
    from matplotlib.collections import PathCollection

    scatters = [c for c in axis.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in scatters] == [1, 1]  # circles, then the square
    assert "shaded: within \u00b10.01 (min_effect)" in axis.get_xlabel()
    assert len(axis.patches) == 1  # the band of negligible effects
    _plots._pyplot().close("all")
