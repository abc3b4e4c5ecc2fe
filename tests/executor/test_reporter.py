import pytest

from autoablation import Reporter, ReturnValueError, Trial


def reporter() -> Reporter:
    return Reporter(Trial.create("base", "base", seed=5))


def test_broadcast_numbers_steps_from_zero_and_drain_empties_the_buffer() -> None:
    r = reporter()
    r.broadcast(0.5)
    r.broadcast(0.6)
    r.broadcast(0.7, step=10)
    r.log("line one\nline two")
    assert r.drain() == ([(0, 0.5), (1, 0.6), (10, 0.7)], ["line one", "line two"])
    assert r.drain() == ([], [])


def test_non_finite_values_are_kept_as_gaps() -> None:
    r = reporter()
    r.broadcast(float("inf"))
    assert r.drain()[0] == [(0, None)]


@pytest.mark.parametrize(
    ("value", "step", "message"),
    [
        ("0.5", None, r"needs a number; got '0.5' \(str\)"),
        (True, None, "needs a number"),
        (0.5, 1.5, "step must be an integer"),
    ],
)
def test_bad_broadcasts_are_refused(value: object, step: object, message: str) -> None:
    with pytest.raises(ReturnValueError, match=message):
        reporter().broadcast(value, step=step)  # type: ignore[arg-type]


def test_steps_cannot_go_backwards() -> None:
    r = reporter()
    r.broadcast(0.1, step=3)
    with pytest.raises(ReturnValueError, match="step 2 comes before the previous step 3"):
        r.broadcast(0.1, step=2)


def test_the_reporter_describes_its_trial() -> None:
    r = reporter()
    assert (r.kind, r.ablated, r.seed, r.repeat) == ("base", "base", 5, 0)


def test_the_buffer_keeps_the_first_and_the_newest_lines_within_its_budget() -> None:
    from autoablation._executor.reporter import MAX_LOG_CHARS, MAX_POINTS

    r = reporter()
    r.log("Model: sequential\nTotal params: 1,234")  # what a chatty trial prints first
    for i in range(300):
        r.log(f"{i:05d}" + "x" * 9_995)
    for step in range(MAX_POINTS + 10):
        r.broadcast(1.0, step=step)
    metrics, logs = r.drain()
    assert logs[0] == "... 10 metric points dropped (sent too fast)"
    assert logs[1:3] == ["Model: sequential", "Total params: 1,234"]
    gap = logs.index("... 201 log lines dropped (logged too fast)")
    assert [line[:5] for line in logs[3:gap]] == [f"{i:05d}" for i in range(49)]  # the head
    assert [line[:5] for line in logs[gap + 1 :]] == [f"{i:05d}" for i in range(250, 300)]
    assert sum(map(len, logs)) - len(logs[0]) - len(logs[gap]) <= MAX_LOG_CHARS
    assert len(metrics) == MAX_POINTS and metrics[0][0] == 10
    assert r.drain() == ([], [])  # the next heartbeat starts a new head


def test_a_flood_of_short_lines_costs_no_quadratic_time() -> None:
    r = reporter()
    for i in range(400_000):
        r.log(f"line {i:07d} " + "y" * 10)
    _, logs = r.drain()
    assert logs[0].startswith("line 0000000") and logs[-1].startswith("line 0399999")
    assert any(line.endswith("log lines dropped (logged too fast)") for line in logs)


def test_restored_data_goes_out_before_newer_data() -> None:
    r = reporter()
    r.log("old")
    r.broadcast(0.1)
    metrics, logs = r.drain()
    r.log("new")
    r.restore(metrics, logs)
    assert r.drain() == ([(0, 0.1)], ["old", "new"])


def test_the_keras_callback_broadcasts_every_epoch(tmp_path) -> None:
    import keras
    import numpy as np

    r = Reporter(Trial.create("base", "base"), tensorboard_root=str(tmp_path))
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y), callbacks=[r.keras_callback()])
    metrics, _ = r.drain()
    assert [step for step, _ in metrics] == [0, 1, 2]
    with pytest.raises(
        ReturnValueError, match="epoch logs have no 'auc'; they have: loss, val_loss"
    ):
        model.fit(
            x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[r.keras_callback("auc")]
        )


def test_each_trial_has_its_own_tensorboard_folder(tmp_path) -> None:
    first = Reporter(Trial.create("base", "base"), tensorboard_root=str(tmp_path))
    second = Reporter(Trial.create("base", "base", repeat=1), tensorboard_root=str(tmp_path))
    assert first.tensorboard_dir != second.tensorboard_dir
    assert (tmp_path / first.trial_id).is_dir()


def test_a_second_fit_continues_the_steps() -> None:
    import keras
    import numpy as np

    r = reporter()
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[r.keras_callback("loss")])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[r.keras_callback("loss")])  # fine-tuning
    assert [step for step, _ in r.drain()[0]] == [0, 1, 2, 3]
