import numpy as np
import pandas as pd
import pytest

from autoablation import AblationStudy, DatasetError, DatasetFunction
from autoablation._datasets import LocalData


@pytest.fixture(scope="module")
def handle(titanic: pd.DataFrame) -> LocalData:
    data = AblationStudy(titanic, label_name="survived").prepared_data()
    assert data is not None
    return LocalData(data)


def test_batches_hold_every_feature_but_the_ablated_ones(handle: LocalData) -> None:
    dataset_function = DatasetFunction(handle, ("sex",))
    x, y = next(iter(dataset_function(1, 16)))
    assert x.shape == (16, 4) and x.dtype.name == "float32" and y.shape == (16,)
    assert dataset_function.feature_names == ("pclass", "age", "sibsp", "parch")
    assert dataset_function.label_classes == ("died", "survived")


def test_num_epochs_repeats_the_split(handle: LocalData) -> None:
    dataset_function = DatasetFunction(handle)
    rows = dataset_function.num_rows("train")
    steps = dataset_function.steps_per_epoch(100)
    batches = list(dataset_function(3, 100))
    assert len(batches) == 3 * steps
    assert sum(len(b[0]) for b in batches) == 3 * rows


def test_the_test_split_is_held_out_and_not_shuffled(handle: LocalData) -> None:
    dataset_function = DatasetFunction(handle)
    assert dataset_function.num_rows("test") == round(1309 * 0.2)
    first = np.concatenate([x for x, _ in dataset_function(1, 50, split="test")])
    again = np.concatenate([x for x, _ in dataset_function(1, 50, split="test")])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, dataset_function.arrays("test")[0])


def test_training_order_is_seeded(handle: LocalData) -> None:
    def first_batch(seed: int) -> np.ndarray:
        return next(iter(DatasetFunction(handle, seed=seed)(1, 32)))[0].numpy()

    np.testing.assert_array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), first_batch(2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 32), "num_epochs must be a positive integer; got 0"),
        ((1, 2.5), "batch_size must be a positive integer; got 2.5"),
        ((1, 32, "validation"), "unknown split 'validation'"),
    ],
)
def test_bad_arguments_are_refused(handle: LocalData, args: tuple, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        DatasetFunction(handle)(*args)
