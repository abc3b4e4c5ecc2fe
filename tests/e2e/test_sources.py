"""Every data source gives the same trials the same data, on a real local Spark session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autoablation import AblationStudy, experiment
from tests.helpers import dense_model

pytestmark = pytest.mark.spark


def train(dataset_function: Any, model_function: Any) -> dict[str, float]:
    model = model_function()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        dataset_function(2, 64),
        epochs=2,
        steps_per_epoch=dataset_function.steps_per_epoch(64),
        verbose=0,
    )
    loss, accuracy = model.evaluate(dataset_function(1, 64, split="test"), verbose=0)
    return {"metric": accuracy, "test_loss": loss, "train_loss": history.history["loss"][-1]}


def run(spark: Any, source: Any, **options: Any) -> pd.DataFrame:
    study = AblationStudy(source, label_name="survived", seed=7)
    study.features.include("sex")
    study.features.include_groups(["sibsp", "parch"])
    study.model.set_base_model_generator(dense_model)
    study.model.layers.include("my_dense_two")
    result = experiment.launch(train, study, name="sources", spark=spark, overwrite=True, **options)
    frame = result.to_pandas().set_index("ablated")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    return frame[["metric", "test_loss", "train_loss"]]


def test_spark_dataframe_and_parquet_sources_match_the_pandas_source(
    spark: Any, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    from_pandas = run(spark, titanic)
    parquet = tmp_path / "titanic.parquet"
    titanic.to_parquet(parquet)
    from_parquet = run(spark, str(parquet))
    from_spark = run(spark, spark.createDataFrame(titanic), data_transport="parquet")
    pd.testing.assert_frame_equal(from_parquet, from_pandas)
    pd.testing.assert_frame_equal(from_spark, from_pandas)
    assert from_pandas.index.tolist() == ["base", "sex", "sibsp+parch", "my_dense_two"]
