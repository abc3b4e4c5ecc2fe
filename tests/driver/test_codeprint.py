"""The training function's fingerprint: what changes it, what does not, what it leaves out."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from autoablation._driver.codeprint import fingerprint_function

SCRIPT = """
import math
from pathlib import Path

EPOCHS = 3
SETTINGS = {"optimizer": "adam", "rates": (0.1, 0.01), "layers": {"a", "b", "c"}}
DATA = Path("/tmp/data.csv")


def helper(x):
    return x * 2


def make_train(batch_size):
    scale = 0.5

    def train(dataset_function, reporter=None):
        # a comment
        if reporter is not None and reporter.ablated in {"sex", "age", "pclass"}:
            print(DATA)
        values = [helper(i) for i in range(EPOCHS)]
        return math.fsum(values) * scale / batch_size + len(SETTINGS)

    return train


train = make_train(32)
"""


def load(source: str, name: str = "study_script") -> types.ModuleType:
    module = types.ModuleType(name)
    code = compile(textwrap.dedent(source), f"{name}.py", "exec", dont_inherit=True)
    exec(code, module.__dict__)
    return module


def digest(source: str) -> str:
    return fingerprint_function(load(source).train).digest


def test_what_the_function_reads_is_in_its_fingerprint_and_what_cannot_be_hashed_is_named() -> None:
    fingerprint = fingerprint_function(load(SCRIPT).train)
    assert fingerprint.name == "study_script.make_train.<locals>.train"
    assert fingerprint.key == f"{fingerprint.name}@{fingerprint.digest}"
    assert fingerprint.skipped == ("DATA (PosixPath)",)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("return math.fsum(values)", "return sum(values)"),  # the code
        ("EPOCHS = 3", "EPOCHS = 4"),  # a global it reads
        ('"optimizer": "adam"', '"optimizer": "sgd"'),  # inside a global container
        ("scale = 0.5", "scale = 0.25"),  # a value it closes over
        ("train = make_train(32)", "train = make_train(64)"),  # an argument of its factory
        ("return x * 2", "return x * 3"),  # a function of its module that it calls
        ('{"sex", "age", "pclass"}', '{"sex", "age"}'),  # a constant set
        ("def train(dataset_function, reporter=None)", "def train(dataset_function, reporter=1)"),
    ],
)
def test_a_change_to_what_runs_changes_the_fingerprint(old: str, new: str) -> None:
    assert old in SCRIPT
    assert digest(SCRIPT.replace(old, new)) != digest(SCRIPT)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("# a comment", "# another comment, longer"),
        ("def helper(x):", "\n\n\ndef helper(x):"),  # every line below moves
        ('DATA = Path("/tmp/data.csv")', 'DATA = Path("/elsewhere.csv")'),  # left out, and said
    ],
)
def test_comments_line_numbers_and_unread_values_leave_it_alone(old: str, new: str) -> None:
    assert digest(SCRIPT.replace(old, new) + "\nUNUSED = 1\n") == digest(SCRIPT + "\nUNUSED = 2\n")


def test_the_fingerprint_is_the_same_in_another_process() -> None:
    # Set and string hashing differ between processes (PYTHONHASHSEED): the digest may not.
    code = (
        "import sys, types, textwrap\n"
        "from autoablation._driver.codeprint import fingerprint_function\n"
        "module = types.ModuleType('study_script')\n"
        "exec(compile(sys.stdin.read(), 'study_script.py', 'exec'), module.__dict__)\n"
        "print(fingerprint_function(module.train).digest)\n"
    )
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=SCRIPT,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        digests.add(out.stdout.strip())
    assert digests == {digest(SCRIPT)}


class Trainer:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def train(self, reporter: Any) -> float:
        return float(self.epochs)

    def __call__(self, reporter: Any) -> float:
        return float(self.epochs)


def partial_train(reporter: Any, epochs: int) -> float:
    return float(epochs)


def test_methods_partials_and_callable_objects_are_fingerprinted_by_their_code() -> None:
    bound = fingerprint_function(Trainer(3).train)
    assert bound.name.endswith("Trainer.train") and bound.skipped == ("train's self (Trainer)",)
    callable_object = fingerprint_function(Trainer(3))
    assert callable_object.skipped[0] == "the callable's state (Trainer)"
    three = fingerprint_function(functools.partial(partial_train, epochs=3))
    four = fingerprint_function(functools.partial(partial_train, epochs=4))
    assert three.digest != four.digest and three.name.startswith("partial(")


def test_a_resume_whose_training_function_changed_is_refused(tmp_path: Path) -> None:
    from autoablation import StudyError
    from autoablation._driver.journal import ExperimentDir, JournalWriter

    then = {"seed": 0, "train_function": f"study_script.train@{digest(SCRIPT)}"}
    directory = ExperimentDir(tmp_path)
    directory.open(then, resume=False, overwrite=False)
    journal = JournalWriter(directory, fingerprint=then, options={}, previous={})
    journal.experiment_started("study", [], 0)
    journal.experiment_ended("done")
    directory.close()
    changed = SCRIPT.replace("EPOCHS = 3", "EPOCHS = 30")
    now = {**then, "train_function": f"study_script.train@{digest(changed)}"}
    with pytest.raises(StudyError) as refused:
        ExperimentDir(tmp_path).open(now, resume=True, overwrite=False)
    assert str(refused.value) == (
        f"the training function study_script.train is not the one whose results {tmp_path} "
        "holds (its code, or a value it reads, changed), so a resume would pair old and new "
        "results into one estimate; to start over, use another name or experiment_dir, or "
        "overwrite=True"
    )
    assert ExperimentDir(tmp_path).open(then, resume=True, overwrite=False).runs == 1


def test_a_journal_from_before_the_fingerprint_resumes_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from autoablation._driver.journal import ExperimentDir, JournalWriter

    old = {"seed": 0}
    directory = ExperimentDir(tmp_path)
    directory.open(old, resume=False, overwrite=False)
    journal = JournalWriter(directory, fingerprint=old, options={}, previous={})
    journal.experiment_started("study", [], 0)
    journal.experiment_ended("done")
    directory.close()
    with caplog.at_level(logging.INFO, logger="autoablation"):
        state = ExperimentDir(tmp_path).open(
            {"seed": 0, "train_function": "m.train@0123"}, resume=True, overwrite=False
        )
    assert state.runs == 1
    assert "was written before autoablation recorded train_function; resuming without" in (
        caplog.text
    )
