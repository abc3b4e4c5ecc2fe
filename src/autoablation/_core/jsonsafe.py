"""JSON with non-finite floats: written as null, in one place.

The wire and the journal both need strict JSON (no ``NaN``/``Infinity`` literals) and both
meet the odd non-finite metric or non-string key; `dumps` takes the fast path when nothing
needs replacing and walks the value only when it must.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` in strict JSON: non-finite floats become null, non-string keys strings.

    The common case (nothing to replace) costs one ``json.dumps``; only a value that fails it
    is walked and encoded again.

    Raises:
        TypeError: The value holds something JSON cannot carry (unless ``default`` is given).
    """
    try:
        return json.dumps(value, allow_nan=False, **options)
    except (TypeError, ValueError):  # a non-finite float or a non-string key somewhere
        return json.dumps(json_safe(value), allow_nan=False, **options)
