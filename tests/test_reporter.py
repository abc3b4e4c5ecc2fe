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
