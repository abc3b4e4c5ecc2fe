import sys
import threading

from autoablation import Reporter, Trial
from autoablation._capture import captured_output


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
