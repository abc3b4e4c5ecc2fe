"""The declaration of an ablation study: its data, its base model and what to remove.

Declaring is pure Python: nothing here imports TensorFlow or Spark. Names are checked as soon as
they can be: features when they are included (the table is known), layers and modules at launch
(when the driver builds every trial's model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from autoablation._data import PreparedData, load_table, prepare_table
from autoablation._exceptions import StudyError, UnknownComponentError
from autoablation._trial import Component, ComponentKind

ModelGenerator = Callable[[], Any]
"""A zero-argument callable returning an uncompiled ``keras.Model``."""
DatasetGenerator = Callable[..., Any]
"""``fn(num_epochs, batch_size[, split][, ablated_feature][, ablated_features])``."""
ShapeStrategy = Literal["error", "project"]
SHAPE_STRATEGIES: tuple[str, ...] = ("error", "project")


def _names(what: str, names: Iterable[Any]) -> list[str]:
    """Check a list of names: strings, not empty."""
    flat = list(names)
    for name in flat:
        if not isinstance(name, str):
            raise StudyError(f"{what} names must be strings; got {name!r} ({type(name).__name__})")
        if not name:
            raise StudyError(f"{what} names cannot be empty")
    return flat


def _flatten_names(what: str, names: tuple[str | Iterable[str], ...]) -> list[str]:
    """Accept ``include("a")``, ``include("a", "b")`` and ``include(["a", "b"])``."""
    flat: list[str] = []
    for item in names:
        if isinstance(item, str):
            flat.append(item)
        elif isinstance(item, Iterable):
            flat.extend(_names(what, item))
        else:
            raise StudyError(
                f"{what} names must be strings or lists of strings; "
                f"got {item!r} ({type(item).__name__})"
            )
    if not flat:
        raise StudyError(f"include() needs at least one {what} name")
    return _names(what, flat)


def _group(what: str, members: Any) -> tuple[str, ...]:
    if isinstance(members, str) or not isinstance(members, Iterable):
        raise StudyError(
            f"a {what} group is a list of at least two names; got {members!r}"
            + (
                f" (use {what}s.include({members!r}) for one {what})"
                if isinstance(members, str)
                else ""
            )
        )
    group = tuple(_names(what, members))
    if len(group) < 2:
        raise StudyError(
            f"a {what} group needs at least two names; got {list(group)} "
            f"(use include() for a single {what})"
        )
    if len(set(group)) != len(group):
        raise StudyError(f"{what} group {list(group)} names a {what} twice")
    return group


class _Components:
    """An ordered list of declared components with duplicate checks."""

    _what = "component"

    def __init__(self) -> None:
        self._components: list[Component] = []

    def _add(self, *components: Component) -> None:
        """Add components, all or none: each is checked against the others and the study."""
        for i, component in enumerate(components):
            for existing in [*self._components, *components[:i]]:
                if existing.name == component.name or _same_removal(existing, component):
                    raise StudyError(
                        f"{self._what} {component.name!r} is already included in the study"
                    )
        self._components.extend(components)

    def _remove(self, name: str, kinds: Sequence[ComponentKind]) -> None:
        for existing in self._components:
            if existing.name == name and existing.kind in kinds:
                self._components.remove(existing)
                return
        names = [c.name for c in self._components if c.kind in kinds]
        raise UnknownComponentError(
            f"{self._what} {name!r} is not included, so it cannot be excluded; "
            f"included: {', '.join(names) or 'none'}"
        )

    def _of(self, *kinds: ComponentKind) -> list[Component]:
        return [c for c in self._components if c.kind in kinds]

    def components(self) -> list[Component]:
        """Every declared component of this part of the study, in declaration order."""
        return list(self._components)

    def __len__(self) -> int:
        return len(self._components)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({[c.name for c in self._components]!r})"


def _same_removal(a: Component, b: Component) -> bool:
    return a.removal == b.removal


class Features(_Components):
    """Dataset columns to ablate: one trial without each feature, or without each group."""

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

    def include(self, *names: str | Iterable[str]) -> None:
        """Add one trial per feature: ``include("a")``, ``include("a", "b")``, ``include([...])``.

        Raises:
            StudyError: A name is not a string, is the label, or is already included.
            UnknownComponentError: The name is not a column of the training data.
        """
        flat = _flatten_names("feature", names)
        for name in flat:
            self._check(name)
        self._add(*(Component(ComponentKind.FEATURE, name, features=(name,)) for name in flat))

    def include_groups(self, *groups: Iterable[str], name: str | None = None) -> None:
        """Add one trial per group, without every feature of the group.

        Example:
            >>> study.features.include_groups(["sibsp", "parch"])  # shown as "sibsp+parch"
            >>> study.features.include_groups(["age", "sex"], name="demographics")

        Raises:
            StudyError: A group has fewer than two names, or is already included.
            UnknownComponentError: A member is not a column of the training data.
        """
        if not groups:
            raise StudyError("include_groups() needs at least one list of features")
        if name is not None and len(groups) != 1:
            raise StudyError("name= can only be given with a single group")
        checked = [_group("feature", g) for g in groups]
        for group in checked:
            for member in group:
                self._check(member)
        self._add(
            *(
                Component(ComponentKind.FEATURE_GROUP, name or "+".join(g), features=g)
                for g in checked
            )
        )

    def exclude(self, *names: str | Iterable[str]) -> None:
        """Take single features back out of the study."""
        for name in _flatten_names("feature", names):
            self._remove(name, (ComponentKind.FEATURE,))

    def exclude_groups(self, *names: str) -> None:
        """Take feature groups back out, by their displayed name (``"sibsp+parch"``)."""
        for name in names:
            self._remove(name, (ComponentKind.FEATURE_GROUP,))

    @property
    def included(self) -> tuple[str, ...]:
        """The single features included, in declaration order."""
        return tuple(c.name for c in self._of(ComponentKind.FEATURE))

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The feature groups included, in declaration order."""
        return tuple(c.features for c in self._of(ComponentKind.FEATURE_GROUP))

    def list_all(self) -> tuple[str, ...]:
        """Same as `included` (Maggy's name for it)."""
        return self.included


