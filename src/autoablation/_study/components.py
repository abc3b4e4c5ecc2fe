"""The declared components: name checks, and the feature and layer lists of a study."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from autoablation._core.errors import StudyError, UnknownComponentError
from autoablation._core.names import did_you_mean, keras_object_kind
from autoablation._core.trial import SHAPE_STRATEGIES, Component, ComponentKind

if TYPE_CHECKING:
    from autoablation._study.study import AblationStudy

ShapeStrategy = Literal["error", "project"]


def checked_names(what: str, names: Iterable[Any]) -> list[str]:
    """Check a list of names: strings, not empty."""
    flat = list(names)
    for name in flat:
        if not isinstance(name, str):
            raise StudyError(f"{what} names must be strings; got {name!r} ({type(name).__name__})")
        if not name:
            raise StudyError(f"{what} names cannot be empty")
    return flat


def flatten_names(what: str, names: tuple[str | Iterable[str], ...]) -> list[str]:
    """Accept ``include("a")``, ``include("a", "b")`` and ``include(["a", "b"])``."""
    flat: list[str] = []
    for item in names:
        if isinstance(item, str):
            flat.append(item)
        elif isinstance(item, Iterable):
            flat.extend(checked_names(what, item))
        else:
            raise StudyError(
                f"{what} names must be strings or lists of strings; "
                f"got {item!r} ({type(item).__name__})"
            )
    if not flat:
        raise StudyError(f"include() needs at least one {what} name")
    return checked_names(what, flat)


def unknown(what: str, name: str, where: str, known: Sequence[str]) -> UnknownComponentError:
    """The error for a name that is not among ``known``, with the nearest name if one is close."""
    return UnknownComponentError(
        f"{what} {name!r} is not one of {where}{did_you_mean(name, known)} "
        f"(they are: {', '.join(known) or 'none'})"
    )


def checked_group(what: str, members: Any) -> tuple[str, ...]:
    if isinstance(members, str) or not isinstance(members, Iterable):
        raise StudyError(
            f"a {what} group is a list of at least two names; got {members!r}"
            + (
                f" (use {what}s.include({members!r}) for one {what})"
                if isinstance(members, str)
                else ""
            )
        )
    group = tuple(checked_names(what, members))
    if len(group) < 2:
        raise StudyError(
            f"a {what} group needs at least two names; got {list(group)} "
            f"(use include() for a single {what})"
        )
    if len(set(group)) != len(group):
        raise StudyError(f"{what} group {list(group)} names a {what} twice")
    return group


class ComponentList:
    """An ordered list of declared components with duplicate checks."""

    _what = "component"

    def __init__(self) -> None:
        self._components: list[Component] = []

    def _add(self, *components: Component) -> None:
        """Add components, all or none: each is checked against the others and the study.

        A component is a duplicate when its name or what it removes is taken already; the
        check is a set lookup, so a study of thousands of features declares in linear time.
        """
        names = {c.name for c in self._components}
        removals = {c.removal for c in self._components}
        for component in components:
            removal = component.removal
            if component.name in names or removal in removals:
                raise StudyError(
                    f"{self._what} {component.name!r} is already included in the study"
                )
            names.add(component.name)
            removals.add(removal)
        self._components.extend(components)

    def _remove(self, name: str, kinds: Sequence[ComponentKind]) -> None:
        for existing in self._components:
            if existing.name == name and existing.kind in kinds:
                self._components.remove(existing)
                return
        names = [c.name for c in self._components if c.kind in kinds]
        raise UnknownComponentError(
            f"{self._what} {name!r} is not included, so it cannot be excluded"
            f"{did_you_mean(name, names)} (included: {', '.join(names) or 'none'})"
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


def _column_names(names: Any) -> Any:
    """Numbers as text: ``pd.DataFrame(array)`` names its columns 0, 1..., features "0", "1"..."""
    if isinstance(names, int) and not isinstance(names, bool):
        return str(names)
    if isinstance(names, (list, tuple)):
        return type(names)(_column_names(n) for n in names)
    return names


class Features(ComponentList):
    """Dataset columns to ablate: one trial without each feature, or without each group.

    Features are named by the text of their column, so a table made by ``pd.DataFrame(array)``
    has features ``"0"``, ``"1"``... (``include(0)`` means ``include("0")``).
    """

    _what = "feature"

    def __init__(self, study: AblationStudy) -> None:
        super().__init__()
        self._study = study

    def _check(self, name: str, columns: Collection[str]) -> None:
        """Refuse ``name`` unless it is a feature; ``columns`` is the study's feature columns."""
        study = self._study
        if name == study.label_name:
            raise StudyError(
                f"{name!r} is the study's label; it is never a feature, so it cannot be ablated"
            )
        if study.generator_feature_names is not None:
            if name not in study.generator_feature_names:
                where = "the dataset generator's features"
                raise unknown("feature", name, where, study.generator_feature_names)
        elif study.table is not None and name not in columns:
            raise UnknownComponentError(
                f"feature {name!r} is not a column of the training data"
                f"{did_you_mean(name, study.feature_names)} "
                f"(its feature columns are: {', '.join(study.feature_names)})"
            )

    def include(self, *names: str | Iterable[str]) -> None:
        """Add one trial per feature: ``include("a")``, ``include("a", "b")``, ``include([...])``.

        Raises:
            StudyError: A name is not a string, is the label, or is already included.
            UnknownComponentError: The name is not a column of the training data.
        """
        flat = flatten_names("feature", _column_names(names))
        columns = frozenset(self._study.feature_names)  # one set for the whole call
        for name in flat:
            self._check(name, columns)
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
        checked = [checked_group("feature", _column_names(g)) for g in groups]
        columns = frozenset(self._study.feature_names)
        for group in checked:
            for member in group:
                self._check(member, columns)
        self._add(
            *(
                Component(ComponentKind.FEATURE_GROUP, name or "+".join(g), features=g)
                for g in checked
            )
        )

    def exclude(self, *names: str | Iterable[str]) -> None:
        """Take single features back out of the study."""
        for name in flatten_names("feature", _column_names(names)):
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


