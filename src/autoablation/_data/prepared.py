"""The encoded table: a float32 feature matrix, the label, the split, and the codings.

Made once on the driver by `autoablation._data.table`; executors only select its columns and
rows, so this module needs NumPy and nothing else.

The study's split holds out a fixed set of rows. A repeat with its own split seed draws its own
held-out rows of the same count, with the same seeded permutation the study's split used (so
the split seed equal to the study's seed gives the study's split), and standardises the
features again with its own training rows: no statistic of its held-out rows reaches training.
Every configuration of a repeat gets the same split seed, so their comparison stays paired.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from autoablation._core.errors import DatasetError, UnknownComponentError

Split = Literal["train", "test", "all"]
SPLITS: tuple[Split, ...] = ("train", "test", "all")


@dataclass(frozen=True)
class ColumnCoding:
    """How one feature column turns into a float32 column.

    Attributes:
        name: The column's name in the table.
        categories: Sorted distinct values for a categorical column; None for a numeric one.
        fill: Value used for missing entries of a numeric column.
        mean: Subtracted after coding (0 without standardisation).
        scale: Divides after centring (1 without standardisation).
    """

    name: str
    categories: tuple[str, ...] | None
    fill: float
    mean: float
    scale: float


@dataclass(frozen=True)
class LabelCoding:
    """How the label column turns into targets: ``classes`` is None for a numeric label."""

    name: str
    classes: tuple[str, ...] | None


def split_mask(rows: int, held_out: int, seed: int) -> npt.NDArray[np.bool_]:
    """The held-out rows of a split: the first ``held_out`` of a seeded permutation."""
    order = np.random.default_rng(seed).permutation(rows)
    mask = np.zeros(rows, dtype=bool)
    mask[order[:held_out]] = True
    return mask


@dataclass(frozen=True, eq=False)
class PreparedData:
    """The encoded table that every trial slices; built once on the driver.

    Attributes:
        feature_names: Feature columns in matrix order (every column except the label).
        x: float32 matrix, one row per table row and one column per feature.
        y: Label vector (float32, or int32 class indices for more than two classes).
        test_mask: True for rows held out as the test split.
        codings: How each feature column was encoded.
        label: How the label was encoded.
        standardized: Whether the columns were centred and scaled with the training rows.
    """

    feature_names: tuple[str, ...]
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.generic]
    test_mask: npt.NDArray[np.bool_]
    codings: tuple[ColumnCoding, ...]
    label: LabelCoding
    standardized: bool = False

    @functools.cached_property
    def _feature_set(self) -> frozenset[str]:
        return frozenset(self.feature_names)

    def _refuse_unknown(self, dropped: Collection[str]) -> None:
        unknown = [name for name in dropped if name not in self._feature_set]
        if unknown:
            raise UnknownComponentError(
                f"feature {unknown[0]!r} is not a column of the training data; "
                f"its feature columns are: {', '.join(self.feature_names)}"
            )

    def column_indices(self, dropped: Collection[str] = ()) -> list[int]:
        """Indices of the feature columns that remain after dropping ``dropped``."""
        self._refuse_unknown(dropped)
        gone = frozenset(dropped)
        return [i for i, name in enumerate(self.feature_names) if name not in gone]

    def width(self, dropped: Collection[str] = ()) -> int:
        """How many feature columns remain after dropping ``dropped`` (checked as above)."""
        self._refuse_unknown(dropped)
        return len(self.feature_names) - len(frozenset(dropped))

    def held_out(self, split_seed: int | None = None) -> npt.NDArray[np.bool_]:
        """The held-out rows: the study's, or those of the split ``split_seed`` draws."""
        if split_seed is None:
            return self.test_mask
        return split_mask(len(self.test_mask), int(self.test_mask.sum()), split_seed)

    def rows(self, split: Split, split_seed: int | None = None) -> npt.NDArray[np.bool_]:
        """Boolean row mask of a split (of the study's split, or of ``split_seed``'s)."""
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        if split == "all":
            return np.ones_like(self.test_mask)
        test = self.held_out(split_seed)
        return test if split == "test" else ~test

    def num_rows(self, split: Split = "train") -> int:
        """How many rows a split holds (the same for every split seed)."""
        return int(self.rows(split).sum())

    def arrays(
        self, split: Split = "train", dropped: Collection[str] = (), split_seed: int | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.generic]]:
        """Return ``(x, y)`` of a split, without the dropped feature columns.

        Args:
            split: ``"train"``, ``"test"`` or ``"all"``.
            dropped: Feature columns to leave out.
            split_seed: Draw this repeat's split instead of the study's (and standardise
                the columns with its own training rows, when the study standardises).

        Raises:
            DatasetError: The split has no rows.
        """
        mask = self.rows(split, split_seed)
        if not mask.any():
            raise DatasetError(
                f"the {split!r} split has no rows; change the study's test_fraction "
                f"(it holds {self.num_rows('train')} training and "
                f"{self.num_rows('test')} test rows)"
            )
        columns = np.asarray(self.column_indices(dropped), dtype=np.intp)
        x = self.x[np.ix_(mask, columns)]
        if split_seed is not None and self.standardized:
            train = (
                x if split == "train" else self.x[np.ix_(self.rows("train", split_seed), columns)]
            )
            centre = train.mean(axis=0, dtype=np.float64)
            scale = train.std(axis=0, dtype=np.float64)
            scale[scale == 0] = 1.0
            x = ((x - centre) / scale).astype(np.float32)
        return x, self.y[mask]