class Layers(_Components):
    """Model layers to ablate: ``study.model.layers.include("my_dense_two")``.

    Names are checked at launch, when the driver builds the base model.
    """

    _what = "layer"

    def include(self, *names: str | Iterable[str]) -> None:
        """Add one trial per layer, removed from the model by name.

        Raises:
            StudyError: A name is not a string, or is already included.
        """
        flat = _flatten_names("layer", names)
        self._add(*(Component(ComponentKind.LAYER, name, layers=(name,)) for name in flat))

    def include_groups(
        self, *groups: Iterable[str], prefix: str | None = None, name: str | None = None
    ) -> None:
        """Add one trial per group of layers removed together.

        Example:
            >>> study.model.layers.include_groups(["my_dense_two", "my_dense_four"])
            >>> study.model.layers.include_groups(prefix="my_dense")  # every my_dense* layer

        A prefix group removes every layer whose name starts with the prefix, except the
        model's input and output layers; it must match at least one layer at launch.

        Raises:
            StudyError: Nothing given, a list of fewer than two names, or a repeat.
        """
        if not groups and prefix is None:
            raise StudyError("include_groups() needs lists of layer names or prefix=...")
        if name is not None and len(groups) + (prefix is not None) != 1:
            raise StudyError("name= can only be given with a single group")
        components = [
            Component(ComponentKind.LAYER_GROUP, name or "+".join(g), layers=g)
            for g in (_group("layer", group) for group in groups)
        ]
        if prefix is not None:
            if not isinstance(prefix, str) or not prefix:
                raise StudyError(f"prefix must be a non-empty string; got {prefix!r}")
            label = name or f"{prefix}*"
            components.append(Component(ComponentKind.LAYER_GROUP, label, prefixes=(prefix,)))
        self._add(*components)

    def exclude(self, *names: str | Iterable[str]) -> None:
        """Take single layers back out of the study."""
        for name in _flatten_names("layer", names):
            self._remove(name, (ComponentKind.LAYER,))

    def exclude_groups(self, *names: str) -> None:
        """Take layer groups back out, by displayed name (``"a+b"`` or ``"prefix*"``)."""
        for name in names:
            self._remove(name, (ComponentKind.LAYER_GROUP,))

    @property
    def included(self) -> tuple[str, ...]:
        """The single layers included, in declaration order."""
        return tuple(c.name for c in self._of(ComponentKind.LAYER))

    @property
    def groups(self) -> tuple[Component, ...]:
        """The layer groups included, in declaration order."""
        return tuple(self._of(ComponentKind.LAYER_GROUP))

    def list_all(self) -> tuple[str, ...]:
        """Same as `included` (Maggy's name for it)."""
        return self.included


