import io

from autoablation._driver.progress import ProgressListener
from tests.helpers import synthetic_results


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def play(verbose: int, stream: io.StringIO | None = None) -> str:
    stream = stream if stream is not None else Terminal()
    listener = ProgressListener(verbose, "max", stream=stream)
    results = synthetic_results({"x1": -0.2}, repeats=1)
    listener.experiment_started("planted", [r.trial for r in results], 3)
    for result in results:
        listener.trial_started(result.trial, "w0", 1)
        listener.trial_logs(result.trial, "w0", ["epoch 1 loss 0.5"])
        listener.trial_finished(result)
    listener.experiment_ended("finished")
    return stream.getvalue()


def test_the_bar_counts_and_shows_the_best_so_far() -> None:
    out = play(1)
    assert "5/5" in out and "failed=0" in out and "best=" in out and "(base)" in out
    assert "[feature:x1] epoch 1 loss 0.5" in out and "started on" not in out


def test_quiet_prints_nothing_and_verbose_prints_every_trial() -> None:
    assert play(0) == ""
    chatty = play(2)
    assert "[base] started on w0" in chatty and "[feature:x1] ok:" in chatty


def test_without_a_terminal_there_is_no_bar_only_the_lines() -> None:
    out = play(1, io.StringIO())
    assert "5/5" not in out and "[feature:x1] epoch 1 loss 0.5" in out


def test_a_listener_with_only_some_hooks_is_called_for_those() -> None:
    from autoablation._driver.events import Listeners

    seen: list[str] = []

    class Finishes:
        def trial_finished(self, result) -> None:  # type: ignore[no-untyped-def]
            seen.append(result.trial.ablated)

    results = synthetic_results({"x": 0.0}, repeats=1)
    fan_out = Listeners([Finishes()])  # type: ignore[list-item]
    fan_out.experiment_started("s", [r.trial for r in results], 0)
    for result in results:
        fan_out.trial_metrics(result.trial, "w", [(0, 1.0)])
        fan_out.trial_finished(result)
    fan_out.experiment_ended("finished")
    assert seen == ["base", "x"]


def test_the_driver_shows_its_model_checks_progress(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from autoablation import AblationStudy
    from autoablation._driver.preflight import preflight
    from tests.helpers import dense_model

    table = pd.DataFrame({"a": range(20), "b": range(20), "y": [0, 1] * 10})
    study = AblationStudy(table, label_name="y")
    study.features.include("a", "b")
    study.model.set_base_model_generator(lambda: dense_model(None))
    study.model.layers.include("my_dense_two")
    for verbose in (0, 1):
        terminal = Terminal()
        monkeypatch.setattr("sys.stderr", terminal)
        preflight(lambda: 1.0, study, verbose=verbose)
        shown = terminal.getvalue()
        assert ("checking trial models" in shown) is (verbose == 1)
        assert "0/4" in shown or verbose == 0


def test_the_checks_report_every_trial_they_check() -> None:
    from autoablation._driver.progress import model_checks

    terminal = Terminal()
    with model_checks(3, 1, stream=terminal) as checked:
        for result in synthetic_results({"x1": -0.2, "x2": 0.1}, repeats=1):
            checked(result.trial)
    shown = terminal.getvalue()
    assert "checking trial models" in shown and "3/3" in shown and "feature:x2" in shown
