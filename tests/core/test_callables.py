"""Which of autoablation's parameters a training function takes."""

from __future__ import annotations

from typing import Any

import pytest

from autoablation import TrainFunctionError
from autoablation._core.callables import train_parameters


def test_train_gets_only_the_parameters_it_declares() -> None:
    def two(dataset_function, model_function):  # type: ignore[no-untyped-def]
        return 1

    def everything(**kwargs):  # type: ignore[no-untyped-def]
        return 1

    def nothing():  # type: ignore[no-untyped-def]
        return 1

    assert train_parameters(two) == {"dataset_function", "model_function"}
    assert train_parameters(everything) == {"dataset_function", "model_function", "reporter"}
    assert train_parameters(nothing) == frozenset()


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (lambda model_func, dataset_func: 1, "parameter 'model_func' has no default"),
        ("train", "must be callable; got str"),
    ],
)
def test_unusable_training_functions_are_refused(train: Any, message: str) -> None:
    with pytest.raises(TrainFunctionError, match=message):
        train_parameters(train)
