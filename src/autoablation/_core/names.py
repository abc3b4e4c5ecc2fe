"""Helpers for messages about names: "did you mean" suggestions, and what a value is.

Standard library only, so the study (which never imports Keras) and the model surgery share
them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

_KERAS_PACKAGES = ("keras", "tf_keras", "tensorflow")
_MODEL_CLASSES = frozenset({"Model", "Functional", "Sequential"})


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x1'?"`` for the closest candidate, or an empty string.

    Example:
        >>> did_you_mean("x_one", ["x1", "x2", "label"])
        "; did you mean 'x1'?"
    """
    pool = [str(c) for c in candidates]
    close = difflib.get_close_matches(name, pool, n=2, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), lowered, n=2)]
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def keras_object_kind(value: Any) -> str | None:
    """``"keras.Model"`` or ``"keras layer"`` when ``value`` is one, else None.

    Decided from the class hierarchy's names (duck typing), so callers need not import Keras.
    """
    kinds = set()
    for cls in type(value).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module.split(".")[0] in _KERAS_PACKAGES:
            kinds.add(cls.__name__)
    if kinds & _MODEL_CLASSES:
        return "keras.Model"
    if "Layer" in kinds:
        return "keras layer"
    return None
