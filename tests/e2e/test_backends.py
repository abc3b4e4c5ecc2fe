"""Keras on JAX end to end in local mode: three kinds of study, the fork order, the journal.

A process binds Keras to its backend once, and this one runs TensorFlow; so one driver process
of its own, started with ``KERAS_BACKEND=jax``, runs a feature and layer study (with a twin of
the base model), a module study of a Keras Applications model, and the study that
`test_statistics_and_the_journal_do_not_depend_on_the_backend` also runs here on TensorFlow.
The expected parameter counts are computed here, by hand or from Keras' own graph, never by the
surgery under test. The driver starts Spark itself, as a script does.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autoablation import load
from autoablation._core.trial import TENSORFLOW_IMPORT
from tests.e2e.backend_studies import MODULE, launch_same, mobilenet, run_jax_driver

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]


def dense_params(width: int, units: list[int]) -> int:
    """Weights of a chain of Dense layers ending in one unit, counted by hand."""
    sizes = [width, *units, 1]
    return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))


@pytest.fixture(scope="module")
def tensorflow_dir(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deterministic study, run here on TensorFlow."""
    directory = tmp_path_factory.mktemp("same-on-tensorflow")
    result = launch_same(directory, spark=spark, verbose=0)
    assert result.ok and result.backend == "tensorflow"
    return directory


@pytest.fixture(scope="module")
def jax_run(
    tensorflow_dir: Path, tmp_path_factory: pytest.TempPathFactory, jax_cache: Path
) -> tuple[dict[str, Any], str, Path]:
    """The JAX driver's results, its standard error, and its experiment folders."""
    root = tmp_path_factory.mktemp("jax-driver")
    plan = {"runs": str(root / "runs"), "same": True, "resume": str(tensorflow_dir)}
    out, stderr = run_jax_driver(plan, root, jax_cache)
    return out, stderr, root / "runs"


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows).set_index("ablated")
    assert (table["status"] == "ok").all(), table["error"].tolist()
    return table


def checked_kinds(out: dict[str, Any]) -> pd.DataFrame:
    """The feature and layer study's trials: on JAX, with the parameters counted by hand."""
    trials = frame(out["kinds"])
    assert set(trials["backend"]) == {"jax"}
    base = dense_params(5, [16, 8, 8])
    assert trials["params"].to_dict() == {
        "base": base,
        "sex": dense_params(4, [16, 8, 8]),
        "my_dense_two": dense_params(5, [16, 8]),
        "twin": base,
    }
    assert trials["width"].to_dict() == {"base": 5, "sex": 4, "my_dense_two": 5, "twin": 5}
    assert "Keras on jax" in out["header"]
    return trials


def checked_module(out: dict[str, Any]) -> pd.DataFrame:
    """The module study's trials: on JAX, without exactly the block's layers and weights."""
    from autoablation._model.build import fresh_layer_names
    from tests.model.test_applications import expected_module

    trials = frame(out["module"])
    assert set(trials["backend"]) == {"jax"}
    with fresh_layer_names():
        base = mobilenet()
    removed = expected_module(base, *MODULE)  # Keras' own graph, read here
    assert len(removed) > 3
    every = {layer.name for layer in base.layers}
    label = f"{MODULE[0]}..{MODULE[1]}"
    assert set(json.loads(trials.loc[label, "layers"])) == every - removed
    assert set(json.loads(trials.loc["base", "layers"])) == every
    assert trials.loc["base", "params"] == base.count_params()
    kept = base.count_params() - sum(base.get_layer(name).count_params() for name in removed)
    assert trials.loc[label, "params"] == kept  # a residual block: the other shapes stay
    return trials


def test_feature_and_layer_trials_train_on_jax_with_exact_parameter_counts(
    jax_run: tuple[dict[str, Any], str, Path],
) -> None:
    checked_kinds(jax_run[0])


def test_jax_trials_get_batches_without_tensorflow_and_train_deterministically(
    jax_run: tuple[dict[str, Any], str, Path],
) -> None:
    trials = checked_kinds(jax_run[0])
    assert set(trials["batches"]) == {"ArrayBatches"}  # the default generator's PyDataset
    assert not trials["tensorflow_loaded"].any()  # neither data, surgery nor seeding loaded it
    # The twin builds the base model again with the same seed: on JAX's CPU it trains to the
    # very same numbers, so every trial's seeding and batch order are reproducible.
    for column in ("loss", "test_loss", "metric"):
        assert trials.loc["twin", column] == trials.loc["base", column]
    assert trials.loc["sex", "loss"] != trials.loc["base", "loss"]  # it did train on the data


def test_a_keras_applications_module_trains_on_jax(
    jax_run: tuple[dict[str, Any], str, Path],
) -> None:
    checked_module(jax_run[0])


def test_the_driver_starts_spark_before_jax_starts_its_threads(
    jax_run: tuple[dict[str, Any], str, Path],
) -> None:
    out, stderr, _ = jax_run
    assert "Keras on jax" in out["header"]  # the driver built and checked models on JAX
    # JAX warns when the process forks after it started (Spark's JVM is launched by a fork).
    assert "os.fork() was called" not in stderr
    assert "JAX is multithreaded" not in stderr


STRIPPED = {"t", "started_at", "finished_at", "duration_s", "worker", TENSORFLOW_IMPORT}
"""Journal fields that tell when and where, not what (a worker's import time among them)."""


def journal(directory: Path) -> tuple[list[str], set[str]]:
    """The journal's events without times and workers, in a stable order; the backends named."""
    backends: set[str] = set()

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            if "backend" in value:
                backends.add(value["backend"])
            return {k: strip(v) for k, v in value.items() if k not in STRIPPED and k != "backend"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    lines = (directory / "journal.jsonl").read_text().splitlines()
    events = [json.dumps(strip(json.loads(line)), sort_keys=True) for line in lines]
    return sorted(events), backends


def test_statistics_and_the_journal_do_not_depend_on_the_backend(
    tensorflow_dir: Path, jax_run: tuple[dict[str, Any], str, Path]
) -> None:
    _, _, runs = jax_run
    on_tensorflow, tensorflow_backends = journal(tensorflow_dir)
    on_jax, jax_backends = journal(runs / "same")
    assert tensorflow_backends == {"tensorflow"}  # the fingerprint and every trial's output
    assert jax_backends == {"jax"}
    assert on_jax == on_tensorflow  # and nothing else differs
    assert len(on_jax) > 10
    ranking = load(runs / "same").ranking()
    pd.testing.assert_frame_equal(ranking, load(tensorflow_dir).ranking())
    assert ranking["p_value"].notna().any()  # two repeats: paired statistics were computed


def test_a_study_begun_on_tensorflow_is_not_resumed_on_jax(
    tensorflow_dir: Path, jax_run: tuple[dict[str, Any], str, Path]
) -> None:
    out, _, _ = jax_run
    assert out["refusal"] is not None
    assert "trained with Keras on 'tensorflow', and this launch runs on 'jax'" in out["refusal"]
    assert "backend: 'tensorflow' then, 'jax' now" in out["refusal"]
    assert "KERAS_BACKEND=tensorflow" in out["refusal"]
    assert load(tensorflow_dir).backend == "tensorflow"
