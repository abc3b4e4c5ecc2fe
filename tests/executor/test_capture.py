import sys
import threading

from autoablation import Reporter, Trial
from autoablation._executor.capture import captured_output


def test_prints_of_the_trial_thread_go_to_its_reporter_line_by_line(capsys) -> None:
    reporter = Reporter(Trial.create("base", "base"))
    with captured_output(reporter):
        print("epoch 1", end="")
        print(" done")
        print("to stderr", file=sys.stderr)
        other = threading.Thread(target=lambda: print("another thread"))
        other.start()
        other.join()
        print("unfinished", end="")
    assert reporter.drain()[1] == ["epoch 1 done", "to stderr", "unfinished"]
    assert "another thread" in capsys.readouterr().out
    print("after")
    assert reporter.drain()[1] == []


def test_bytes_are_refused_at_once_and_later_prints_still_work() -> None:
    import pytest

    reporter = Reporter(Trial.create("base", "base"))
    with captured_output(reporter):
        with pytest.raises(TypeError, match="must be str, not bytes"):
            sys.stdout.write(b"raw\n")  # type: ignore[arg-type]
        print("still fine")
        assert sys.stdout.buffer is sys.__stdout__.buffer or hasattr(sys.stdout, "buffer")
    assert reporter.drain()[1] == ["still fine"]


def test_a_progress_bar_inside_a_trial_is_one_line() -> None:
    reporter = Reporter(Trial.create("base", "base"))
    with captured_output(reporter):
        for step in range(500):
            sys.stdout.write(f"\rstep {step}")
        sys.stdout.write("\n")
    assert reporter.drain()[1] == ["step 499"]


def test_the_original_streams_come_back_after_the_trial() -> None:
    before = (sys.stdout, sys.stderr)
    with captured_output(Reporter(Trial.create("base", "base"))):
        assert sys.stdout is not before[0]
    assert (sys.stdout, sys.stderr) == before


def test_a_worker_loop_keeps_its_routers_between_trials_and_restores_the_streams() -> None:
    from autoablation._executor.capture import held_routers

    original = sys.stdout
    first, second = (Reporter(Trial.create("feature", name)) for name in ("a", "b"))
    with held_routers():
        with captured_output(first):
            print("one")
        router = sys.stdout
        assert router is not original  # still installed between trials
        print("between trials")  # no trial routed: the process's own stream
        with captured_output(second):
            print("two")
        assert sys.stdout is router
    assert sys.stdout is original
    assert first.drain()[1] == ["one"] and second.drain()[1] == ["two"]
