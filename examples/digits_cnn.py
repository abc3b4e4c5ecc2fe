"""Experiment 2 of the AutoAblation paper (Table 2): layer ablation of a small CNN.

scikit-learn's handwritten digits (1,797 8x8 images, shipped with the package) and the paper's
CNN: two Conv2D layers, MaxPooling2D, Dropout, Flatten, Dense, Dropout and a Dense output. The
study removes the second convolution, the dense layer and each dropout; five repeats, accuracy on
360 held-out images.

    python examples/digits_cnn.py
    spark-submit --master "local[2]" examples/digits_cnn.py --epochs 5
"""

from __future__ import annotations

import math
from typing import Any

from common import launch_options, parser, session

from autoablation import AblationStudy, experiment

TEST_IMAGES = 360
TRAIN_IMAGES = 1797 - TEST_IMAGES


def digits(num_epochs: int, batch_size: int, split: str = "train") -> Any:
    """The digits as (8, 8, 1) images; the same 360 images are always held out."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images[..., None].astype("float32") / 16.0
    order = np.random.default_rng(0).permutation(len(images))
    rows = order[:TEST_IMAGES] if split == "test" else order[TEST_IMAGES:]
    dataset = tf.data.Dataset.from_tensor_slices((images[rows], data.target[rows]))
    if split == "train":  # the trial's seed (set by autoablation) orders the shuffle
        dataset = dataset.shuffle(len(rows), reshuffle_each_iteration=True)
    return dataset.batch(batch_size).repeat(num_epochs)


def cnn() -> Any:
    """The paper's CNN, with the layers the study removes named."""
    import keras

    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="first_conv"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="second_conv"),
            keras.layers.MaxPooling2D(2, name="pooling"),
            keras.layers.Dropout(0.25, name="first_dropout"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(128, activation="relu", name="dense_layer"),
            keras.layers.Dropout(0.5, name="second_dropout"),
            keras.layers.Dense(10, activation="softmax", name="digit"),
        ]
    )


def make_train(epochs: int, batch_size: int = 64) -> Any:
    def train(dataset_function: Any, model_function: Any, reporter: Any) -> float:
        model = model_function()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(
            dataset_function(epochs, batch_size),
            epochs=epochs,
            steps_per_epoch=math.ceil(TRAIN_IMAGES / batch_size),
            callbacks=[reporter.keras_callback("accuracy")],
            verbose=0,
        )
        _, accuracy = model.evaluate(dataset_function(1, batch_size, split="test"), verbose=0)
        return float(accuracy)

    return train


def main() -> None:
    args = parser(__doc__.splitlines()[0], epochs=10, repeats=5).parse_args()
    spark = session(args.master, "digits-cnn")
    study = AblationStudy(dataset_generator=digits)
    study.model.set_base_model_generator(cnn)
    study.model.layers.include("second_conv", "dense_layer", "first_dropout", "second_dropout")
    result = experiment.launch(
        make_train(args.epochs), study, name="digits-cnn", spark=spark, **launch_options(args)
    )
    print(result)
    print(f"\njournal, logs and plots: {result.experiment_dir}")


if __name__ == "__main__":
    main()
