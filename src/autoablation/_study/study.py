"""The declaration of an ablation study: its data, its base model and what to remove.

Declaring is pure Python: nothing here imports TensorFlow or Spark. Names are checked as soon as
they can be: features when they are included (the table is known), layers and modules at launch
(when the driver builds every trial's model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from autoablation._core.errors import StudyError, UnknownComponentError
from autoablation._core.trial import Component
from autoablation._data.prepared import PreparedData
from autoablation._data.table import load_table, prepare_table
from autoablation._study.components import Features, checked_callable, checked_names, unknown
from autoablation._study.model import ModelDeclaration

DatasetGenerator = Callable[..., Any]
"""``fn(num_epochs, batch_size[, split][, ablated_feature][, ablated_features])``."""


_DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}


def _looks_like_data_file(text: str) -> bool:
    return Path(text).suffix.lower() in _DATA_SUFFIXES


def _column_name(what: str, value: Any) -> str | None:
    """A column named by text or by number (``pd.DataFrame(array)`` numbers its columns)."""
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "__index__") and not isinstance(value, bool):  # int, numpy integers
        return str(int(value))
    raise StudyError(f"{what} must name a column, as text or a number; got {value!r}")


class AblationStudy:
    """What to ablate, declared once; ``experiment.launch`` turns it into trials.

    Example:
        >>> study = AblationStudy(titanic, label_name="survived")
        >>> study.features.include(["pclass", "sex"])
        >>> study.model.set_base_model_generator(base_model)
        >>> study.model.layers.include("my_dense_two")

    Maggy's form is accepted too: ``AblationStudy("titanic", 1, "survived",
    dataset_generator=fn)`` (a name, a version, the label, and a dataset generator), with
    ``feature_names=[...]`` to have the features it ablates checked against the generator's.

    Args:
        training_data: A pandas DataFrame, a Spark DataFrame, or a path to a CSV or Parquet
            file; every column except the label is a feature. A study that ablates no feature,
            or that sets a dataset generator, may omit it (or give a name, as in Maggy).
        training_dataset_version: Maggy's dataset version; recorded, otherwise unused.
        label_name: The column the model predicts. Columns are named by their text, so the
            label of ``pd.DataFrame(array)`` may be given as ``4`` or ``"4"``.
        dataset_generator: A custom dataset generator (see `set_dataset_generator`).
        feature_names: The dataset generator's features, when it has one (see
            `set_dataset_generator`).
        test_fraction: Share of rows held out as the ``"test"`` split, in [0, 1).
        seed: Seeds the split, shuffling and model initialisation.
        standardize: Centre and scale feature columns with training-row statistics.

    Raises:
        DatasetError: The data cannot be read, or its label column is missing.
        StudyError: Data was given without a label name.
    """

    def __init__(
        self,
        training_data: Any = None,
        training_dataset_version: int | str | None = None,
        label_name: str | int | None = None,
        *,
        dataset_generator: DatasetGenerator | None = None,
        feature_names: Iterable[str] | None = None,
        test_fraction: float = 0.2,
        seed: int = 0,
        standardize: bool = True,
    ) -> None:
        if isinstance(training_dataset_version, str) and label_name is None:
            label_name, training_dataset_version = training_dataset_version, None  # (data, label)
        self.label_name = label_name = _column_name("label_name", label_name)
        self.training_dataset_version = training_dataset_version
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.standardize = bool(standardize)
        self.name: str | None = None
        self._table: pd.DataFrame | None = None
        self._prepared: PreparedData | None = None
        self._dataset_generator: DatasetGenerator | None = None
        self._generator_features: tuple[str, ...] | None = None
        self.features = Features(self)
        if dataset_generator is not None:
            self.set_dataset_generator(dataset_generator, feature_names=feature_names)
        elif feature_names is not None:
            raise StudyError(
                "feature_names= names a dataset generator's features; give it with "
                "dataset_generator= (a table's features are its columns)"
            )
        if isinstance(training_data, str) and (
            dataset_generator is not None
            or (training_dataset_version is not None and not _looks_like_data_file(training_data))
        ):
            self.name = training_data  # Maggy's form: a dataset name, not a path
            training_data = None
        if training_data is not None:
            if label_name is None:
                raise StudyError("a study with training data needs label_name=<label column>")
            self._table = load_table(training_data)
            if label_name not in self._table.columns:
                raise UnknownComponentError(
                    f"label {label_name!r} is not a column of the training data; "
                    f"its columns are: {', '.join(map(str, self._table.columns))}"
                )
        self.model = ModelDeclaration()

    def set_dataset_generator(
        self, generator: DatasetGenerator, *, feature_names: Iterable[str] | None = None
    ) -> None:
        """Use ``generator`` instead of the default dataset generator.

        It is called as ``generator(num_epochs, batch_size)`` and also receives, when it
        declares them by name, ``split`` (``"train"``, ``"test"``...), ``ablated_feature`` (the
        removed feature's name, a tuple of names for a group, or None) and ``ablated_features``
        (always a tuple). Its input shapes are its own business: the model's input is not
        resized for it.

        Example:
            >>> study.set_dataset_generator(titanic, feature_names=["age", "sibsp", "parch"])
            >>> study.features.include("sibsp")

        Args:
            generator: The dataset generator.
            feature_names: The features it knows. With them, a feature the study includes is
                checked at once (a typo is refused, with the nearest name), and
                ``dataset_function.feature_names`` lists a trial's. Without them, the driver
                still calls the generator before launch and refuses a removal that changes
                nothing it returns.

        Raises:
            StudyError: ``generator`` is not callable, or ``feature_names`` is not a list of
                distinct names.
            UnknownComponentError: A feature the study already includes is not among them.
        """
        generator = checked_callable("the dataset generator", generator)
        names: tuple[str, ...] | None = None
        if feature_names is not None:
            if isinstance(feature_names, str) or not isinstance(feature_names, Iterable):
                raise StudyError(f"feature_names must be a list of names; got {feature_names!r}")
            names = tuple(checked_names("feature", feature_names))
            if len(set(names)) != len(names):
                twice = next(n for n in names if names.count(n) > 1)
                raise StudyError(f"feature_names names {twice!r} twice")
            for component in self.features.components():
                for name in component.features:
                    if name not in names:
                        raise unknown("feature", name, "the dataset generator's features", names)
        self._dataset_generator = generator
        self._generator_features = names

    @property
    def dataset_generator(self) -> DatasetGenerator | None:
        """The custom dataset generator, or None for the default one."""
        return self._dataset_generator

    @property
    def table(self) -> pd.DataFrame | None:
        """The training table, or None for a study without data."""
        return self._table

    @property
    def generator_feature_names(self) -> tuple[str, ...] | None:
        """The features declared with the dataset generator, or None."""
        return self._generator_features

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every feature: those declared with the dataset generator, else the data's columns.

        The data's columns are all but the label; empty when there is neither.
        """
        if self._generator_features is not None:
            return self._generator_features
        if self._table is None:
            return ()
        return tuple(str(c) for c in self._table.columns if c != self.label_name)

    def components(self) -> list[Component]:
        """Every component the study ablates: data components first, then model components."""
        return self.features.components() + self.model.components()

    def prepared_data(self) -> PreparedData | None:
        """The encoded table every trial slices (computed once), or None without data.

        A study with a custom dataset generator does not use the default one, so it has none.
        """
        if self._table is None or self.label_name is None or self._dataset_generator is not None:
            return None
        if self._prepared is None:
            self._prepared = prepare_table(
                self._table,
                self.label_name,
                test_fraction=self.test_fraction,
                seed=self.seed,
                standardize=self.standardize,
            )
        return self._prepared

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible summary of the declaration (no data, no code)."""
        return {
            "name": self.name,
            "label_name": self.label_name,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "standardize": self.standardize,
            "feature_columns": list(self.feature_names),
            "components": [c.to_dict() for c in self.components()],
            "features": list(self.features.included),
            "layers": list(self.model.layers.included),
            "shape_strategy": self.model.shape_strategy,
            "has_base_model_generator": self.model.base_model_generator is not None,
            "has_dataset_generator": self._dataset_generator is not None,
        }

    def __repr__(self) -> str:
        rows = "no data" if self._table is None else f"{len(self._table)} rows"
        names = [c.name for c in self.components()]
        return f"AblationStudy({rows}, label={self.label_name!r}, components={names})"
