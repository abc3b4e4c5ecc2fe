"""Checks of a study's own dataset generator on the driver, before any Spark job.

With a custom generator autoablation cannot see the data's columns, so a misspelt feature
(``include("x_one")`` for ``x1``) would run a trial that trains on exactly the base data and
ranks as "no effect". The driver therefore calls the generator the way each feature trial
will, takes the first batch only, and refuses a removal after which the generator returns the
same batch as for the base trial: same structure, input width and columns, same values.

The generator is seeded the same way before every call (Python, NumPy, and TensorFlow once it
is loaded), so a generator that shuffles gives the same order each time. One whose output
still varies between calls is checked as far as that allows: a batch that differs is never
taken for an unchanged one.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoablation._core.errors import DatasetError, UnknownComponentError
from autoablation._core.trial import Trial
from autoablation._data import batches
from autoablation._data.generated import GeneratedDataset

logger = logging.getLogger("autoablation")

PROBE_BATCH = 32
"""Rows asked of the generator for the first batch it is checked by."""


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "tensorflow" in sys.modules:  # the generator loaded it: seed its shuffles too
        import tensorflow as tf

        tf.random.set_seed(seed % 2**32)


def _output(generator: Callable[..., Any], removed: tuple[str, ...], seed: int) -> Any:
    """What the generator returns for a trial that removes ``removed``, seeded."""
    loaded = "tensorflow" in sys.modules
    _seed(seed)
    value = GeneratedDataset(generator, removed)(1, PROBE_BATCH)
    if not loaded and "tensorflow" in sys.modules:  # it loaded TensorFlow: now it is seeded
        _seed(seed)
        value = GeneratedDataset(generator, removed)(1, PROBE_BATCH)
    return value


def _called(generator: Callable[..., Any], removed: tuple[str, ...], seed: int, what: str) -> Any:
    try:
        return _output(generator, removed, seed)
    except Exception as exc:
        raise DatasetError(
            f"the dataset generator failed when the driver called it for {what} "
            f"(generator(1, {PROBE_BATCH}, ...)): {type(exc).__name__}: {exc}; the trial would "
            "fail the same way"
        ) from exc


def _what(trial: Trial) -> str:
    names = trial.removed_features
    return f"feature {names[0]!r}" if len(names) == 1 else f"features {', '.join(names)}"


def check_removals(
    generator: Callable[..., Any], trials: Sequence[Trial], *, seed: int = 0
) -> None:
    """Refuse a trial whose feature removal leaves the generator's first batch unchanged.

    Raises:
        UnknownComponentError: A removal changes nothing the generator returns.
        DatasetError: The generator fails on the driver, or returns nothing batches can be
            read from.
    """
    removals = list(dict.fromkeys(t.removed_features for t in trials if t.removed_features))
    if not removals:
        return
    output = _called(generator, (), seed, "every feature")
    try:
        base = batches.first_batch(output)
    except Exception as exc:  # something only the training function knows how to read
        logger.info(
            "cannot read a batch of what the dataset generator returns (%s); its feature "
            "removals are not checked before launch",
            exc,
        )
        return
    by_removal = {t.removed_features: t for t in reversed(trials) if t.removed_features}
    for removed in removals:
        trial = by_removal[removed]
        output = _called(generator, removed, seed, f"trial {trial.label!r}")
        try:
            batch = batches.first_batch(output)
        except Exception:  # not like the base's output at all: it changed
            continue
        if batches.same(base, batch):
            raise UnknownComponentError(
                f"trial {trial.label!r}: the dataset generator returns the same data without "
                f"{_what(trial)} as with every feature (same input width and columns, same "
                "values), so the trial would measure nothing; check the name, or make the "
                "generator leave it out (it receives ablated_feature and ablated_features). "
                "Declare the generator's features with set_dataset_generator(fn, "
                "feature_names=[...]) to have names checked when they are included"
            )
    logger.debug("the dataset generator leaves out each of %d removals", len(removals))
