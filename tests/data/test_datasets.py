import numpy as np
import pandas as pd
import pytest

from autoablation import AblationStudy, DatasetError, DatasetFunction
from autoablation._data.datasets import LocalData


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


def test_parquet_staging_gives_back_exactly_the_same_data(handle: LocalData, tmp_path) -> None:
    from autoablation._data.parquet import ParquetData, write_parquet

    path = str(tmp_path / "data.parquet")
    write_parquet(handle.value, path)
    staged = ParquetData(path, cleanup=path)
    data, again = handle.value, staged.value
    np.testing.assert_array_equal(data.x, again.x)
    np.testing.assert_array_equal(data.y, again.y)
    np.testing.assert_array_equal(data.test_mask, again.test_mask)
    assert (again.feature_names, again.codings, again.label) == (
        data.feature_names,
        data.codings,
        data.label,
    )
    assert again.y.dtype == data.y.dtype
    assert staged.value is again  # read once per process
    staged.unpersist()
    assert not (tmp_path / "data.parquet").exists()


def test_a_pickled_parquet_handle_never_deletes_the_file(tmp_path) -> None:
    import pickle

    from autoablation._data.parquet import ParquetData

    path = tmp_path / "data.parquet"
    path.write_bytes(b"x")
    pickle.loads(pickle.dumps(ParquetData(str(path), cleanup=str(path)))).unpersist()
    assert path.exists()


def test_a_custom_generator_is_told_the_split_and_the_ablated_features() -> None:
    from autoablation import GeneratedDataset

    calls: list[tuple] = []

    def generator(num_epochs, batch_size, split, ablated_feature, ablated_features):  # type: ignore[no-untyped-def]
        calls.append((num_epochs, batch_size, split, ablated_feature, ablated_features))
        return "dataset"

    assert GeneratedDataset(generator, ("sex",))(3, 16) == "dataset"
    GeneratedDataset(generator, ("sibsp", "parch"))(1, 8, split="test")
    GeneratedDataset(generator, ())(1, 8)
    assert calls == [
        (3, 16, "train", "sex", ("sex",)),
        (1, 8, "test", ("sibsp", "parch"), ("sibsp", "parch")),
        (1, 8, "train", None, ()),
    ]


def test_a_custom_generator_that_declares_split_seed_is_told_the_repeats() -> None:
    from autoablation import GeneratedDataset

    seen: list[object] = []

    def generator(num_epochs, batch_size, split="train", split_seed=None):  # type: ignore[no-untyped-def]
        seen.append(split_seed)
        return "dataset"

    GeneratedDataset(generator, (), split_seed=1234)(1, 8)
    GeneratedDataset(generator, ())(1, 8)  # vary_split=False: the study's one split
    assert seen == [1234, None]


def test_the_dataset_function_serves_its_repeats_split(handle: LocalData) -> None:
    study_split = DatasetFunction(handle, ("sex",)).arrays("test")
    same = DatasetFunction(handle, ("sex",), split_seed=0).arrays("test")  # the study's seed
    other = DatasetFunction(handle, ("sex",), split_seed=7).arrays("test")
    assert (same[1] == study_split[1]).all() and len(other[1]) == len(study_split[1])
    assert not np.array_equal(other[0], study_split[0])
    assert DatasetFunction(handle, (), split_seed=7).num_rows("test") == len(other[1])


def test_a_generator_without_split_cannot_give_the_test_split() -> None:
    from autoablation import GeneratedDataset

    dataset = GeneratedDataset(lambda num_epochs, batch_size, ablated_feature: "d", ())
    assert dataset(1, 1) == "d"
    with pytest.raises(DatasetError, match="declares no 'split' parameter"):
        dataset(1, 1, split="test")


class FakeContext:
    """Stands in for a SparkContext in the transport decision (a unit test)."""

    def __init__(self, master: str) -> None:
        self.master = master
        self.broadcasts: list[object] = []

    def broadcast(self, value: object) -> str:
        self.broadcasts.append(value)
        return "broadcast"


def test_transport_follows_size_and_choice(handle: LocalData, tmp_path, monkeypatch) -> None:
    from autoablation import StudyError
    from autoablation._data.parquet import ParquetData
    from autoablation._driver import staging

    data = handle.value
    assert staging.stage_data(FakeContext("local[2]"), data, "auto", None) == "broadcast"
    monkeypatch.setattr(staging, "BROADCAST_LIMIT", 10)
    staged = staging.stage_data(FakeContext("local[2]"), data, "auto", None)
    assert isinstance(staged, ParquetData) and staged.value.x.shape == data.x.shape
    staged.unpersist()
    assert staging.stage_data(FakeContext("yarn"), data, "auto", None) == "broadcast"
    kept = staging.stage_data(FakeContext("yarn"), data, "parquet", str(tmp_path))
    assert isinstance(kept, ParquetData) and kept.path.startswith(str(tmp_path))
    with pytest.raises(StudyError, match="needs data_dir"):
        staging.stage_data(FakeContext("yarn"), data, "parquet", None)


def test_one_staged_table_is_kept_per_process(handle: LocalData, tmp_path) -> None:
    from autoablation._data.parquet import _PARQUET_CACHE, ParquetData, write_parquet

    for name in ("first", "second"):
        path = str(tmp_path / f"{name}.parquet")
        write_parquet(handle.value, path)
        assert ParquetData(path).value.x.shape == handle.value.x.shape
    assert list(_PARQUET_CACHE) == [str(tmp_path / "second.parquet")]


