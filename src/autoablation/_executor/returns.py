"""What a training function returned: a metric, and the other values worth keeping.

The metric is a number: a Python or NumPy number, a 0-d array or a 0-d tensor (TensorFlow,
PyTorch, JAX: anything with ``.numpy()`` or ``__array__``). Other values of a returned dict are
kept as JSON: numbers, text, and structures of them (a Keras history dict, a NumPy array as
nested lists), within bounds so that no result grows past what the wire and the journal carry.
Anything else is kept as its ``repr``, shortened.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np

from autoablation._core.errors import (
    ReturnValueError,
)

logger = logging.getLogger("autoablation.worker")
MAX_OUTPUTS = 256
"""Extra values of a returned dict kept besides the metric."""
MAX_ITEMS = 10_000
"""Values kept of one returned list, dict or array; a larger one is cut (and says so)."""
MAX_DEPTH = 8
"""Nesting kept of a returned structure; deeper levels are kept as their ``repr``."""
MAX_OUTPUT_CHARS = 1_000_000
"""JSON characters all kept values may take; past it, the largest are replaced by a note."""
MAX_TEXT = 10_000
"""Characters kept of one returned string."""
_REPR_CHARS = 200


def _array_of(value: Any) -> np.ndarray[Any, Any] | None:
    """``value`` as a NumPy array when it is an array or a tensor, else None."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (str, bytes, Mapping, list, tuple)) or np.isscalar(value):
        return None
    to_numpy = getattr(value, "numpy", None)
    try:
        if callable(to_numpy):  # TensorFlow, PyTorch (on CPU), JAX tensors
            return np.asarray(to_numpy())
        if hasattr(value, "__array__"):
            return np.asarray(value)
    except Exception:  # a tensor that cannot leave its device or graph: kept as its repr
        return None
    return None


def _note(value: Any, why: str) -> str:
    return f"<{type(value).__name__}: {why}>"


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-compatible copy of ``value``, bounded in size; non-finite numbers become None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "... (shortened)"
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (Real, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.bool_):
        return bool(value)
    array = _array_of(value)
    if array is not None:
        if array.ndim == 0:
            return _jsonable(array.item(), depth)
        if array.dtype.kind not in "biuf":
            return repr(value)[:_REPR_CHARS]
        if array.size > MAX_ITEMS:
            shape = "x".join(map(str, array.shape))
            return _note(value, f"{shape} {array.dtype} values, over {MAX_ITEMS:,}: not kept")
        return _jsonable(array.tolist(), depth)
    if depth >= MAX_DEPTH:
        return repr(value)[:_REPR_CHARS]
    if isinstance(value, Mapping):
        items = list(value.items())
        kept = {str(k)[:_REPR_CHARS]: _jsonable(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            kept["..."] = f"{len(items) - MAX_ITEMS:,} more items not kept"
        return kept
    if isinstance(value, (list, tuple, set, frozenset)):
        members = list(value)
        kept_list = [_jsonable(v, depth + 1) for v in members[:MAX_ITEMS]]
        if len(members) > MAX_ITEMS:
            kept_list.append(f"... {len(members) - MAX_ITEMS:,} more items not kept")
        return kept_list
    return repr(value)[:_REPR_CHARS]


def _within_budget(outputs: dict[str, Any]) -> dict[str, Any]:
    """Replace the largest values by a note until every value's JSON fits `MAX_OUTPUT_CHARS`."""
    sizes = {key: len(json.dumps(value)) for key, value in outputs.items()}
    total = sum(sizes.values())
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= MAX_OUTPUT_CHARS:
            break
        note = f"<{sizes[key]:,} characters of JSON: over the {MAX_OUTPUT_CHARS:,} kept in all>"
        logger.warning("returned value %r is too large to keep (%d characters)", key, sizes[key])
        outputs[key] = note
        total += len(note) - sizes[key]
    return outputs


def _as_metric(value: Any, what: str) -> float:
    if type(value) is float and math.isfinite(value):  # the common case, on every trial
        return value
    array = _array_of(value)
    if array is not None and array.size == 1:
        value = array.item()
    elif hasattr(value, "item") and getattr(value, "size", None) == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (Real, np.number)):
        raise ReturnValueError(f"{what} is {value!r} ({type(value).__name__}); expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ReturnValueError(f"{what} is {number}; expected a finite number")
    return number


def interpret_return(value: Any, optimization_key: str) -> tuple[float, dict[str, Any]]:
    """Turn a training function's return value into ``(metric, other outputs)``.

    Raises:
        ReturnValueError: None, a non-number, a non-finite number, or a dict without the key.
    """
    if value is None:
        raise ReturnValueError(
            "the training function returned None; return a number or a dict holding "
            f"{optimization_key!r}"
        )
    if isinstance(value, Mapping):
        if optimization_key not in value:
            keys = ", ".join(map(repr, value)) or "none"
            raise ReturnValueError(
                f"the training function returned a dict without the optimization key "
                f"{optimization_key!r}; its keys are: {keys}"
            )
        metric = _as_metric(value[optimization_key], f"the returned {optimization_key!r}")
        extra = [(str(k)[:_REPR_CHARS], v) for k, v in value.items() if k != optimization_key]
        if len(extra) > MAX_OUTPUTS:
            logger.warning("keeping %d of %d returned values", MAX_OUTPUTS, len(extra))
        return metric, _within_budget({k: _jsonable(v) for k, v in extra[:MAX_OUTPUTS]})
    return _as_metric(value, "the training function's return value"), {}