class Layers(ComponentList):
    """Model layers to ablate: ``study.model.layers.include("my_dense_two")``.

    Names are checked at launch, when the driver builds the base model.
    """

    _what = "layer"

    def include(
        self, *names: str | Iterable[str], shape_strategy: ShapeStrategy | None = None
    ) -> None:
        """Add one trial per layer, removed from the model by name.

        Example:
            >>> study.model.layers.include("my_dense_two")
            >>> study.model.layers.include("block_b", shape_strategy="project")

        Args:
            *names: Layer names, or lists of them.
            shape_strategy: ``"project"`` lets these removals get a learned projection where
                they cannot build without one; default: the study's `set_shape_strategy`.

        Raises:
            StudyError: A name is not a string, is already included, or the strategy is unknown.
        """
        flat = flatten_names("layer", names)
        strategy = checked_strategy(shape_strategy)
        self._add(
            *(
                Component(ComponentKind.LAYER, name, layers=(name,), shape_strategy=strategy)
                for name in flat
            )
        )

    def include_groups(
        self,
        *groups: Iterable[str],
        prefix: str | None = None,
        name: str | None = None,
        shape_strategy: ShapeStrategy | None = None,
    ) -> None:
        """Add one trial per group of layers removed together.

        Example:
            >>> study.model.layers.include_groups(["my_dense_two", "my_dense_four"])
            >>> study.model.layers.include_groups(prefix="my_dense")  # every my_dense* layer

        A prefix group removes every layer whose name starts with the prefix, except the
        model's input and output layers; it must match at least one layer at launch.
        ``shape_strategy`` is as in `include`.

        Raises:
            StudyError: Nothing given, a list of fewer than two names, a repeat, or an unknown
                strategy.
        """
        if not groups and prefix is None:
            raise StudyError("include_groups() needs lists of layer names or prefix=...")
        if name is not None and len(groups) + (prefix is not None) != 1:
            raise StudyError("name= can only be given with a single group")
        strategy = checked_strategy(shape_strategy)
        components = [
            Component(
                ComponentKind.LAYER_GROUP, name or "+".join(g), layers=g, shape_strategy=strategy
            )
            for g in (checked_group("layer", group) for group in groups)
        ]
        if prefix is not None:
            if not isinstance(prefix, str) or not prefix:
                raise StudyError(f"prefix must be a non-empty string; got {prefix!r}")
            label = name or f"{prefix}*"
            components.append(
                Component(
                    ComponentKind.LAYER_GROUP, label, prefixes=(prefix,), shape_strategy=strategy
                )
            )
        self._add(*components)

    def exclude(self, *names: str | Iterable[str]) -> None:
        """Take single layers back out of the study."""
        for name in flatten_names("layer", names):
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


def checked_callable(what: str, value: Any) -> Any:
    """``value`` if it is callable; a model or layer instance is refused (it is callable too).

    Raises:
        StudyError: ``value`` is not callable, or is a Keras model or layer, not a function.
    """
    kind = keras_object_kind(value)
    if kind is not None:
        raise StudyError(
            f"{what} must be a function: got a {kind} ({type(value).__name__}); pass a "
            "function that builds it (def build(): return keras.Sequential([...]), then pass "
            "build, not build()), since every trial needs a fresh model of its own"
        )
    if not callable(value):
        raise StudyError(f"{what} must be callable; got {type(value).__name__}")
    return value


def checked_strategy(strategy: Any) -> ShapeStrategy | None:
    """A shape strategy (``"error"``, ``"project"``), or None for the study's default.

    Raises:
        StudyError: An unknown strategy.
    """
    if strategy is not None and strategy not in SHAPE_STRATEGIES:
        raise StudyError(
            f"unknown shape strategy {strategy!r}; use one of {', '.join(SHAPE_STRATEGIES)}"
        )
    return cast("ShapeStrategy | None", strategy)
