"""Making the prepared data reachable from executors: a Spark broadcast or a staged Parquet file."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from typing import Any

from autoablation._core.errors import StudyError
from autoablation._data.datasets import DataHandle
from autoablation._data.parquet import ParquetData, write_parquet
from autoablation._data.prepared import PreparedData
from autoablation._driver.spark import is_local_master

logger = logging.getLogger("autoablation.spark")


BROADCAST_LIMIT = 256 * 1024 * 1024
"""Encoded data up to this size goes to executors as a broadcast; larger data as Parquet."""
TRANSPORTS = ("auto", "broadcast", "parquet")


def stage_data(sc: Any, data: PreparedData, transport: str, data_dir: str | None) -> DataHandle:
    """Make the prepared data reachable from every executor.

    ``"broadcast"`` ships it with Spark's broadcast (each executor keeps one copy).
    ``"parquet"`` writes one Parquet file that each executor process reads once: in
    ``data_dir`` (a path or URI every executor can read), or in a temporary folder in local
    mode. ``"auto"`` broadcasts up to `BROADCAST_LIMIT` bytes and uses Parquet above it when
    it has somewhere to put the file.

    Raises:
        StudyError: Parquet on a cluster without a ``data_dir``.
    """
    size = data.x.nbytes + data.y.nbytes + data.test_mask.nbytes
    local = is_local_master(str(sc.master))
    if transport == "auto":
        if size <= BROADCAST_LIMIT:
            transport = "broadcast"
        elif data_dir is not None or local:
            transport = "parquet"
        else:
            logger.warning(
                "broadcasting %.0f MiB of data; pass data_dir=<a path every executor can "
                "read> to stage it as Parquet instead",
                size / 2**20,
            )
            transport = "broadcast"
    if transport == "broadcast":
        handle: DataHandle = sc.broadcast(data)
        return handle
    if data_dir is None and not local:
        raise StudyError(
            "data_transport='parquet' on a cluster needs data_dir=<a path or URI every "
            "executor can read>"
        )
    folder = None
    if data_dir is None:
        data_dir = folder = tempfile.mkdtemp(prefix="autoablation-data-")
    elif "://" not in data_dir:
        data_dir = os.path.abspath(data_dir)  # executors do not share the driver's directory
    path = f"{data_dir.rstrip('/')}/{uuid.uuid4().hex}.parquet"
    cleanup = folder or path  # the temporary folder, or only the file written into data_dir
    write_parquet(data, path)
    logger.info("staged %.0f MiB of data at %s", size / 2**20, path)
    return ParquetData(path, cleanup=cleanup)
