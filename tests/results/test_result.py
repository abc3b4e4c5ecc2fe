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


def test_the_summary_adds_up_what_workers_spent_importing_tensorflow() -> None:
    import dataclasses

    from autoablation._core.trial import TENSORFLOW_IMPORT

    plain = results([0.8, 0.7, 0.6])
    first = [
        dataclasses.replace(plain[0], outputs={TENSORFLOW_IMPORT: 3.25}, worker="task0"),
        dataclasses.replace(plain[1], outputs={TENSORFLOW_IMPORT: 2.5}, worker="task1"),
        plain[2],
    ]
    text = str(ExperimentResult("e", first, notes=["num_workers=3 is more than ..."]))
    assert text.splitlines()[-2:] == [
        "  note: num_workers=3 is more than ...",
        "  note: 2 workers spent 5.8s importing TensorFlow before their first trial (at most "
        "3.2s each), beside 4.5s of training functions",
    ]
    assert "importing TensorFlow" not in str(ExperimentResult("e", plain))
    assert "2 workers spent 5.8s" in ExperimentResult("e", first)._repr_html_()


def test_the_log_and_driver_log_name_each_workers_import_time(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import logging

    from autoablation._core.trial import TENSORFLOW_IMPORT
    from autoablation._driver.events import LoggingListener
    from autoablation._driver.journal import DriverLog

    result = dataclasses.replace(
        results([0.8])[0], outputs={TENSORFLOW_IMPORT: 4.04}, worker="task0.0@driver"
    )
    log = DriverLog(tmp_path / "driver.log")
    with caplog.at_level(logging.INFO, logger="autoablation"):
        LoggingListener().trial_finished(result)
        log.trial_finished(result)
    log.experiment_ended("finished")
    line = "task0.0@driver spent 4.0s importing TensorFlow before its first trial (base)"
    assert line in caplog.text
    assert line in (tmp_path / "driver.log").read_text()
