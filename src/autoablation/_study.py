"""The declaration of an ablation study: its data, its base model and what to remove.

Declaring is pure Python: nothing here imports TensorFlow or Spark. Names are checked as soon as
they can be: features when they are included (the table is known), layers at launch (when the
driver builds every trial's model).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from autoablation._data import PreparedData, load_table, prepare_table
from autoablation._exceptions import StudyError, UnknownComponentError
from autoablation._trial import Component, ComponentKind

ModelGenerator = Callable[[], Any]
"""A zero-argument callable returning an uncompiled ``keras.Model``."""


def _flatten_names(what: str, names: tuple[str | Iterable[str], ...]) -> list[str]:
    """Accept ``include("a")``, ``include("a", "b")`` and ``include(["a", "b"])``."""
    flat: list[str] = []
    for item in names:
        if isinstance(item, str):
            flat.append(item)
        elif isinstance(item, Iterable):
            for name in item:
                if not isinstance(name, str):
                    raise StudyError(
                        f"{what} names must be strings; got {name!r} ({type(name).__name__})"
                    )
                flat.append(name)
        else:
            raise StudyError(
                f"{what} names must be strings or lists of strings; "
                f"got {item!r} ({type(item).__name__})"
            )
    if not flat:
        raise StudyError(f"include() needs at least one {what} name")
    for name in flat:
        if not name:
            raise StudyError(f"{what} names cannot be empty")
    return flat


class _Inclusions:
    """An ordered, duplicate-free list of included names."""

    _what = "component"

    def __init__(self) -> None:
        self._included: list[str] = []

    def _check(self, name: str) -> None:
        """Raise if ``name`` cannot be included; subclasses add their checks."""

    def include(self, *names: str | Iterable[str]) -> None:
        """Add one trial per name; names may be given one by one or as lists.

        Raises:
            StudyError: A name is not a string, or is already included.
            UnknownComponentError: The name does not exist (where that can be known now).
        """
        flat = _flatten_names(self._what, names)
        for name in flat:
            if name in self._included or flat.count(name) > 1:
                raise StudyError(f"{self._what} {name!r} is already included in the study")
            self._check(name)
        self._included.extend(flat)

    def exclude(self, *names: str | Iterable[str]) -> None:
        """Take names back out of the study.

        Raises:
            UnknownComponentError: A name was not included.
        """
        for name in _flatten_names(self._what, names):
            if name not in self._included:
                raise UnknownComponentError(
                    f"{self._what} {name!r} is not included, so it cannot be excluded; "
                    f"included: {', '.join(self._included) or 'none'}"
                )
            self._included.remove(name)

    @property
    def included(self) -> tuple[str, ...]:
        """The included names, in the order they were declared."""
        return tuple(self._included)

    def list_all(self) -> tuple[str, ...]:
        """Same as `included` (Maggy's name for it)."""
        return self.included

    def __len__(self) -> int:
        return len(self._included)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._included)!r})"


class Features(_Inclusions):
    """Dataset columns to ablate, one trial each: ``study.features.include("pclass")``."""

    _what = "feature"

    def __init__(self, study: AblationStudy) -> None:
        super().__init__()
        self._study = study

    def _check(self, name: str) -> None:
        study = self._study
        if name == study.label_name:
            raise StudyError(
                f"{name!r} is the study's label; it is never a feature, so it cannot be ablated"
            )
        if study.table is not None and name not in study.feature_names:
            raise UnknownComponentError(
                f"feature {name!r} is not a column of the training data; "
                f"its feature columns are: {', '.join(study.feature_names)}"
            )

    def components(self) -> list[Component]:
        """One component per included feature."""
        return [Component(ComponentKind.FEATURE, n, features=(n,)) for n in self._included]


class Layers(_Inclusions):
    """Model layers to ablate, one trial each: ``study.model.layers.include("my_dense_two")``.

    Names are checked at launch, when the driver builds the base model.
    """

    _what = "layer"

    def components(self) -> list[Component]:
        """One component per included layer."""
        return [Component(ComponentKind.LAYER, n, layers=(n,)) for n in self._included]


