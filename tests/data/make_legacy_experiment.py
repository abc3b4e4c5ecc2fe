"""Writes tests/data/legacy-experiment with the code of commit 2325670 (before the rooms)."""

import sys

import numpy as np
import pandas as pd

from autoablation import AblationStudy, experiment


def table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x[:, 0] > 0).astype(int)})


def train(dataset_function):
    import numpy as np

    x, _ = dataset_function.arrays()
    return float(x.shape[1] + np.random.normal(0, 0.01, size=x.shape[1])[-1])


study = AblationStudy(table(), label_name="y")
study.features.include("a", "b")
result = experiment.launch(
    train, study, name="legacy", repeats=2, experiment_dir=sys.argv[1], verbose=0, num_workers=2
)
print(result)
