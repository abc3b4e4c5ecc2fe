"""The ``dataset_function`` a training function receives: the study's data minus a trial's features.

It is callable as in the AutoAblation paper, ``dataset_function(num_epochs, batch_size)``, and
also tells the training loop what it needs to size an epoch::

    train_ds = dataset_function(epochs, 32)                  # repeats `epochs` times
    model.fit(train_ds, epochs=epochs, steps_per_epoch=dataset_function.steps_per_epoch(32))
    model.evaluate(dataset_function(1, 32, split="test"))

On TensorFlow the batches come as a ``tf.data.Dataset``, on JAX and PyTorch as a
``keras.utils.PyDataset`` (`autoablation._data.batches`), so those backends never load TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from autoablation._core.backends import backend_in_force
from autoablation._core.errors import DatasetError
from autoablation._data.prepared import SPLITS, PreparedData, Split


class DataHandle(Protocol):
    """Where a worker finds the prepared data: a Spark broadcast or a local holder."""

    @property
    def value(self) -> PreparedData:
        """The prepared data."""
        ...


class LocalData:
    """A `DataHandle` for data already in this process (threads, tests, the driver)."""

    def __init__(self, data: PreparedData) -> None:
        self._data = data

    @property
    def value(self) -> PreparedData:
        """The prepared data."""
        return self._data


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int, refused unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


class DatasetFunction:
    """Batches of ``(x, y)`` for one trial: every feature column except the ablated ones.

    Attributes:
        ablated_features: The feature columns this trial removes.
    """

    def __init__(
        self,
        data: DataHandle,
        ablated_features: tuple[str, ...] = (),
        *,
        seed: int = 0,
        split_seed: int | None = None,
    ) -> None:
        self._data = data
        self.ablated_features = ablated_features
        self._seed = seed
        self.split_seed = split_seed
        """Seeds this repeat's train/test split; None: the study's fixed split."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns in ``x``, in order."""
        data = self._data.value
        return tuple(data.feature_names[i] for i in data.column_indices(self.ablated_features))

    @property
    def input_width(self) -> int:
        """Number of columns of ``x``."""
        return len(self.feature_names)

    @property
    def label_classes(self) -> tuple[str, ...] | None:
        """Class names in label-index order for a text label, else None."""
        return self._data.value.label.classes

    def num_rows(self, split: Split = "train") -> int:
        """How many rows a split holds."""
        return self._data.value.num_rows(split)

    def steps_per_epoch(self, batch_size: int, split: Split = "train") -> int:
        """Batches in one pass over a split (the last batch may be short)."""
        batch_size = positive_int("batch_size", batch_size)
        return max(1, math.ceil(self.num_rows(split) / batch_size))

    def arrays(
        self, split: Split = "train"
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.generic]]:
        """The split as NumPy arrays ``(x, y)``, for ``model.fit(x, y)`` or other libraries."""
        return self._data.value.arrays(split, self.ablated_features, self.split_seed)

    def __call__(
        self,
        num_epochs: int = 1,
        batch_size: int = 32,
        split: Split = "train",
        shuffle: bool | None = None,
    ) -> Any:
        """Return ``(x, y)`` batches of a split, ``num_epochs`` passes over it.

        On TensorFlow a ``tf.data.Dataset``; on JAX and PyTorch a ``keras.utils.PyDataset``
        (`ArrayBatches`) with the same batches, so no TensorFlow loads there. Both work in
        ``model.fit``, ``evaluate`` and ``predict``; `arrays` gives plain NumPy arrays.

        Args:
            num_epochs: Passes over the split the dataset yields.
            batch_size: Rows per batch.
            split: ``"train"``, ``"test"`` (held-out rows) or ``"all"``.
            shuffle: Reshuffle every pass; defaults to True for ``"train"`` only. The order
                is seeded by the trial's seed.

        Raises:
            DatasetError: A bad argument, or an empty split.
        """
        num_epochs = positive_int("num_epochs", num_epochs)
        batch_size = positive_int("batch_size", batch_size)
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        x, y = self.arrays(split)
        shuffled = split == "train" if shuffle is None else shuffle
        if backend_in_force().name != "tensorflow":
            from autoablation._data.arrays import ArrayBatches

            return ArrayBatches(x, y, batch_size, num_epochs, self._seed if shuffled else None)
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffled:
            dataset = dataset.shuffle(len(x), seed=self._seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).repeat(num_epochs).prefetch(tf.data.AUTOTUNE)

    def __repr__(self) -> str:
        dropped = ", ".join(self.ablated_features) or "nothing"
        return f"DatasetFunction(width={self.input_width}, without {dropped})"