def test_a_relative_data_dir_is_made_absolute_and_only_the_staged_file_deleted(
    handle: LocalData, tmp_path, monkeypatch
) -> None:
    from autoablation._driver import staging

    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "keep.txt").write_text("the user's file")
    staged = staging.stage_data(FakeContext("yarn"), handle.value, "parquet", "shared")
    assert staged.path.startswith(str(tmp_path / "shared") + "/")
    staged.unpersist()
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["keep.txt"]


def tf_titanic(num_epochs: int, batch_size: int, split: str = "train", ablated_feature=None):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    x, y = generated_table(split, ablated_feature)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).repeat(num_epochs)


def generated_table(split: str, ablated_feature: object) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100 if split == "train" else 30, 3)).astype("float32")
    names = ["a", "b", "c"]
    keep = [i for i, n in enumerate(names) if n != ablated_feature]
    return x[:, keep], (x[:, 0] > 0).astype("float32")


def array_titanic(num_epochs: int, batch_size: int, split: str = "train", ablated_feature=None):  # type: ignore[no-untyped-def]
    return generated_table(split, ablated_feature)


def python_titanic(num_epochs: int, batch_size: int, split: str = "train", ablated_feature=None):  # type: ignore[no-untyped-def]
    x, y = generated_table(split, ablated_feature)
    for _ in range(num_epochs):
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]


@pytest.mark.parametrize("generator", [tf_titanic, array_titanic, python_titanic])
def test_a_generated_dataset_has_the_default_interface_where_it_can_be_known(
    generator: object,
) -> None:
    from autoablation import GeneratedDataset

    dataset = GeneratedDataset(generator, ("b",), feature_names=["a", "b", "c"])  # type: ignore[arg-type]
    assert dataset.steps_per_epoch(32) == 4 and dataset.steps_per_epoch(10, split="test") == 3
    assert dataset.num_rows() == 100 and dataset.num_rows("test") == 30
    assert dataset.feature_names == ("a", "c") and dataset.input_width == 2
    x, y = dataset.arrays("test")
    assert x.shape == (30, 2) and y.shape == (30,)
    np.testing.assert_array_equal(x, generated_table("test", "b")[0])


def test_what_a_generated_dataset_cannot_know_is_an_error_saying_how_to_provide_it() -> None:
    from autoablation import GeneratedDataset

    dataset = GeneratedDataset(tf_titanic, ("b",))
    with pytest.raises(DatasetError, match=r"declare them with study.set_dataset_generator\(fn, "):
        dataset.feature_names  # noqa: B018
    with pytest.raises(DatasetError, match="the generator encodes the label itself"):
        dataset.label_classes  # noqa: B018


def test_an_endless_or_unreadable_generator_is_named_not_counted_forever() -> None:
    from autoablation import GeneratedDataset

    def endless(num_epochs: int, batch_size: int):  # type: ignore[no-untyped-def]
        return tf_titanic(1, batch_size).repeat()

    with pytest.raises(DatasetError, match=r"repeats forever.*dataset.repeat\(num_epochs\)"):
        GeneratedDataset(endless, ()).steps_per_epoch(32)

    def named_inputs(num_epochs: int, batch_size: int):  # type: ignore[no-untyped-def]
        x, y = generated_table("train", None)
        return {"a": x[:, :1], "b": x[:, 1:]}, y

    named = GeneratedDataset(named_inputs, ())
    assert named.num_rows() == 100 and named.steps_per_epoch(64) == 2
    with pytest.raises(DatasetError, match="inputs are a dict of 2 inputs, not one array"):
        named.input_width  # noqa: B018


def test_array_batches_hold_the_passes_tf_data_holds(handle: LocalData) -> None:
    """The JAX and PyTorch batches: every pass a seeded permutation, as tf.data gives."""
    from autoablation._data.arrays import ArrayBatches

    x, y = DatasetFunction(handle).arrays()
    batches = ArrayBatches(x, y, 100, 3, seed=7)
    steps = DatasetFunction(handle).steps_per_epoch(100)
    assert len(batches) == 3 * steps and batches.steps == steps
    passes = [np.concatenate([batches[p * steps + s][0] for s in range(steps)]) for p in range(3)]
    rows = np.sort(x, axis=0)
    for order in passes:  # each pass holds every row once, the last batch short
        np.testing.assert_array_equal(np.sort(order, axis=0), rows)
    assert len(batches[steps - 1][0]) == len(x) - (steps - 1) * 100
    assert not np.array_equal(passes[0], passes[1])  # a new order every pass
    again = ArrayBatches(x, y, 100, 3, seed=7)
    np.testing.assert_array_equal(again[steps + 2][0], batches[steps + 2][0])  # seeded
    other = ArrayBatches(x, y, 100, 3, seed=8)
    assert not np.array_equal(other[0][0], batches[0][0])
    with pytest.raises(IndexError, match=f"batch {len(batches)} out of range"):
        batches[len(batches)]
    ids = np.arange(10, dtype=np.float32)
    features, labels = ArrayBatches(ids[:, None], ids * 10, 4, 2, seed=3)[4]
    np.testing.assert_array_equal(labels, features[:, 0] * 10)  # each label stays with its row


def test_unshuffled_array_batches_are_the_tf_data_batches(handle: LocalData) -> None:
    from autoablation._data.arrays import ArrayBatches

    dataset_function = DatasetFunction(handle)
    x, y = dataset_function.arrays("test")
    ours = ArrayBatches(x, y, 50, 2, seed=None)
    theirs = list(dataset_function(2, 50, split="test"))
    assert len(ours) == len(theirs)
    for index, (tx, ty) in enumerate(theirs):
        np.testing.assert_array_equal(ours[index][0], tx.numpy())
        np.testing.assert_array_equal(ours[index][1], ty.numpy())
