"""Looking inside what a custom dataset generator returns, whatever its kind.

A generator may return a ``tf.data.Dataset``, a Keras ``PyDataset`` (or ``Sequence``), a Python
iterator of batches, or the whole split as arrays, ``(x, y)`` or ``(x, y, weights)``. Each is
read here the same way: its first batch, the batches and rows of one pass, and its arrays, all
as NumPy (nested in the same tuples, lists and dicts). TensorFlow is never imported here: a
dataset's tensors become arrays through ``numpy()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from autoablation._core.errors import DatasetError

MAX_BATCHES = 1_000_000
"""Batches counted in one pass before a generator counts as endless."""
INFINITE = -1
"""A ``tf.data`` cardinality: the dataset repeats forever."""
_CONTAINERS = (tuple, list)


def _is_array(value: Any) -> bool:
    """An array or a tensor (not a container of them, not a string)."""
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, (str, bytes, Mapping, *_CONTAINERS)) or np.isscalar(value):
        return False
    return callable(getattr(value, "numpy", None)) or hasattr(value, "__array__")


def as_numpy(value: Any) -> Any:
    """``value`` with every array or tensor in it (in tuples, lists, dicts) as a NumPy array."""
    if isinstance(value, Mapping):
        return {key: as_numpy(item) for key, item in value.items()}
    if isinstance(value, _CONTAINERS):
        return type(value)(as_numpy(item) for item in value)
    if _is_array(value) and not isinstance(value, np.ndarray):
        to_numpy = getattr(value, "numpy", None)
        return np.asarray(to_numpy() if callable(to_numpy) else value)
    return value


def _is_split(value: Any) -> bool:
    """Whether ``value`` is a whole split as arrays: ``(x, y)`` or ``(x, y, weights)``."""
    if not isinstance(value, _CONTAINERS) or len(value) not in (2, 3):
        return False
    return all(
        _is_array(item)
        or (isinstance(item, Mapping) and item and all(map(_is_array, item.values())))
        for item in value
    )


def kind(value: Any) -> str:
    """What a generator returned: ``"arrays"``, ``"dataset"``, ``"sequence"`` or ``"iterable"``.

    ``"arrays"`` is a whole split (``(x, y)``, ``(x, y, w)`` or a dict of arrays),
    ``"dataset"`` a ``tf.data.Dataset``, ``"sequence"`` a Keras ``PyDataset``.

    Raises:
        DatasetError: ``value`` is none of them.
    """
    if _is_split(value) or isinstance(value, Mapping):  # (x, y), or named arrays
        return "arrays"
    if callable(getattr(value, "cardinality", None)) and hasattr(value, "__iter__"):
        return "dataset"
    if hasattr(value, "__getitem__") and hasattr(value, "__len__"):
        return "sequence"
    if hasattr(value, "__iter__"):
        return "iterable"
    raise DatasetError(
        f"the dataset generator returned {type(value).__name__}; expected a tf.data.Dataset, a "
        "Keras PyDataset, an iterator of batches, or the split's arrays as (x, y)"
    )


def batches(value: Any) -> Iterator[Any]:
    """The batches of one pass, as NumPy; a whole split as arrays is one batch."""
    shape = kind(value)
    if shape == "arrays":
        yield as_numpy(value)
    elif shape == "sequence":
        for index in range(len(value)):
            yield as_numpy(value[index])
    else:
        if shape == "dataset" and int(value.cardinality()) == INFINITE:
            raise DatasetError(
                "the dataset generator's dataset repeats forever, so one pass over it has no "
                "end; make it stop after num_epochs passes (dataset.repeat(num_epochs))"
            )
        for batch in value:
            yield as_numpy(batch)


def first_batch(value: Any) -> Any:
    """The first batch (or the whole split, for arrays), as NumPy; None for an empty pass."""
    return next(batches(value), None)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [leaf for key in sorted(value, key=str) for leaf in _leaves(value[key])]
    if isinstance(value, _CONTAINERS):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def same(a: Any, b: Any) -> bool:
    """Whether two batches hold the same structure, shapes, types and values."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
            return False
        return all(same(a[key], b[key]) for key in a)
    if isinstance(a, _CONTAINERS) or isinstance(b, _CONTAINERS):
        if type(a) is not type(b) or len(a) != len(b):
            return False
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        left, right = np.asarray(a), np.asarray(b)
        return (
            left.shape == right.shape
            and left.dtype == right.dtype
            and bool(np.array_equal(left, right, equal_nan=left.dtype.kind in "fc"))
        )
    return bool(a == b)


def features_of(batch: Any) -> Any:
    """The model's input part of a batch: ``x`` of ``(x, y[, w])``, else the batch itself."""
    return batch[0] if isinstance(batch, _CONTAINERS) and len(batch) in (2, 3) else batch


def rows_of(batch: Any) -> int:
    """Rows in a batch: the length of its first array's first axis."""
    leaves = [leaf for leaf in _leaves(batch) if isinstance(leaf, np.ndarray) and leaf.ndim]
    if not leaves:
        raise DatasetError("a batch of the dataset generator holds no array with rows")
    return int(leaves[0].shape[0])


def _passes(value: Any) -> Iterator[Any]:
    """The batches of one pass, refusing one that does not end."""
    for number, batch in enumerate(batches(value), 1):
        if number > MAX_BATCHES:
            raise DatasetError(
                f"one pass of the dataset generator gave more than {MAX_BATCHES:,} batches; "
                "if it never ends, make it stop after num_epochs passes"
            )
        yield batch


def batches_per_pass(value: Any, batch_size: int) -> int:
    """Batches in one pass; a whole split as arrays counts in batches of ``batch_size`` rows.

    A dataset or sequence that knows its length is not read.

    Raises:
        DatasetError: The pass never ends.
    """
    shape = kind(value)
    if shape == "arrays":
        return max(1, math.ceil(rows_of(as_numpy(value)) / batch_size))
    if shape == "sequence":
        return len(value)
    if shape == "dataset":
        known = int(value.cardinality())
        if known >= 0:
            return known
    return sum(1 for _ in _passes(value))


def rows_per_pass(value: Any) -> int:
    """Rows in one pass (read to its end, except a whole split as arrays).

    Raises:
        DatasetError: The pass never ends, or a batch holds no array.
    """
    return sum(rows_of(batch) for batch in _passes(value))


def concatenated(value: Any) -> Any:
    """One pass of batches joined along the rows, in the batches' own structure.

    Raises:
        DatasetError: The pass is empty.
    """
    parts = list(_passes(value))
    if not parts:
        raise DatasetError("one pass of the dataset generator gave no batch")
    return _join(parts)


def _join(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, Mapping):
        return {key: _join([part[key] for part in parts]) for key in first}
    if isinstance(first, _CONTAINERS):
        return type(first)(_join([part[i] for part in parts]) for i in range(len(first)))
    return np.concatenate([np.asarray(part) for part in parts], axis=0)
