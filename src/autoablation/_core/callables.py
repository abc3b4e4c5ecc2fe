"""The training function's signature: which of autoablation's parameters it takes.

Read on the driver before launch (to refuse a function that cannot be called) and again in
each worker (to pass only what the function declares).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from autoablation._core.errors import (
    TrainFunctionError,
)

TrainFunction = Callable[..., Any]
_PARAMETERS = ("dataset_function", "model_function", "reporter")


def train_parameters(train_fn: TrainFunction) -> frozenset[str]:
    """Which of ``dataset_function``, ``model_function``, ``reporter`` ``train_fn`` takes.

    Raises:
        TrainFunctionError: It is not callable, or needs a parameter autoablation cannot give.
    """
    if not callable(train_fn):
        raise TrainFunctionError(
            f"the training function must be callable; got {type(train_fn).__name__}"
        )
    try:
        signature = inspect.signature(train_fn)
    except (TypeError, ValueError) as exc:
        raise TrainFunctionError(f"cannot read the training function's signature: {exc}") from exc
    accepted: set[str] = set()
    for name, param in signature.parameters.items():
        if param.kind is param.VAR_KEYWORD:
            return frozenset(_PARAMETERS)
        if param.kind is param.VAR_POSITIONAL:
            continue
        if name in _PARAMETERS and param.kind is not param.POSITIONAL_ONLY:
            accepted.add(name)
        elif param.default is param.empty:
            raise TrainFunctionError(
                f"the training function's parameter {name!r} has no default, and autoablation "
                f"only passes {', '.join(_PARAMETERS)} (by name)"
            )
    return frozenset(accepted)
