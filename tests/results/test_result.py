from autoablation import ExperimentResult, TrialResult, TrialStatus
from tests.helpers import make_trials


def results(
    metrics: list[float | None], statuses: list[TrialStatus] | None = None
) -> list[TrialResult]:
    trials = make_trials(len(metrics))
    statuses = statuses or [TrialStatus.OK] * len(metrics)
    return [
        TrialResult(
            t,
            s,
            metric=m,
            started_at=100.0,
            finished_at=101.5,
            worker="w",
            error="" if s is TrialStatus.OK else "Traceback\nValueError: bad",
        )
        for t, m, s in zip(trials, metrics, statuses, strict=True)
    ]


def test_to_pandas_has_one_row_per_trial_with_the_documented_columns() -> None:
    frame = ExperimentResult("e", results([0.8, 0.7])).to_pandas()
    assert list(frame.columns[:10]) == [
        "trial_id",
        "kind",
        "ablated",
        "metric",
        "status",
        "error",
        "duration_s",
        "started_at",
        "finished_at",
        "worker",
    ]
    assert frame["duration_s"].tolist() == [1.5, 1.5] and frame["kind"].tolist() == [
        "base",
        "feature",
    ]


def test_the_ranking_puts_the_most_harmful_removal_first_for_max() -> None:
    ranking = ExperimentResult("e", results([0.8, 0.6, 0.9])).ranking()
    assert ranking["ablated"].tolist() == ["f1", "base", "f2"]
    assert ranking["delta"].round(3).tolist() == [-0.2, 0.0, 0.1]


def test_for_min_the_largest_metric_is_the_most_harmful() -> None:
    ranking = ExperimentResult("e", results([0.3, 0.5, 0.1]), direction="min").ranking()
    assert ranking["ablated"].tolist() == ["f1", "base", "f2"]


def test_failed_trials_come_last_and_are_explained() -> None:
    result = ExperimentResult(
        "e",
        results([0.8, None, 0.7], [TrialStatus.OK, TrialStatus.FAILED, TrialStatus.OK]),
    )
    ranking = result.ranking()
    assert ranking["ablated"].tolist() == ["f2", "base", "f1"]
    assert ranking.iloc[-1]["note"] == "no repeat succeeded" and ranking.iloc[-1]["failed"] == 1
    text = str(result)
    assert "feature:f1: ValueError: bad" in text and "(2 ok, 1 failed)" in text
    assert not result.ok


def test_extra_returned_values_become_columns_without_hiding_the_standard_ones() -> None:
    (one,) = results([0.8])
    one = TrialResult(one.trial, one.status, metric=0.8, outputs={"loss": 0.1, "status": "x"})
    frame = ExperimentResult("e", [one]).to_pandas()
    assert frame["loss"].tolist() == [0.1] and frame["output_status"].tolist() == ["x"]
    assert frame["status"].tolist() == ["ok"]


def test_printing_shows_a_ranked_table() -> None:
    text = str(ExperimentResult("titanic", results([0.8, 0.6]), duration_s=12.0))
    assert (
        text.splitlines()[0]
        == "Ablation study 'titanic' (loco): 2 trials (2 ok), 'metric', higher is better, 12.0s"
    )
    assert "-0.2000" in text and "0.6000" in text
    assert "note: one paired repeat: no interval or test" in text


def test_printing_notes_which_configurations_got_a_projection(tmp_path) -> None:
    import json

    from autoablation import load
    from autoablation._driver.journal import ExperimentDir, JournalWriter

    trials = results([0.8, 0.6])
    projections = {
        trials[1].trial.label: ["f1_projection (Dense) in place of 'f1': (None, 4) -> (None, 8)"]
    }
    result = ExperimentResult("e", trials, projections=projections)
    assert result.projections == projections
    assert (
        f"note: {trials[1].trial.label} trained with a learned projection, as its removal could "
        "not build without one: f1_projection (Dense)" in str(result)
    )
    assert "f1_projection (Dense)" in result._repr_html_()
    assert "projection" not in str(ExperimentResult("e", trials))
    directory = ExperimentDir(tmp_path)
    directory.open({}, resume=False, overwrite=False)
    writer = JournalWriter(directory, fingerprint={}, options={}, previous={})
    writer.experiment_started("e", [t.trial for t in trials], 0)
    for trial in trials:
        writer.trial_finished(trial)
    writer.experiment_ended("finished")
    directory.write_study(
        {"name": "e", "trials": [t.trial.to_dict() for t in trials], "projections": projections}
    )
    directory.close()
    assert load(tmp_path).projections == projections
    assert json.loads((tmp_path / "study.json").read_text())["projections"] == projections
