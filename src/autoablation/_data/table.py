"""Tabular training data: loading, deterministic split, and one encoding for every trial.

The driver encodes the table once into a float32 matrix (one column per feature) and a label
vector; executors receive that through a Spark broadcast and only select columns. Because the
encoding is fixed before any trial runs, a categorical column means the same numbers in every
trial, and a feature trial differs from the base trial in exactly one column.

Encoding rules:
    * columns are named by their text (``pd.DataFrame(array)`` numbers them: ``"0"``, ``"1"``...);
    * numeric and boolean columns are used as numbers, missing values filled with the training
      rows' median; an infinite value (+inf or -inf) is refused, naming the column;
    * text and categorical columns become the index of the value in the sorted list of
      distinct values; a missing value gets its own code after the last category;
    * with ``standardize=True`` (the default) every column is then centred and scaled with the
      training rows' mean and standard deviation;
    * a text or categorical label becomes class indices in sorted order (float 0/1 for two
      classes, integers otherwise); a numeric label is kept as float32.

No TensorFlow here: this module runs on the driver before Spark or Keras are touched. Executors
use only `PreparedData`, so pandas is imported by the functions that read a table, not by the
module: a fresh Python worker does not pay for it.
"""

from __future__ import annotations

import datetime
import decimal
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from autoablation._core.errors import DatasetError

if TYPE_CHECKING:  # pandas is imported where a table is read: executors only slice arrays
    import pandas as pd
from autoablation._data.prepared import ColumnCoding, LabelCoding, PreparedData, split_mask

TableSource: TypeAlias = "pd.DataFrame | str | os.PathLike[str]"

_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


def is_spark_dataframe(value: object) -> bool:
    """Whether ``value`` is a Spark DataFrame (checked without importing PySpark)."""
    return type(value).__module__.startswith("pyspark.") and hasattr(value, "toPandas")


def load_table(source: Any) -> pd.DataFrame:
    """Return the study's table from a pandas or Spark DataFrame, a CSV file or Parquet data.

    A Spark DataFrame is collected to the driver (through Arrow when the session enables it):
    the driver encodes the table once for every trial.

    Raises:
        DatasetError: The path does not exist, its format is unknown, or ``source`` is none of
            the above.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return named_columns(source)
    if is_spark_dataframe(source):
        table: pd.DataFrame = source.toPandas()
        return named_columns(table)
    if not isinstance(source, (str, os.PathLike)):
        raise DatasetError(
            "training data must be a pandas or Spark DataFrame, or a path to a CSV or Parquet "
            f"file; got {type(source).__name__}"
        )
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"training data path '{path}' does not exist")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in _PARQUET_SUFFIXES:
        return named_columns(pd.read_parquet(path))
    if suffix in _CSV_SUFFIXES:
        return named_columns(pd.read_csv(path, sep="\t" if suffix == ".tsv" else ","))
    raise DatasetError(
        f"cannot tell the format of '{path}': use a .csv, .tsv, .parquet or .pq file, "
        "a Parquet folder, or pass a pandas DataFrame"
    )


def named_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every column named by its text: ``pd.DataFrame(array)`` numbers them 0, 1...

    Features are named by ``str(column)`` everywhere (``features.include("0")``), so the label
    may be given as ``0`` or ``"0"``. The data is not copied.

    Raises:
        DatasetError: Two columns have the same name (as text).
    """
    import pandas as pd

    names = [str(c) for c in table.columns]
    seen: dict[str, object] = {}
    for column, name in zip(table.columns, names, strict=True):
        if name in seen:
            first = seen[name]
            same = f"{first!r} and {column!r}" if first != column else f"{name!r} twice"
            raise DatasetError(
                f"the training data has two columns named {same}; rename one "
                "(table.columns = [...]) so every feature has its own name"
            )
        seen[name] = column
    if all(isinstance(c, str) for c in table.columns):
        return table
    renamed = table.copy(deep=False)  # the user's frame keeps its names; the data is shared
    renamed.columns = pd.Index(names)
    return renamed


def _is_categorical(series: pd.Series) -> bool:
    import pandas as pd

    return bool(
        pd.api.types.is_object_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(series)
    )


def _objects_as_numbers(series: pd.Series) -> pd.Series:
    """Object columns of decimals (Spark's DecimalType) become floats; dates are refused."""
    import pandas as pd

    if not pd.api.types.is_object_dtype(series):
        return series
    values = series.dropna()
    if any(isinstance(v, (datetime.date, datetime.time)) for v in values):
        raise DatasetError(
            f"column {series.name!r} holds dates or times, which autoablation cannot encode; "
            "convert it to numbers (e.g. days since an origin) or drop it from the table"
        )
    if len(values) and all(
        isinstance(v, (decimal.Decimal, int, float)) and not isinstance(v, bool) for v in values
    ):
        return series.astype(float)
    return series