class ModelDeclaration(_Components):
    """The model side of a study: base model, layers, modules, custom models, shape strategy."""

    _what = "model component"

    def __init__(self) -> None:
        super().__init__()
        self.layers = Layers()
        self._base_model_generator: ModelGenerator | None = None
        self._custom_models: dict[str, ModelGenerator] = {}
        self._shape_strategy: ShapeStrategy = "error"

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
        self._base_model_generator = _callable("the base model generator", generator)

    @property
    def base_model_generator(self) -> ModelGenerator | None:
        """The base model generator, or None when the study has none."""
        return self._base_model_generator

    def add_module(self, start_layer: str, end_layer: str, *, name: str | None = None) -> None:
        """Add a trial without a module of a functional graph.

        The trial removes every layer strictly after ``start_layer`` up to and including
        ``end_layer`` (every layer on a path between them), and feeds ``start_layer``'s output to
        every consumer of ``end_layer``. Checked at launch: ``start_layer`` must be an ancestor
        of ``end_layer``, and no layer outside the module may feed into it or read from it
        (except through ``end_layer``).

        Example:
            >>> study.model.add_module("mixed0", "mixed1")  # one Inception-v3 block

        Raises:
            StudyError: A name is not a string, or the module is already included.
        """
        start, end = _names("layer", [start_layer, end_layer])
        if start == end:
            raise StudyError(f"a module needs two different layers; got {start!r} twice")
        label = name or f"{start}..{end}"
        self._add(Component(ComponentKind.MODULE, label, modules=((start, end),)))

    def add_custom_model_generator(self, generator: ModelGenerator, identifier: str) -> None:
        """Add a trial that trains ``generator()``'s model instead of the base model.

        Raises:
            StudyError: ``generator`` is not callable, or ``identifier`` is empty or taken.
        """
        generator = _callable("a custom model generator", generator)
        if not isinstance(identifier, str) or not identifier:
            raise StudyError(
                f"a custom model needs a non-empty string identifier; got {identifier!r}"
            )
        self._add(Component(ComponentKind.CUSTOM_MODEL, identifier, custom_model=identifier))
        self._custom_models[identifier] = generator

    @property
    def custom_models(self) -> dict[str, ModelGenerator]:
        """Custom model generators by identifier."""
        return {c.name: self._custom_models[c.name] for c in self._of(ComponentKind.CUSTOM_MODEL)}

    @property
    def modules(self) -> tuple[tuple[str, str], ...]:
        """The ``(start, end)`` modules included, in declaration order."""
        return tuple(m for c in self._of(ComponentKind.MODULE) for m in c.modules)

    def set_shape_strategy(self, strategy: ShapeStrategy) -> None:
        """Choose what happens when a removal leaves a layer with inputs of the wrong shape.

        * ``"error"`` (default): refuse the study before launch, naming the trial and the layer
          whose input shapes clash.
        * ``"project"``: insert a learned projection where a removal changes a tensor's shape,
          back to the shape the rest of the graph expects (a Dense layer on the last axis, with
          a strided 1x1 convolution when the spatial size shrank); the rest of the graph stays
          as it was.

        Raises:
            StudyError: An unknown strategy.
        """
        if strategy not in SHAPE_STRATEGIES:
            raise StudyError(
                f"unknown shape strategy {strategy!r}; use one of {', '.join(SHAPE_STRATEGIES)}"
            )
        self._shape_strategy = strategy

    @property
    def shape_strategy(self) -> ShapeStrategy:
        """The declared shape strategy."""
        return self._shape_strategy

    def components(self) -> list[Component]:
        """Every model component, layers first, then modules and custom models."""
        return self.layers.components() + super().components()


_DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}


def _looks_like_data_file(text: str) -> bool:
    return Path(text).suffix.lower() in _DATA_SUFFIXES


def _callable(what: str, value: Any) -> Any:
    if not callable(value):
        raise StudyError(f"{what} must be callable; got {type(value).__name__}")
    return value


class AblationStudy:
    """What to ablate, declared once; ``experiment.launch`` turns it into trials.

    Example:
        >>> study = AblationStudy(titanic, label_name="survived")
        >>> study.features.include(["pclass", "sex"])
        >>> study.model.set_base_model_generator(base_model)
        >>> study.model.layers.include("my_dense_two")

    Maggy's form is accepted too: ``AblationStudy("titanic", 1, "survived",
    dataset_generator=fn)`` (a name, a version, the label, and a dataset generator).

    Args:
        training_data: A pandas DataFrame, a Spark DataFrame, or a path to a CSV or Parquet
            file; every column except the label is a feature. A study that ablates no feature,
            or that sets a dataset generator, may omit it (or give a name, as in Maggy).
        training_dataset_version: Maggy's dataset version; recorded, otherwise unused.
        label_name: The column the model predicts.
        dataset_generator: A custom dataset generator (see `set_dataset_generator`).
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
        label_name: str | None = None,
        *,
        dataset_generator: DatasetGenerator | None = None,
        test_fraction: float = 0.2,
        seed: int = 0,
        standardize: bool = True,
    ) -> None:
        if isinstance(training_dataset_version, str) and label_name is None:
            label_name, training_dataset_version = training_dataset_version, None  # (data, label)
        self.label_name = label_name
        self.training_dataset_version = training_dataset_version
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.standardize = bool(standardize)
        self.name: str | None = None
        self._table: pd.DataFrame | None = None
        self._prepared: PreparedData | None = None
        self._dataset_generator: DatasetGenerator | None = None
        if dataset_generator is not None:
            self.set_dataset_generator(dataset_generator)
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
        self.features = Features(self)
        self.model = ModelDeclaration()

    def set_dataset_generator(self, generator: DatasetGenerator) -> None:
        """Use ``generator`` instead of the default dataset generator.

        It is called as ``generator(num_epochs, batch_size)`` and also receives, when it
        declares them by name, ``split`` (``"train"``, ``"test"``...), ``ablated_feature`` (the
        removed feature's name, a tuple of names for a group, or None) and ``ablated_features``
        (always a tuple). Its input shapes are its own business: the model's input is not
        resized for it.

        Raises:
            StudyError: ``generator`` is not callable.
        """
        self._dataset_generator = _callable("the dataset generator", generator)

    @property
    def dataset_generator(self) -> DatasetGenerator | None:
        """The custom dataset generator, or None for the default one."""
        return self._dataset_generator

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
