"""Staging prepared data as one Parquet file: the writer on the driver, the reader on executors.

Used when data is too large for a Spark broadcast: the driver writes the file once to a path
every executor can read, and each executor process reads it once and keeps it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any

import numpy as np

from autoablation._data.prepared import ColumnCoding, LabelCoding, PreparedData

_PARQUET_CACHE: dict[str, PreparedData] = {}
_META_KEY = b"autoablation"


def write_parquet(data: PreparedData, path: str) -> None:
    """Write prepared data as one Parquet file that `ParquetData` reads back exactly."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {f"x{i}": data.x[:, i] for i in range(data.x.shape[1])}
    columns["label"] = data.y
    columns["test"] = data.test_mask
    meta = {
        "feature_names": list(data.feature_names),
        "codings": [dataclasses.asdict(c) for c in data.codings],
        "label": dataclasses.asdict(data.label),
        "label_dtype": str(data.y.dtype),
        "standardized": data.standardized,
    }
    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(meta)})
    with pa.OSFile(path, "wb") if "://" not in path else _remote_sink(path) as sink:
        pq.write_table(table, sink)


def _remote_sink(path: str) -> Any:
    from pyarrow import fs

    filesystem, inner = fs.FileSystem.from_uri(path)
    return filesystem.open_output_stream(inner)


def read_parquet(path: str) -> PreparedData:
    """Read what `write_parquet` wrote."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[_META_KEY])
    names = tuple(meta["feature_names"])
    x = (
        np.stack([table.column(f"x{i}").to_numpy() for i in range(len(names))], axis=1).astype(
            np.float32
        )
        if names
        else np.zeros((table.num_rows, 0), dtype=np.float32)
    )
    return PreparedData(
        feature_names=names,
        x=x,
        y=table.column("label").to_numpy().astype(meta["label_dtype"]),
        test_mask=table.column("test").to_numpy(zero_copy_only=False).astype(bool),
        codings=tuple(
            ColumnCoding(**{**c, "categories": _tuple(c["categories"])}) for c in meta["codings"]
        ),
        label=LabelCoding(meta["label"]["name"], _tuple(meta["label"]["classes"])),
        standardized=bool(meta.get("standardized", False)),
    )


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


class ParquetData:
    """A `DataHandle` for data too large to broadcast: executors read one Parquet file.

    Each executor process reads the file once and keeps it for every trial it runs.

    Args:
        path: Where the file is; a local path or a URI every executor can read.
        cleanup: A local file or folder to delete when the experiment releases the data.
    """

    def __init__(self, path: str, *, cleanup: str | None = None) -> None:
        self.path = path
        self._cleanup = cleanup

    @property
    def value(self) -> PreparedData:
        """The prepared data, read on first use in this process.

        One table is kept per process: Spark reuses Python workers across experiments, and
        data large enough to be staged must not pile up in them.
        """
        data = _PARQUET_CACHE.get(self.path)
        if data is None:
            _PARQUET_CACHE.clear()
            data = _PARQUET_CACHE[self.path] = read_parquet(self.path)
        return data

    def unpersist(self, blocking: bool = False) -> None:
        """Delete what this run staged (never anything else in a folder the user gave)."""
        target = self._cleanup
        self._cleanup = None
        if target is None:
            return
        if "://" in target:
            from pyarrow import fs

            filesystem, inner = fs.FileSystem.from_uri(target)
            filesystem.delete_file(inner)
        elif os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
        elif os.path.exists(target):
            os.remove(target)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_cleanup": None}  # executors never delete it