def _refuse_infinite(values: npt.NDArray[Any], what: str, missing: str) -> None:
    """Refuse +inf and -inf: standardising them would turn the whole column into NaN."""
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise DatasetError(
            f"{what} holds an infinite value (+inf or -inf) in {infinite} of {len(values)} rows; "
            "replace them first, e.g. with NaN to "
            f"{missing} (table.replace([np.inf, -np.inf], np.nan)), or drop those rows"
        )


def _code_feature(
    series: pd.Series, train: npt.NDArray[np.bool_], standardize: bool
) -> tuple[npt.NDArray[np.float64], ColumnCoding]:
    import pandas as pd

    name = str(series.name)
    series = _objects_as_numbers(series)
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(float)
    if _is_categorical(series):
        present = series.notna().to_numpy()
        values = series.astype(str).to_numpy()
        categories = tuple(sorted(set(values[present])))
        lookup = {value: float(code) for code, value in enumerate(categories)}
        missing_code = float(len(categories))
        coded = np.array(
            [lookup[v] if ok else missing_code for v, ok in zip(values, present, strict=True)],
            dtype=np.float64,
        )
        coding_categories: tuple[str, ...] | None = categories
        fill = missing_code
    elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_complex_dtype(series):
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
        _refuse_infinite(raw, f"column {name!r}", "fill them with the training median")
        train_values = raw[train & ~np.isnan(raw)]
        fill = float(np.median(train_values)) if train_values.size else 0.0
        coded = np.where(np.isnan(raw), fill, raw)
        coding_categories = None
    else:
        raise DatasetError(
            f"column {name!r} has dtype {series.dtype}, which autoablation cannot encode; "
            "convert it to numbers or text, or drop it from the table"
        )
    mean, scale = 0.0, 1.0
    if standardize:
        mean = float(coded[train].mean())
        std = float(coded[train].std())
        scale = std if std > 0 else 1.0
    return (coded - mean) / scale, ColumnCoding(name, coding_categories, fill, mean, scale)


def _code_label(series: pd.Series) -> tuple[npt.NDArray[np.generic], LabelCoding]:
    import pandas as pd

    name = str(series.name)
    series = _objects_as_numbers(series)
    missing = int(series.isna().sum())
    if missing:
        raise DatasetError(
            f"label {name!r} is missing in {missing} of {len(series)} rows; "
            "drop or fill those rows first"
        )
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float32), LabelCoding(name, None)
    if _is_categorical(series):
        values = series.astype(str).to_numpy()
        classes = tuple(sorted(set(values)))
        lookup = {value: code for code, value in enumerate(classes)}
        codes = np.array([lookup[v] for v in values])
        dtype = np.float32 if len(classes) <= 2 else np.int32
        return codes.astype(dtype), LabelCoding(name, classes)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_complex_dtype(series):
        values = series.to_numpy(dtype=np.float64)
        _refuse_infinite(values, f"label {name!r}", "then drop those rows")
        return values.astype(np.float32), LabelCoding(name, None)
    raise DatasetError(f"label {name!r} has dtype {series.dtype}; expected numbers or text")


def prepare_table(
    table: pd.DataFrame,
    label_name: str | int,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    standardize: bool = True,
) -> PreparedData:
    """Encode a table for every trial of a study, with a deterministic train/test split.

    Args:
        table: One row per example; every column but the label is a feature, named by
            ``str(column)``.
        label_name: The column to predict (``0`` and ``"0"`` name the same column).
        test_fraction: Share of rows held out as the test split, in [0, 1).
        seed: Seeds the split, so the same study always holds out the same rows (repeats
            that vary the split draw theirs the same way from their own seeds).
        standardize: Centre and scale every feature with training-row statistics.

    Raises:
        DatasetError: No rows, a missing label, an empty split, a column of unusable type, an
            infinite value, or two columns of the same name.
    """
    table = named_columns(table)
    label_name = str(label_name)
    if label_name not in table.columns:
        raise DatasetError(
            f"label {label_name!r} is not a column of the training data; "
            f"its columns are: {', '.join(map(str, table.columns))}"
        )
    if len(table) == 0:
        raise DatasetError("the training data has no rows")
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in [0, 1); got {test_fraction}")
    n_rows = len(table)
    n_test = round(n_rows * test_fraction)
    if test_fraction > 0 and n_test == 0:
        raise DatasetError(
            f"test_fraction={test_fraction} of {n_rows} rows leaves the test split empty; "
            "give more rows or a larger test_fraction"
        )
    if n_test >= n_rows:
        raise DatasetError(f"test_fraction={test_fraction} leaves no training rows")
    test_mask = split_mask(n_rows, n_test, seed)
    train = ~test_mask

    feature_names = tuple(c for c in table.columns if c != label_name)
    columns: list[npt.NDArray[np.float64]] = []
    codings: list[ColumnCoding] = []
    for name in feature_names:
        coded, coding = _code_feature(table[name], train, standardize)
        columns.append(coded)
        codings.append(coding)
    x = (
        np.stack(columns, axis=1).astype(np.float32)
        if columns
        else np.zeros((n_rows, 0), dtype=np.float32)
    )
    y, label = _code_label(table[label_name])
    return PreparedData(feature_names, x, y, test_mask, tuple(codings), label, standardize)
