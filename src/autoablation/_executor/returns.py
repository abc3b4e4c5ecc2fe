"""What a training function returned: a metric, and the other values worth keeping."""

from __future__ import annotations

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


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (Real, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if hasattr(value, "item") and getattr(value, "size", None) == 1:  # 0-d array or tensor
        return _json_scalar(value.item())
    return repr(value)[:200]


def _as_metric(value: Any, what: str) -> float:
    if hasattr(value, "item") and getattr(value, "size", None) == 1 and not isinstance(value, bool):
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
        extra = [(str(k)[:200], v) for k, v in value.items() if k != optimization_key]
        if len(extra) > MAX_OUTPUTS:
            logger.warning("keeping %d of %d returned values", MAX_OUTPUTS, len(extra))
        return metric, {k: _json_scalar(v) for k, v in extra[:MAX_OUTPUTS]}
    return _as_metric(value, "the training function's return value"), {}
