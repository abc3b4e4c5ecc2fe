import numpy as np
import pandas as pd
import pytest

from autoablation import DatasetError, UnknownComponentError
from autoablation._data.table import load_table, prepare_table


def small_table(rows: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "colour": ["red", "blue", None, "green", "blue"] * (rows // 5),
            "size": [1.0, 2.0, np.nan, 4.0, 5.0] * (rows // 5),
            "flag": [True, False, True, False, True] * (rows // 5),
            "label": ["yes", "no", "yes", "no", "no"] * (rows // 5),
        }
    )


def test_every_non_label_column_is_a_feature_in_table_order() -> None:
    data = prepare_table(small_table(), "label", test_fraction=0.2)
    assert data.feature_names == ("colour", "size", "flag")
    assert data.x.dtype == np.float32 and data.x.shape == (10, 3)


def test_categories_are_sorted_codes_with_missing_after_the_last() -> None:
    data = prepare_table(small_table(), "label", test_fraction=0.2, standardize=False)
    colour = data.codings[0]
    assert colour.categories == ("blue", "green", "red")
    np.testing.assert_array_equal(data.x[:5, 0], [2, 0, 3, 1, 0])


def test_numeric_missing_values_take_the_training_median() -> None:
    data = prepare_table(small_table(), "label", test_fraction=0.0, standardize=False)
    assert data.codings[1].fill == pytest.approx(3.0)  # median of 1, 2, 4, 5
    assert data.x[2, 1] == pytest.approx(3.0)


def test_standardised_training_columns_have_zero_mean_unit_std() -> None:
    data = prepare_table(small_table(50), "label", test_fraction=0.2)
    train = data.x[~data.test_mask]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-5)


def test_text_label_becomes_zero_one_for_two_classes_and_indices_for_more() -> None:
    two = prepare_table(small_table(), "label", test_fraction=0.2)
    assert two.label.classes == ("no", "yes") and two.y.dtype == np.float32
    assert set(two.y.tolist()) == {0.0, 1.0}
    table = small_table().assign(label=["a", "b", "c", "a", "b"] * 2)
    multi = prepare_table(table, "label", test_fraction=0.2)
    assert multi.label.classes == ("a", "b", "c") and multi.y.dtype == np.int32


def test_split_is_deterministic_and_sized_by_test_fraction() -> None:
    first = prepare_table(small_table(50), "label", test_fraction=0.2, seed=3)
    again = prepare_table(small_table(50), "label", test_fraction=0.2, seed=3)
    other = prepare_table(small_table(50), "label", test_fraction=0.2, seed=4)
    assert first.num_rows("test") == 10 and first.num_rows("train") == 40
    np.testing.assert_array_equal(first.test_mask, again.test_mask)
    assert not np.array_equal(first.test_mask, other.test_mask)


def test_dropping_a_feature_removes_exactly_its_column() -> None:
    data = prepare_table(small_table(), "label", test_fraction=0.2)
    x_all, y_all = data.arrays("train")
    x, y = data.arrays("train", dropped=("size",))
    np.testing.assert_array_equal(x, x_all[:, [0, 2]])
    np.testing.assert_array_equal(y, y_all)


def test_unknown_dropped_feature_names_the_columns() -> None:
    data = prepare_table(small_table(), "label", test_fraction=0.2)
    with pytest.raises(UnknownComponentError, match=r"'fare'.*colour, size, flag"):
        data.arrays("train", dropped=("fare",))


@pytest.mark.parametrize(
    ("table", "kwargs", "message"),
    [
        (small_table().iloc[:0], {}, "no rows"),
        (small_table(), {"test_fraction": 1.0}, r"test_fraction must be in \[0, 1\)"),
        (small_table().iloc[:3], {"test_fraction": 0.1}, "leaves the test split empty"),
        (small_table().assign(label=[None, "a"] * 5), {}, "missing in 5 of 10 rows"),
        (
            small_table().assign(when=pd.Timestamp("2024-01-01")),
            {},
            "column 'when' has dtype datetime64",
        ),
    ],
)
def test_unusable_tables_are_refused_with_the_reason(
    table: pd.DataFrame, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        prepare_table(table, "label", **kwargs)


def test_empty_test_split_is_refused_when_asked_for() -> None:
    data = prepare_table(small_table(), "label", test_fraction=0.0)
    with pytest.raises(DatasetError, match="'test' split has no rows"):
        data.arrays("test")


def test_csv_and_parquet_paths_load_the_same_table(tmp_path) -> None:
    table = small_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_parquet(tmp_path / "t.parquet")
    from_csv = prepare_table(load_table(tmp_path / "t.csv"), "label")
    from_parquet = prepare_table(load_table(str(tmp_path / "t.parquet")), "label")
    np.testing.assert_allclose(from_csv.x, from_parquet.x)


@pytest.mark.parametrize(
    ("source", "message"),
    [("missing.csv", "does not exist"), (42, "got int")],
)
def test_bad_sources_are_refused(tmp_path, source: object, message: str) -> None:
    if isinstance(source, str):
        source = tmp_path / source
    with pytest.raises(DatasetError, match=message):
        load_table(source)  # type: ignore[arg-type]


def test_unknown_file_format_is_refused(tmp_path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_text("x")
    with pytest.raises(DatasetError, match="cannot tell the format"):
        load_table(path)


def test_decimal_objects_are_numbers_and_dates_are_refused() -> None:
    import datetime
    import decimal

    table = small_table().assign(
        price=[decimal.Decimal(v) for v in ("9.99", "10.50", "100.00", "2.00", "55.10")] * 2
    )
    data = prepare_table(table, "label", test_fraction=0.2, standardize=False)
    price = data.feature_names.index("price")
    assert data.codings[price].categories is None
    np.testing.assert_allclose(data.x[:5, price], [9.99, 10.5, 100.0, 2.0, 55.1], rtol=1e-6)
    dated = small_table().assign(day=[datetime.date(2020, 1, d) for d in range(1, 11)])
    with pytest.raises(DatasetError, match="column 'day' holds dates or times"):
        prepare_table(dated, "label")


def test_a_table_made_from_an_array_names_its_features_by_their_numbers() -> None:
    from autoablation import AblationStudy

    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(40, 4)))  # columns 0, 1, 2, 3
    table[4] = (table[0] > 0).astype(int)
    for label in (4, "4", np.int64(4)):
        study = AblationStudy(table, label_name=label)
        study.features.include(0)
        study.features.include("1", "2")
        study.features.include_groups([0, 3])
        assert study.label_name == "4" and study.feature_names == ("0", "1", "2", "3")
        data = study.prepared_data()
        assert data is not None and data.feature_names == ("0", "1", "2", "3")
        assert data.arrays("train", ["0"])[0].shape == (32, 3)
    assert list(table.columns) == [0, 1, 2, 3, 4]  # the user's table keeps its own names


def test_columns_with_the_same_name_as_text_are_refused() -> None:
    table = pd.DataFrame({0: [1.0, 2.0], "0": [3.0, 4.0], "y": [0, 1]})
    with pytest.raises(DatasetError, match="two columns named 0 and '0'; rename one"):
        load_table(table)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_feature_value_is_refused_naming_the_column(value: float) -> None:
    table = small_table(50)
    table.loc[[3, 7], "size"] = value
    with pytest.raises(
        DatasetError, match=r"column 'size' holds an infinite value \(\+inf or -inf\) in 2 of 50"
    ):
        prepare_table(table, "label")


def test_an_infinite_label_is_refused() -> None:
    table = small_table(10).assign(label=[1.0, np.inf, 0.0, 1.0, 0.0] * 2)
    with pytest.raises(DatasetError, match=r"label 'label' holds an infinite value .* in 2 of 10"):
        prepare_table(table, "label")


def test_a_repeats_split_seed_draws_its_own_rows_of_the_same_count() -> None:
    data = prepare_table(small_table(50), "label", test_fraction=0.2, seed=3)
    own = prepare_table(small_table(50), "label", test_fraction=0.2, seed=8)
    np.testing.assert_array_equal(data.held_out(3), data.test_mask)  # the study's own seed
    np.testing.assert_array_equal(data.held_out(8), own.test_mask)  # drawn as a study's split
    assert data.held_out(None) is data.test_mask
    x_test, y_test = data.arrays("test", split_seed=8)
    assert len(x_test) == 10 and (y_test == data.y[own.test_mask]).all()


def test_a_repeats_split_is_standardised_with_its_own_training_rows() -> None:
    rows = np.random.default_rng(0).normal(5.0, 2.0, size=(200, 2))
    table = pd.DataFrame({"a": rows[:, 0], "b": rows[:, 1], "y": np.arange(200) % 2})
    data = prepare_table(table, "y", test_fraction=0.3, seed=1)
    x_train, _ = data.arrays("train", split_seed=99)
    assert x_train.mean(axis=0) == pytest.approx([0.0, 0.0], abs=1e-5)
    assert x_train.std(axis=0) == pytest.approx([1.0, 1.0], abs=1e-5)
    x_test, _ = data.arrays("test", split_seed=99)
    held_out = data.held_out(99)
    raw_train = rows[~held_out]
    expected = (rows[held_out] - raw_train.mean(axis=0)) / raw_train.std(axis=0)
    assert x_test == pytest.approx(expected, abs=1e-4)  # no statistic of the test rows used
    unscaled = prepare_table(table, "y", test_fraction=0.3, seed=1, standardize=False)
    assert unscaled.arrays("test", split_seed=99)[0] == pytest.approx(rows[held_out], abs=1e-4)
