"""Repeats, statistics, journal and tracking on a real local Spark session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoablation import AblationStudy, StudyError, experiment, load
from autoablation._results.store import read_journal

pytestmark = pytest.mark.spark


def planted_table(rows: int = 1500) -> pd.DataFrame:
    """Label from two informative features of known strength; two features of pure noise."""
    rng = np.random.default_rng(42)
    strong, weak, noise_a, noise_b = rng.normal(size=(4, rows))
    label = (2.0 * strong + 0.8 * weak + rng.normal(0, 0.3, rows) > 0).astype(int)
    return pd.DataFrame(
        {"strong": strong, "weak": weak, "noise_a": noise_a, "noise_b": noise_b, "y": label}
    )


def logistic() -> Any:
    import keras

    return keras.Sequential([keras.layers.Dense(1, activation="sigmoid", name="logit")])


def fit(dataset_function: Any, model_function: Any, reporter: Any) -> float:
    import keras

    model = model_function()
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit(
        dataset_function(15, 64),
        epochs=15,
        steps_per_epoch=dataset_function.steps_per_epoch(64),
        callbacks=[reporter.keras_callback("accuracy")],
        verbose=0,
    )
    return float(model.evaluate(dataset_function(1, 256, split="test"), verbose=0)[1])


def test_planted_truth_is_ranked_first_and_only_it_matters(spark: Any, tmp_path: Path) -> None:
    # Three components: with 7 repeats the exact test can reach the first Holm step (0.05/3).
    study = AblationStudy(planted_table(), label_name="y", test_fraction=0.3, seed=3)
    study.features.include(["strong", "weak", "noise_a"])
    study.model.set_base_model_generator(logistic)
    result = experiment.launch(
        fit,
        study,
        name="planted",
        spark=spark,
        repeats=7,
        min_effect=0.01,
        experiment_dir=tmp_path / "planted",
    )
    ranking = result.ranking().set_index("ablated")
    assert ranking.index[:2].tolist() == ["strong", "weak"]
    assert ranking.loc["strong", "delta"] < ranking.loc["weak", "delta"] < -0.02
    assert ranking.loc["strong", "decision"] == ranking.loc["weak", "decision"] == "matters"
    assert ranking.loc["noise_a", "decision"] != "matters", ranking.loc["noise_a"].to_dict()
    assert (ranking["n"] == 7).all()
    runs = result.to_pandas()
    assert (runs.groupby("repeat")["seed"].nunique() == 1).all()  # a repeat shares its seed
    assert (runs["split_seed"] == runs["seed"]).all()  # and its split (vary_split=True)
    assert len(result.trials[0].history) == 15  # the Keras callback reported every epoch
    assert (tmp_path / "planted" / "plots" / "effects.png").exists()
    assert "to settle" not in str(result) or "undecided" in str(result)


def held_out_rows(dataset_function: Any) -> dict[str, Any]:
    _, row_numbers = dataset_function.arrays("test")  # the label is the row number
    return {"metric": 0.5, "held_out": ",".join(str(int(r)) for r in row_numbers)}


def numbered_study(features: list[str]) -> AblationStudy:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", "b"]).assign(y=np.arange(40.0))
    study = AblationStudy(table, label_name="y", test_fraction=0.25, seed=11)
    study.features.include(features)
    return study


def test_each_repeat_holds_out_its_own_rows_for_every_configuration(
    spark: Any, tmp_path: Path
) -> None:
    where = tmp_path / "splits"
    result = experiment.launch(
        held_out_rows, numbered_study(["a", "b"]), spark=spark, repeats=3, experiment_dir=where
    )
    runs = result.to_pandas()
    per_repeat = runs.groupby("repeat")["held_out"].nunique()
    assert (per_repeat == 1).all()  # the base and every component: the same held-out rows
    splits = runs.groupby("repeat")["held_out"].first()
    assert splits.nunique() == 3  # each repeat its own
    fixed = experiment.launch(
        held_out_rows,
        numbered_study(["a", "b"]),
        spark=spark,
        repeats=2,
        vary_split=False,
        experiment_dir=tmp_path / "fixed",
    ).to_pandas()
    assert fixed["held_out"].nunique() == 1 and fixed["split_seed"].isna().all()
    assert fixed["held_out"].iloc[0] == splits.loc[0]  # repeat 0 holds out the study's rows
    assert load(where).vary_split is True
    with pytest.raises(StudyError, match=r"holds a different study.*vary_split: True then, False"):
        experiment.launch(
            held_out_rows,
            numbered_study(["a", "b"]),
            spark=spark,
            vary_split=False,
            experiment_dir=where,
            resume=True,
        )


def zero(dataset_function: Any, reporter: Any) -> float:
    return 0.5


def constant(value: float) -> Any:
    def zero(dataset_function: Any, reporter: Any) -> float:
        return value

    return zero


def titanic_study(titanic: pd.DataFrame, features: list[str], seed: int = 0) -> AblationStudy:
    study = AblationStudy(titanic, label_name="survived", seed=seed)
    study.features.include(features)
    return study


def test_a_resumed_study_runs_only_its_new_trials(
    spark: Any, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    where = tmp_path / "grow"
    first = experiment.launch(
        zero, titanic_study(titanic, ["pclass"]), spark=spark, experiment_dir=where
    )
    assert len(first.trials) == 2
    grown = experiment.launch(
        zero,
        titanic_study(titanic, ["pclass", "sex"]),
        spark=spark,
        experiment_dir=where,
        repeats=2,
        resume=True,
    )
    assert len(grown.trials) == 6
    journal = [line for line in (where / "journal.jsonl").read_text().splitlines() if line]
    runs = [i for i, line in enumerate(journal) if '"event": "experiment"' in line]
    started = [line for line in journal[runs[1] :] if '"event": "started"' in line]
    assert len(started) == 4
    assert not any(t.trial.trial_id in "".join(started) for t in first.trials)
    with pytest.raises(StudyError, match=r"holds a different study.*seed: 0 then, 9 now"):
        experiment.launch(
            zero,
            titanic_study(titanic, ["pclass"], seed=9),
            spark=spark,
            experiment_dir=where,
            resume=True,
        )
    with pytest.raises(StudyError, match=r"training function tests\.e2e\.test_statistics\.co"):
        experiment.launch(  # another function: its results must not be paired with zero's
            constant(0.5),
            titanic_study(titanic, ["pclass"]),
            spark=spark,
            experiment_dir=where,
            resume=True,
        )


def test_a_resume_whose_training_function_reads_another_value_is_refused(
    spark: Any, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    study = titanic_study(titanic, ["pclass"])
    first = experiment.launch(constant(0.5), study, spark=spark, experiment_dir=tmp_path)
    again = experiment.launch(
        constant(0.5), study, spark=spark, experiment_dir=tmp_path, resume=True
    )
    assert [t.metric for t in again.trials] == [t.metric for t in first.trials] == [0.5, 0.5]
    with pytest.raises(
        StudyError, match=r"constant\.<locals>\.zero is not the one whose results .* holds"
    ):
        experiment.launch(constant(0.75), study, spark=spark, experiment_dir=tmp_path, resume=True)


def chatty(reporter: Any) -> float:
    import tensorflow as tf

    print(f"hello from {reporter.ablated}")
    with tf.summary.create_file_writer(reporter.tensorboard_dir).as_default():
        tf.summary.scalar("loss", 0.25, step=0)
    return 1.0


def test_prints_tensorboard_and_mlflow_reach_the_driver(
    spark: Any, titanic: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    where = tmp_path / "chatty"
    result = experiment.launch(
        chatty, titanic_study(titanic, ["sex"]), name="chatty", spark=spark, experiment_dir=where
    )
    for trial in result.trials:
        folder = where / "trials" / trial.trial.trial_id
        assert (folder / "output.log").read_text() == f"hello from {trial.trial.ablated}\n"
        events = list((where / "tensorboard" / trial.trial.trial_id).glob("events.out.tfevents.*"))
        assert len(events) == 1
    assert "[feature:sex] hello from sex" in (where / "driver.log").read_text()
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("autoablation/chatty").experiment_id])
    assert sorted(r.data.tags.get("ablated", "parent") for r in runs) == ["base", "parent", "sex"]
    assert read_journal(where / "journal.jsonl").ended == "finished"
    assert len(load(where).trials) == 2


def planted_metric(dataset_function: Any) -> float:
    """0.8, 0.2 less without 'strong', and noise that differs between configurations."""
    names = dataset_function.feature_names
    noise = np.random.normal(0, 0.01, size=len(names) + 1)[-1]  # seeded by the trial's seed
    return 0.8 - (0.0 if "strong" in names else 0.2) + float(noise)


def test_a_sequential_study_stops_each_component_at_its_own_look(
    spark: Any, tmp_path: Path
) -> None:
    study = AblationStudy(planted_table(200), label_name="y")
    study.features.include(["strong", "noise_a"])
    directory = tmp_path / "sequential"
    options: dict[str, Any] = {
        "name": "sequential",
        "spark": spark,
        "repeats": "auto",
        "min_effect": 0.05,
        "max_repeats": 16,
        "experiment_dir": directory,
        "verbose": 0,
    }
    result = experiment.launch(planted_metric, study, **options)
    assert result.sequential is not None and result.ok
    ranking = result.ranking().set_index("ablated")
    assert ranking.loc["strong", "decision"] == "matters"
    assert ranking.loc["noise_a", "decision"] == "negligible"
    runs = result.to_pandas().groupby("ablated")["repeat"].max() + 1
    assert runs["noise_a"] == 6 and runs["strong"] < 16 and runs["base"] == runs["strong"]
    assert len(result.trials) < 3 * 16  # against a fixed design of max_repeats
    state = read_journal(directory / "journal.jsonl")
    assert state.design is not None and {look["ablated"] for look in state.looks} == {
        "strong",
        "noise_a",
    }
    reloaded = load(directory).ranking().set_index("ablated")
    assert (reloaded["decision"] == ranking["decision"]).all()  # recomputed offline
    again = experiment.launch(planted_metric, study, resume=True, **options)
    assert [t.trial.trial_id for t in again.trials] == [t.trial.trial_id for t in result.trials]
    assert again.job_group == ""  # nothing ran again
