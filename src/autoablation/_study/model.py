"""The model side of a study: base model, layers, modules, custom models, shape strategy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoablation._core.errors import StudyError
from autoablation._core.trial import SHAPE_STRATEGIES, Component, ComponentKind
from autoablation._study.components import (
    ComponentList,
    Layers,
    ShapeStrategy,
    checked_callable,
    checked_names,
    checked_strategy,
)

ModelGenerator = Callable[[], Any]
"""A zero-argument callable returning an uncompiled ``keras.Model``."""


class ModelDeclaration(ComponentList):
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
        self._base_model_generator = checked_callable("the base model generator", generator)

    @property
    def base_model_generator(self) -> ModelGenerator | None:
        """The base model generator, or None when the study has none."""
        return self._base_model_generator

    def add_module(
        self,
        start_layer: str,
        end_layer: str,
        *,
        name: str | None = None,
        shape_strategy: ShapeStrategy | None = None,
    ) -> None:
        """Add a trial without a module of a functional graph.

        The trial removes every layer strictly after ``start_layer`` up to and including
        ``end_layer`` (every layer on a path between them), and feeds ``start_layer``'s output to
        every consumer of ``end_layer``. Checked at launch: ``start_layer`` must be an ancestor
        of ``end_layer``, and no layer outside the module may feed into it or read from it
        (except through ``end_layer``).

        ``shape_strategy="project"`` lets this removal get a learned projection where it cannot
        build without one (default: the study's `set_shape_strategy`).

        Example:
            >>> study.model.add_module("mixed0", "mixed1")  # one Inception-v3 block
            >>> study.model.add_module("conv2_block3_out", "conv3_block1_out",
            ...                        shape_strategy="project")  # a block that downsamples

        Raises:
            StudyError: A name is not a string, the module is already included, or the
                strategy is unknown.
        """
        start, end = checked_names("layer", [start_layer, end_layer])
        if start == end:
            raise StudyError(f"a module needs two different layers; got {start!r} twice")
        label = name or f"{start}..{end}"
        strategy = checked_strategy(shape_strategy)
        self._add(
            Component(ComponentKind.MODULE, label, modules=((start, end),), shape_strategy=strategy)
        )

    def add_custom_model_generator(self, generator: ModelGenerator, identifier: str) -> None:
        """Add a trial that trains ``generator()``'s model instead of the base model.

        Raises:
            StudyError: ``generator`` is not callable, or ``identifier`` is empty or taken.
        """
        generator = checked_callable("a custom model generator", generator)
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
        """Choose the default for removals that leave a layer with inputs of the wrong shape.

        * ``"error"`` (default): refuse the study before launch, naming the trial and the layer
          whose input shapes clash.
        * ``"project"``: a removal that cannot build as it is gets a learned projection where
          its shapes clash, back to the shape the rest of the graph expects (a Dense layer on
          the last axis, with a strided 1x1 convolution when the spatial size shrank). A
          removal that builds without one is left exactly as it is.

        A component's own ``shape_strategy=`` (``layers.include``, ``include_groups``,
        ``add_module``) overrides this default for its trials.

        Raises:
            StudyError: An unknown strategy.
        """
        checked = checked_strategy(strategy)
        if checked is None:
            raise StudyError(
                f"unknown shape strategy {strategy!r}; use one of {', '.join(SHAPE_STRATEGIES)}"
            )
        self._shape_strategy = checked

    @property
    def shape_strategy(self) -> ShapeStrategy:
        """The declared shape strategy."""
        return self._shape_strategy

    def components(self) -> list[Component]:
        """Every model component, layers first, then modules and custom models."""
        return self.layers.components() + super().components()
