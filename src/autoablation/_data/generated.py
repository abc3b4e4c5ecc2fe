"""The ``dataset_function`` of a study's own dataset generator, told what the trial removes.

It has the default `DatasetFunction`'s interface wherever the answer can be known, so a training
function written for one runs with the other::

    dataset_function(num_epochs, batch_size, split="train")  # what the generator returns
    dataset_function.steps_per_epoch(batch_size)          # counted from one pass
    dataset_function.num_rows("test"), dataset_function.arrays("train")
    dataset_function.feature_names                        # as declared with the generator
    dataset_function.input_width, .ablated_features

What cannot be known (the label's classes: the generator encodes the label itself; feature
names nobody declared) raises `DatasetError` saying so and how to provide it, never an
``AttributeError``. Counting rows or steps reads one pass of the split; a result is kept for
the trial.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoablation._core.errors import DatasetError, StudyError
from autoablation._data import batches
from autoablation._data.datasets import positive_int

_GENERATOR_EXTRAS = ("split", "ablated_feature", "ablated_features", "split_seed")
_COUNTING_BATCH = 1024
"""Batch size asked of the generator when only rows are counted or arrays gathered."""


def generator_extras(generator: Callable[..., Any]) -> frozenset[str]:
    """Which of ``split``, ``ablated_feature``, ``ablated_features``, ``split_seed`` it declares.

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
    ``ablated_features`` (always a tuple) when it declares them, and ``split``. A generator
    that declares ``split_seed`` receives the repeat's split seed (shared by every
    configuration of the repeat, so draw the split from it alone), or None when the study keeps
    one fixed split (``vary_split=False``).

    Attributes:
        ablated_features: The features this trial removes.
        split_seed: Seeds this repeat's train/test split; None: the study's fixed split.
    """

    def __init__(
        self,
        generator: Callable[..., Any],
        ablated_features: tuple[str, ...],
        split_seed: int | None = None,
        *,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self._generator = generator
        self._extras = generator_extras(generator)
        self.ablated_features = ablated_features
        self.split_seed = split_seed
        self._declared = None if feature_names is None else tuple(feature_names)
        self._rows: dict[str, int] = {}
        self._steps: dict[tuple[str, int], int] = {}

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
        if "split_seed" in self._extras:
            kwargs["split_seed"] = self.split_seed
        return self._generator(num_epochs, batch_size, **kwargs)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features this trial's data keeps, from the names declared with the generator.

        Raises:
            DatasetError: No names were declared (the generator's columns are its own).
        """
        if self._declared is None:
            raise DatasetError(
                "the feature names of a custom dataset generator are not known to autoablation; "
                "declare them with study.set_dataset_generator(fn, feature_names=[...]) (or "
                "AblationStudy(..., dataset_generator=fn, feature_names=[...]))"
            )
        return tuple(name for name in self._declared if name not in self.ablated_features)

    @property
    def input_width(self) -> int:
        """Columns of ``x`` in the first training batch (the generator's own data says).

        Raises:
            DatasetError: ``x`` is not one array (several inputs, a dict of columns), or the
                training split is empty.
        """
        batch = batches.first_batch(self(1, _COUNTING_BATCH))
        if batch is None:
            raise DatasetError("the dataset generator's 'train' split gave no batch")
        x = batches.features_of(batch)
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            what = f"a dict of {len(x)} inputs" if isinstance(x, dict) else type(x).__name__
            raise DatasetError(
                f"the dataset generator's inputs are {what}, not one array, so they have no "
                "single width; read the widths of your own inputs, or feature_names when you "
                "declared them"
            )
        return int(x.shape[-1]) if x.ndim > 1 else 1

    @property
    def label_classes(self) -> tuple[str, ...] | None:
        """Not known for a custom generator, which encodes the label itself.

        Raises:
            DatasetError: Always, saying so.
        """
        raise DatasetError(
            "the label classes of a custom dataset generator are not known to autoablation: "
            "the generator encodes the label itself, so keep its class names beside it"
        )

    def num_rows(self, split: str = "train") -> int:
        """Rows in one pass over a split (read once per trial and split).

        Raises:
            DatasetError: The split never ends, or the generator has no such split.
        """
        if split not in self._rows:
            self._rows[split] = batches.rows_per_pass(self(1, _COUNTING_BATCH, split))
        return self._rows[split]

    def steps_per_epoch(self, batch_size: int, split: str = "train") -> int:
        """Batches in one pass over a split, as the generator batches it.

        Known without reading the data when the generator returns a dataset of known
        cardinality, a ``PyDataset`` or the split's arrays; otherwise one pass is counted.

        Raises:
            DatasetError: A bad batch size, a split that never ends, or no such split.
        """
        batch_size = positive_int("batch_size", batch_size)
        key = (split, batch_size)
        if key not in self._steps:
            self._steps[key] = batches.batches_per_pass(self(1, batch_size, split), batch_size)
        return self._steps[key]

    def arrays(self, split: str = "train") -> tuple[Any, Any]:
        """One pass over a split as NumPy ``(x, y)``, its batches joined (x may be a dict).

        Raises:
            DatasetError: The batches are not ``(x, y)`` pairs, or the split is empty.
        """
        joined = batches.concatenated(self(1, _COUNTING_BATCH, split))
        if not isinstance(joined, (tuple, list)) or len(joined) < 2:
            raise DatasetError(
                "the dataset generator's batches are not (x, y) pairs, so they have no arrays "
                "(x, y); call dataset_function(...) and read its batches yourself"
            )
        return joined[0], joined[1]

    def __repr__(self) -> str:
        dropped = ", ".join(self.ablated_features) or "nothing"
        name = getattr(self._generator, "__name__", "generator")
        return f"GeneratedDataset({name}, without {dropped})"
