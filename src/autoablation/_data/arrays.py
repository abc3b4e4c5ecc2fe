"""Batches of NumPy arrays for Keras on JAX and PyTorch: no TensorFlow in the way.

On TensorFlow, ``dataset_function(...)`` gives a ``tf.data.Dataset``; on the other backends it
gives an `ArrayBatches`, a ``keras.utils.PyDataset`` with the same batches: ``num_epochs``
passes over the split, each pass in a new order drawn from the trial's seed (when shuffled),
the last batch of a pass short when the rows do not divide evenly. Imported only where Keras
is loaded already.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import numpy.typing as npt


class ArrayBatches(keras.utils.PyDataset):  # type: ignore[misc]
    """``passes`` passes over ``(x, y)`` in batches; batch ``i`` is the same every time it is read.

    Batch ``i`` belongs to pass ``i // steps``; with a seed, the pass's row order is a
    permutation drawn from ``(seed, pass)``, so every pass sees every row once, each in a
    new order, and the whole sequence depends on the seed alone (not on who reads it or in
    which order: Keras' ``fit(shuffle=True)``, its default, also shuffles the order of a
    PyDataset's batches).

    Args:
        x: Features, one row per example.
        y: Targets.
        batch_size: Rows per batch.
        passes: Passes over the rows (``num_epochs``).
        seed: Draws each pass's order; None keeps the rows in order.
    """

    def __init__(
        self,
        x: npt.NDArray[Any],
        y: npt.NDArray[Any],
        batch_size: int,
        passes: int,
        seed: int | None,
    ) -> None:
        super().__init__()  # one worker, no processes: the batches are slices of memory
        self._x = x
        self._y = y
        self._batch_size = batch_size
        self._passes = passes
        self._seed = None if seed is None else seed % 2**64  # SeedSequence takes no negatives
        self.steps = max(1, math.ceil(len(x) / batch_size))
        """Batches in one pass."""
        self._order: tuple[int, npt.NDArray[np.intp]] | None = None

    def __len__(self) -> int:
        return self.steps * self._passes

    def __getitem__(self, index: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        """The ``index``-th batch ``(x, y)``.

        Raises:
            IndexError: ``index`` is outside ``0 .. len - 1``.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: there are {len(self)}")
        done, step = divmod(index, self.steps)
        start = step * self._batch_size
        if self._seed is None:
            rows: Any = slice(start, start + self._batch_size)
        else:
            rows = self.order(done)[start : start + self._batch_size]
        return self._x[rows], self._y[rows]

    def order(self, pass_index: int) -> npt.NDArray[np.intp]:
        """The row order of one pass (its batches read it in slices)."""
        if self._seed is None:
            return np.arange(len(self._x))
        cached = self._order  # one tuple, swapped whole: safe for Keras' reader threads
        if cached is None or cached[0] != pass_index:
            generator = np.random.default_rng([self._seed, pass_index])
            cached = (pass_index, generator.permutation(len(self._x)))
            self._order = cached
        return cached[1]

    def __repr__(self) -> str:
        order = "in order" if self._seed is None else f"shuffled, seed {self._seed}"
        return (
            f"ArrayBatches({len(self._x)} rows, batches of {self._batch_size}, "
            f"{self._passes} passes, {order})"
        )
