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

import inspect
import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from autoablation._core.backends import backend_in_force
from autoablation._core.errors import DatasetError, StudyError
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


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


class DatasetFunction:
    """Batches of ``(x, y)`` for one trial: every feature column except the ablated ones.

    Attributes:
        ablated_features: The feature columns this trial removes.
    """

    def __init__(
        self, data: DataHandle, ablated_features: tuple[str, ...] = (), *, seed: int = 0
    ) -> None:
        self._data = data
        self.ablated_features = ablated_features
        self._seed = seed

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
        batch_size = _positive_int("batch_size", batch_size)
        return max(1, math.ceil(self.num_rows(split) / batch_size))

    def arrays(
        self, split: Split = "train"
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.generic]]:
        """The split as NumPy arrays ``(x, y)``, for ``model.fit(x, y)`` or other libraries."""
        return self._data.value.arrays(split, self.ablated_features)

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
        num_epochs = _positive_int("num_epochs", num_epochs)
        batch_size = _positive_int("batch_size", batch_size)
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        x, y = self.arrays(split)
        shuffled = split == "train" if shuffle is None else shuffle
        if backend_in_force().name != "tensorflow":
            from autoablation._data.batches import ArrayBatches

            return ArrayBatches(x, y, batch_size, num_epochs, self._seed if shuffled else None)
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffled:
            dataset = dataset.shuffle(len(x), seed=self._seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).repeat(num_epochs).prefetch(tf.data.AUTOTUNE)

    def __repr__(self) -> str:
        dropped = ", ".join(self.ablated_features) or "nothing"
        return f"DatasetFunction(width={self.input_width}, without {dropped})"


_GENERATOR_EXTRAS = ("split", "ablated_feature", "ablated_features")


def generator_extras(generator: Callable[..., Any]) -> frozenset[str]:
    """Which of ``split``, ``ablated_feature``, ``ablated_features`` a generator declares.

    Raises:
        StudyError: It cannot be called as ``generator(num_epochs, batch_size)``.
    """
    try:
        signature = inspect.signature(generator)
    except (TypeError, ValueError) as exc:
        raise StudyError(f"cannot read the dataset generator's signature: {exc}") from exc
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        extras = frozenset(_GENERATOR_EXTRAS)
    else:
        extras = frozenset(name for name in _GENERATOR_EXTRAS if name in signature.parameters)
    try:
        signature.bind(1, 1, **dict.fromkeys(extras))  # how GeneratedDataset calls it
    except TypeError as exc:
        raise StudyError(
            f"the dataset generator must accept (num_epochs, batch_size) positionally: {exc}"
        ) from exc
    return extras


class GeneratedDataset:
    """``dataset_function`` for a study's own dataset generator, told what the trial removes.

    Unlike Maggy, which called a custom generator the same way in every trial, the generator
    receives ``ablated_feature`` (the feature's name, a tuple for a group, or None) and
    ``ablated_features`` (always a tuple) when it declares them, and ``split``.
    """

    def __init__(self, generator: Callable[..., Any], ablated_features: tuple[str, ...]) -> None:
        self._generator = generator
        self._extras = generator_extras(generator)
        self.ablated_features = ablated_features

    def __call__(self, num_epochs: int = 1, batch_size: int = 32, split: str = "train") -> Any:
        """Call the generator for this trial.

        Raises:
            DatasetError: A split other than ``"train"`` from a generator without ``split``.
        """
        kwargs: dict[str, Any] = {}
        if "split" in self._extras:
            kwargs["split"] = split
        elif split != "train":
            raise DatasetError(
                f"the study's dataset generator declares no 'split' parameter, so it cannot "
                f"give the {split!r} split"
            )
        if "ablated_feature" in self._extras:
            removed = self.ablated_features
            kwargs["ablated_feature"] = (
                None if not removed else removed[0] if len(removed) == 1 else removed
            )
        if "ablated_features" in self._extras:
            kwargs["ablated_features"] = self.ablated_features
        return self._generator(num_epochs, batch_size, **kwargs)

    def __repr__(self) -> str:
        dropped = ", ".join(self.ablated_features) or "nothing"
        name = getattr(self._generator, "__name__", "generator")
        return f"GeneratedDataset({name}, without {dropped})"