class ModelDeclaration:
    """The model side of a study: the base model generator and the layers to ablate."""

    def __init__(self) -> None:
        self.layers = Layers()
        self._base_model_generator: ModelGenerator | None = None

    def set_base_model_generator(self, generator: ModelGenerator) -> None:
        """Set the zero-argument callable that returns the uncompiled base ``keras.Model``.

        Example:
            >>> def base_model():
            ...     import keras
            ...     return keras.Sequential([keras.layers.Dense(1, name="out")])
            >>> study.model.set_base_model_generator(base_model)

        Raises:
            StudyError: ``generator`` is not callable.
        """
        if not callable(generator):
            raise StudyError(
                "the base model generator must be a zero-argument callable returning a "
                f"keras.Model; got {type(generator).__name__}"
            )
        self._base_model_generator = generator

    @property
    def base_model_generator(self) -> ModelGenerator | None:
        """The base model generator, or None when the study has none."""
        return self._base_model_generator

    def components(self) -> list[Component]:
        """Every model component the study ablates, in declaration order."""
        return self.layers.components()


class AblationStudy:
    """What to ablate, declared once; ``experiment.launch`` turns it into trials.

    Example:
        >>> study = AblationStudy(titanic, label_name="survived")
        >>> study.features.include(["pclass", "sex"])
        >>> study.model.set_base_model_generator(base_model)
        >>> study.model.layers.include("my_dense_two")

    Args:
        training_data: A pandas DataFrame, or a path to a CSV or Parquet file; every column
            except the label is a feature. A study that ablates no feature may omit it.
        label_name: The column the model predicts.
        test_fraction: Share of rows held out as the ``"test"`` split, in [0, 1).
        seed: Seeds the split, shuffling and model initialisation.
        standardize: Centre and scale feature columns with training-row statistics.

    Raises:
        DatasetError: The data cannot be read, or its label column is missing.
        StudyError: Data was given without a label name.
    """

    def __init__(
        self,
        training_data: pd.DataFrame | str | os.PathLike[str] | None = None,
        label_name: str | None = None,
        *,
        test_fraction: float = 0.2,
        seed: int = 0,
        standardize: bool = True,
    ) -> None:
        self.label_name = label_name
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.standardize = bool(standardize)
        self._source = training_data
        self._table: pd.DataFrame | None = None
        self._prepared: PreparedData | None = None
        if training_data is not None:
            if label_name is None:
                raise StudyError("a study with training data needs label_name=<label column>")
            self._table = load_table(training_data)
            if label_name not in self._table.columns:
                raise UnknownComponentError(
                    f"label {label_name!r} is not a column of the training data; "
                    f"its columns are: {', '.join(map(str, self._table.columns))}"
                )
        self.features = Features(self)
        self.model = ModelDeclaration()

    @property
    def table(self) -> pd.DataFrame | None:
        """The training table, or None for a study without data."""
        return self._table

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every feature column of the data (all columns but the label)."""
        if self._table is None:
            return ()
        return tuple(str(c) for c in self._table.columns if c != self.label_name)

    def components(self) -> list[Component]:
        """Every component the study ablates: features first, then model components."""
        return self.features.components() + self.model.components()

    def prepared_data(self) -> PreparedData | None:
        """The encoded table every trial slices (computed once), or None without data."""
        if self._table is None or self.label_name is None:
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
            "label_name": self.label_name,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "standardize": self.standardize,
            "feature_columns": list(self.feature_names),
            "features": list(self.features.included),
            "layers": list(self.model.layers.included),
            "has_base_model_generator": self.model.base_model_generator is not None,
        }

    def __repr__(self) -> str:
        rows = "no data" if self._table is None else f"{len(self._table)} rows"
        return (
            f"AblationStudy({rows}, label={self.label_name!r}, "
            f"features={list(self.features.included)}, "
            f"layers={list(self.model.layers.included)})"
        )
