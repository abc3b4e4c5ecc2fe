"""A study's own dataset generator, checked on the driver: a removal must change its data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autoablation import AblationStudy, StudyError, UnknownComponentError
from autoablation._driver.preflight import preflight

COLUMNS = ("x1", "x2", "x3")


def table() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, len(COLUMNS))).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def kept(removed: Any) -> list[int]:
    removed = (removed,) if isinstance(removed, str) else tuple(removed or ())
    return [i for i, name in enumerate(COLUMNS) if name not in removed]


def arrays_generator(num_epochs: int, batch_size: int, ablated_feature: Any = None) -> Any:
    x, y = table()
    return x[:, kept(ablated_feature)], y


def shuffled_generator(num_epochs: int, batch_size: int, ablated_features: Any = ()) -> Any:
    import tensorflow as tf

    x, y = table()
    dataset = tf.data.Dataset.from_tensor_slices((x[:, kept(ablated_features)], y))
    return dataset.shuffle(60).batch(batch_size).repeat(num_epochs)  # unseeded: any order


def train(dataset_function: Any) -> float:
    return 1.0


def study_of(generator: Any, *features: str, names: Any = None) -> AblationStudy:
    study = AblationStudy("synthetic", 1, "y", dataset_generator=generator, feature_names=names)
    study.features.include(*features)
    return study


@pytest.mark.parametrize("generator", [arrays_generator, shuffled_generator])
def test_a_feature_the_generator_does_not_know_is_refused_naming_it(generator: Any) -> None:
    with pytest.raises(
        UnknownComponentError,
        match=r"trial 'feature:x_one': the dataset generator returns the same data without "
        r"feature 'x_one' as with every feature \(same input width and columns",
    ):
        preflight(train, study_of(generator, "x1", "x_one"))
    checked = preflight(train, study_of(generator, "x1", "x3"))  # real features pass
    assert [t.ablated for t in checked.trials] == ["base", "x1", "x3"]


def test_a_group_whose_removal_changes_nothing_is_refused() -> None:
    study = AblationStudy("synthetic", 1, "y", dataset_generator=arrays_generator)
    study.features.include_groups(["x_one", "x_two"])
    with pytest.raises(UnknownComponentError, match="without features x_one, x_two as with"):
        preflight(train, study)


def test_a_generator_that_fails_on_the_driver_is_refused_with_its_error() -> None:
    def broken(num_epochs: int, batch_size: int, ablated_feature: Any = None) -> Any:
        raise FileNotFoundError("titanic.csv")

    with pytest.raises(StudyError, match="failed when the driver called it for every feature"):
        preflight(train, study_of(broken, "x1"))


def test_declared_feature_names_check_the_study_at_once_with_the_nearest_name() -> None:
    with pytest.raises(
        UnknownComponentError,
        match=r"feature 'x_1' is not one of the dataset generator's features; "
        r"did you mean 'x1'.*\(they are: x1, x2, x3\)",
    ):
        study_of(arrays_generator, "x_1", names=COLUMNS)
    study = AblationStudy("synthetic", 1, "y")
    study.features.include("x2", "x9")  # no table and no names yet: nothing to check against
    with pytest.raises(UnknownComponentError, match="feature 'x9' is not one of"):
        study.set_dataset_generator(arrays_generator, feature_names=COLUMNS)
    assert study.dataset_generator is None  # refused whole
    study.features.exclude("x9")
    study.set_dataset_generator(arrays_generator, feature_names=COLUMNS)
    assert study.feature_names == COLUMNS and study.to_dict()["feature_columns"] == list(COLUMNS)
    checked = preflight(train, study)
    assert checked.generator_features == COLUMNS


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"feature_names": ["x1"]}, "feature_names= names a dataset generator's features"),
        (
            {"dataset_generator": arrays_generator, "feature_names": "x1"},
            "feature_names must be a list of names; got 'x1'",
        ),
        (
            {"dataset_generator": arrays_generator, "feature_names": ["x1", "x1"]},
            "feature_names names 'x1' twice",
        ),
    ],
)
def test_bad_feature_name_declarations_are_refused(arguments: Any, message: str) -> None:
    with pytest.raises(StudyError, match=message):
        AblationStudy(**arguments)
