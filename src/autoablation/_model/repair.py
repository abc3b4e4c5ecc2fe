"""Removing a trial's layers, with a learned projection only where the removal needs one.

A removal is first tried as it is. Only when that model cannot be built (or would change the
model's output shape) and the component was declared with the ``"project"`` shape strategy
(its own, or the study's default) does the trial get projections: first at every removal of
such a component whose output shape changed, then one by one without each, keeping only those
the model cannot build without. A removal that builds as it is trains exactly that model, so a
``"project"`` declaration never turns "remove the layer" into "replace it by a linear map".

The driver makes this search once per configuration; executors are given its outcome (the
removed layers that get a projection) and build that model directly.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from autoablation._core.errors import ModelSurgeryError
from autoablation._core.trial import Trial
from autoablation._model.rebuild import Narrowed, rebuild
from autoablation._model.shapes import Projection, Projections
from autoablation._model.surgery import Config, layer_names, remove_layers, removed_layer_names

Shapes = tuple[tuple[int | None, ...], ...]
Built = tuple[Any, tuple[Projection, ...]]


def output_shapes(model: Any) -> Shapes | None:
    """The shapes of a built model's outputs, or None when it has no symbolic outputs."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    return tuple(tuple(t.shape) for t in outputs) if outputs else None


def project_sites(config: Config, trial: Trial, default: str, entry: str) -> frozenset[str]:
    """Layers whose removal may get a projection: those of components with ``"project"``."""
    sites: set[str] = set()
    for component in trial.removed:
        if (component.shape_strategy or default) != "project":
            continue
        sites.update(
            removed_layer_names(
                config,
                component.layers,
                prefixes=component.prefixes,
                modules=component.modules,
                entry=entry,
            )
        )
    return frozenset(sites)


def _hint(trial: Trial) -> str:
    declared = [c for c in trial.removed if c.removes_model_parts]
    example = (
        f" (e.g. layers.include({declared[0].layers[0]!r}, shape_strategy='project'))"
        if declared and declared[0].layers and not declared[0].prefixes
        else ""
    )
    return (
        "; to insert a learned projection there, declare the component with "
        f"shape_strategy='project'{example}, or call study.model.set_shape_strategy('project') "
        "for every removal"
    )


class _Removal:
    """One trial's removals on one config, tried with projections at chosen layers."""

    def __init__(
        self,
        config: Config,
        trial: Trial,
        custom_objects: dict[str, Any],
        entry: str,
        narrowed: Narrowed | None,
        outputs: Shapes | None,
    ) -> None:
        self.config = config
        self.trial = trial
        self.custom_objects = custom_objects
        self.entry = entry
        self.narrowed = narrowed
        self.outputs = outputs
        self._reference: Any = None

    def reference(self) -> Any:
        """The model before the removals (input already resized); its shapes guide projections.

        Raises:
            ModelSurgeryError: The narrower input alone breaks the model (named as such).
        """
        if self._reference is None:
            self._reference = rebuild(
                self.config, self.custom_objects, self.entry, narrowed=self.narrowed
            )
        return self._reference

    def attempt(self, sites: Collection[str], hint: str = "") -> Built:
        """Build the trial's model with projections at the removals of ``sites`` only."""
        adapter = None
        if sites:
            taken = set(layer_names(self.config))
            adapter = Projections(self.reference(), self.entry, taken, only=frozenset(sites))
        edited = remove_layers(
            self.config,
            self.trial.removed_layers,
            prefixes=self.trial.removed_prefixes,
            modules=self.trial.removed_modules,
            entry=self.entry,
            adapter=adapter,
        )
        model = rebuild(edited, self.custom_objects, self.entry, hint=hint)
        return model, tuple(adapter.inserted) if adapter is not None else ()

    def fits(self, model: Any) -> bool:
        """Whether the model's outputs are shaped like the base model's (or unknown)."""
        shapes = output_shapes(model)
        return self.outputs is None or shapes is None or shapes == self.outputs

    def repair(self, sites: frozenset[str], plain: ModelSurgeryError | None) -> Built:
        """Project at ``sites``, then drop every projection the model builds without."""
        try:
            model, inserted = self.attempt(sites)
        except ModelSurgeryError as exc:
            if plain is None:
                raise
            reason = str(exc).removeprefix(f"{self.entry}: ")
            raise ModelSurgeryError(
                f"{plain}; the 'project' shape strategy cannot repair it: {reason}"
            ) from exc
        if not inserted and plain is not None:
            raise plain  # no removal of a 'project' component changed a shape
        kept = [p.replaces for p in inserted]
        best: Built = (model, inserted)
        for site in list(kept):
            if len(kept) == 1:
                break  # the removal as it is did not build: the last one is needed
            try:
                candidate = self.attempt([s for s in kept if s != site])
            except ModelSurgeryError:
                continue
            if self.fits(candidate[0]):
                kept.remove(site)
                best = candidate
        return best


def remove_with_repairs(
    config: Config,
    trial: Trial,
    custom_objects: dict[str, Any],
    entry: str,
    *,
    default_strategy: str = "error",
    outputs: Shapes | None = None,
    narrowed: Narrowed | None = None,
    decided: Collection[str] | None = None,
) -> Built:
    """Build the model of ``trial`` without its layers; project only where it cannot build.

    Args:
        config: The base model's normalised config (input already resized).
        trial: What to remove, with each component's shape strategy.
        custom_objects: What the rebuild needs from the live model.
        entry: The trial and its declaration, for messages.
        default_strategy: The study's shape strategy, for components without their own.
        outputs: The base model's output shapes; a removal that changes them needs repair too.
        narrowed: Set when the trial also removes features (to blame them where they clash).
        decided: The removed layers that get a projection, as an earlier search found (on the
            driver); None to search.

    Returns:
        The model and the projections it got.

    Raises:
        UnknownComponentError: A removed layer or module bound does not exist.
        ModelSurgeryError: The removal cannot give a model, even with the projections allowed.
    """
    removal = _Removal(config, trial, custom_objects, entry, narrowed, outputs)
    if decided is not None:
        return removal.attempt(decided)
    sites = project_sites(config, trial, default_strategy, entry)
    try:
        model, _ = removal.attempt((), hint="" if sites else _hint(trial))
    except ModelSurgeryError as exc:
        if narrowed is not None:
            removal.reference()  # raises if the narrower input alone breaks the model
        if not sites:
            raise
        return removal.repair(sites, exc)
    if removal.fits(model) or not sites:
        return model, ()  # a changed output shape without 'project' is refused by the check
    try:
        return removal.repair(sites, None)
    except ModelSurgeryError:
        return model, ()  # the output shape still changes; the driver's check refuses it
