"""The experiment directory: an append-only journal of trial events, written as they happen.

Layout of ``experiment_dir`` (default ``./autoablation-runs/<name>/``, or under the folder named
by the environment variable ``AUTOABLATION_RUNS``)::

    study.json              the declaration, its fingerprint and the run's options
    journal.jsonl           one JSON event per line, appended and flushed as it happens
    results.csv, .json      every trial's latest result (refreshed as results arrive)
    trials/<id>/output.log  what the trial printed or logged, prefixed by nothing
    driver.log              the driver's autoablation log
    plots/                  effects.png and curves.png (written at the end)
    tensorboard/<id>/       each trial's TensorBoard logs (when executors share this folder)

Events: ``experiment`` (a run starts), ``scheduled``, ``started``, ``metrics``, ``requeued``,
``finished`` / ``failed`` / ``lost`` / ``cancelled`` (a final result), ``ended``. A driver killed
at any moment leaves a journal whose complete lines are all valid; a torn last line is skipped
when it is read back. Replaying the journal gives every trial's latest result, which is how a
resumed run knows what it may skip and how `load` rebuilds a result without Spark.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from autoablation._core.errors import StudyError
from autoablation._core.jsonsafe import dumps
from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver.events import Listener
from autoablation._results.store import (
    _FINAL_EVENTS,
    FINGERPRINT_DEFAULTS,
    JOURNAL,
    STUDY,
    JournalState,
    fingerprint_difference,
    read_journal,
    trial_folder,
)

_RESULTS_EVERY_S = 5.0
"""Least time between two refreshes of the results table during a study."""
_RESULTS_SHARE = 0.002
"""Most of the controller thread's time that refreshing the table may take: a large table is
refreshed less often (writing 10,000 rows takes about a second)."""
_RESULTS_AT_MOST_S = 60.0
"""Most time between two refreshes, whatever one refresh took."""


OWNED = (
    JOURNAL,
    STUDY,
    "results.csv",
    "results.json",
    "driver.log",
    "trials",
    "plots",
    "tensorboard",
)
"""What autoablation writes in an experiment directory; ``overwrite`` deletes these only."""
LOCK = ".autoablation.lock"


def _has_events(journal: Path) -> bool:
    return journal.exists() and journal.stat().st_size > 0


class ExperimentDir:
    """An experiment directory, opened for one run."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._lock: TextIO | None = None

    @property
    def journal(self) -> Path:
        """The journal file."""
        return self.path / JOURNAL

    def open(
        self, fingerprint: Mapping[str, Any], *, resume: bool, overwrite: bool
    ) -> JournalState:
        """Prepare the directory for a run and return what earlier runs recorded.

        Takes the directory's lock until `close`, so two launches never share it.

        Raises:
            StudyError: Another launch runs in the directory; or it holds an experiment and
                neither ``resume`` nor ``overwrite`` was given; or ``resume`` was given for a
                different study.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            return self._open(fingerprint, resume=resume, overwrite=overwrite)
        except BaseException:
            self.close()
            raise

    def _open(
        self, fingerprint: Mapping[str, Any], *, resume: bool, overwrite: bool
    ) -> JournalState:
        if _has_events(self.journal) and overwrite:
            for name in OWNED:  # only what autoablation wrote: never the user's own files
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        if not _has_events(self.journal):
            return JournalState()
        if not resume:
            raise StudyError(
                f"{self.path} already holds an experiment; pass resume=True to continue it, "
                "overwrite=True to start over, or another name or experiment_dir"
            )
        state = read_journal(self.journal)
        if state.fingerprint is not None:
            differences = fingerprint_difference(state.fingerprint, fingerprint)
            if differences:
                then, now = state.fingerprint, fingerprint
                details = "; ".join(
                    f"{k}: {then.get(k, FINGERPRINT_DEFAULTS.get(k))!r} then, "
                    f"{now.get(k, FINGERPRINT_DEFAULTS.get(k))!r} now"
                    for k in differences
                )
                if differences == ["backend"]:
                    before = then.get("backend", FINGERPRINT_DEFAULTS["backend"])
                    raise StudyError(
                        f"{self.path} holds this study trained with Keras on {before!r}, and this "
                        f"launch runs on {now.get('backend')!r}: a seed draws other numbers on "
                        f"another backend, so new trials would not pair with the old ones "
                        f"({details}); run with KERAS_BACKEND={before} (set before Keras is "
                        "imported) to resume it, or use another name or experiment_dir, or "
                        "overwrite=True"
                    )
                raise StudyError(
                    f"{self.path} holds a different study, so it cannot be resumed ({details}); "
                    "use another name or experiment_dir, or overwrite=True"
                )
        return state

    def _take_lock(self) -> None:
        import fcntl

        handle = open(self.path / LOCK, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StudyError(
                f"{self.path} is in use by another launch ({holder}); wait for it to end or "
                "use another name or experiment_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock = handle

    def close(self) -> None:
        """Release the directory's lock."""
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def write_study(self, document: Mapping[str, Any]) -> None:
        """Write ``study.json`` atomically (a reader never sees half of it)."""
        temporary = self.path / f".{STUDY}.tmp"
        temporary.write_text(json.dumps(document, indent=2, default=str))
        os.replace(temporary, self.path / STUDY)


def _end_torn_line(journal: Path) -> None:
    """End a line a killed driver left unfinished, so the next event starts on its own line."""
    if not journal.exists() or journal.stat().st_size == 0:
        return
    with open(journal, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            handle.write(b"\n")


class JournalWriter(Listener):
    """Appends every event to the journal (results flushed at once) and keeps the trial logs.

    Runs on the controller thread: each event is one short write.
    """

    def __init__(
        self,
        directory: ExperimentDir,
        *,
        fingerprint: Mapping[str, Any],
        options: Mapping[str, Any],
        previous: Mapping[str, TrialResult],
    ) -> None:
        self._dir = directory
        self._fingerprint = dict(fingerprint)
        self._options = dict(options)
        self._results: dict[str, TrialResult] = dict(previous)
        _end_torn_line(directory.journal)
        self._journal: TextIO = open(directory.journal, "a", encoding="utf-8")  # noqa: SIM115
        self._logs: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        self._next_table = 0.0

    def _write(self, event: str, *, flush: bool = True, **fields: Any) -> None:
        """Append one event; ``flush=False`` leaves it in the buffer for the next flush.

        Only what resume needs is flushed at once (results, losses); a start or metrics lost
        with a killed driver only means the trial runs again, as it would anyway.
        """
        record = {"event": event, "t": time.time(), **fields}
        line = dumps(record, default=str)
        with self._lock:
            self._journal.write(line + "\n")
            if flush:
                self._journal.flush()

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """Record the run and every trial it schedules (those not done in earlier runs)."""
        self._write(
            "experiment",
            name=name,
            fingerprint=self._fingerprint,
            options=self._options,
            already_done=done,
        )
        for index, trial in enumerate(trials, 1):
            self._write("scheduled", flush=index == len(trials), trial=trial.to_dict())

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """Record the start."""
        self._write("started", flush=False, trial_id=trial.trial_id, worker=worker, attempt=attempt)

    def trial_metrics(self, trial: Trial, worker: str, points: Sequence[tuple[int, float]]) -> None:
        """Record broadcast metrics."""
        self._write(
            "metrics", flush=False, trial_id=trial.trial_id, points=[list(p) for p in points]
        )

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Append the lines to the trial's output log."""
        handle = self._logs.get(trial.trial_id)
        if handle is None:
            folder = self._dir.path / trial_folder(trial.trial_id)
            folder.mkdir(parents=True, exist_ok=True)
            handle = self._logs[trial.trial_id] = open(  # noqa: SIM115
                folder / "output.log", "a", encoding="utf-8"
            )
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """Record the loss."""
        self._write("requeued", trial_id=trial.trial_id, worker=worker, reason=reason)

    def trial_finished(self, result: TrialResult) -> None:
        """Record the final result; refresh the results table now and then."""
        self._write(_FINAL_EVENTS[result.status], result=result.to_dict())
        self._results[result.trial.trial_id] = result
        log = self._logs.pop(result.trial.trial_id, None)
        if log is not None:
            log.close()
        if time.monotonic() >= self._next_table:
            self.write_results()

    def write_results(self) -> None:
        """Write ``results.csv`` and ``results.json``: every result of this study so far.

        The broadcast histories stay in the journal: they can be large, and this runs on the
        controller thread. Non-finite numbers are written as null (strict JSON).
        """
        from autoablation._results.result import ExperimentResult

        began = time.monotonic()
        results = list(self._results.values())
        table = ExperimentResult("journal", results).to_pandas()
        table.to_csv(self._dir.path / "results.csv", index=False)
        rows = [{**r.to_dict(), "history": None} for r in results]
        text = dumps(rows, indent=1)
        (self._dir.path / "results.json").write_text(text)
        took = time.monotonic() - began
        wait = min(_RESULTS_AT_MOST_S, max(_RESULTS_EVERY_S, took / _RESULTS_SHARE))
        self._next_table = began + wait

    def experiment_ended(self, status: str) -> None:
        """Record the end and close the files."""
        self._write("ended", status=status)
        self.write_results()
        with self._lock:
            self._journal.close()
        for handle in self._logs.values():
            handle.close()
        self._logs.clear()


class DriverLog(Listener):
    """``driver.log``: a readable line per event, and the library's warnings.

    Written by the listener itself, so no logger's level is touched: the user's logging setup
    stays as it is.
    """

    def __init__(self, path: Path) -> None:
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self._handler = logging.StreamHandler(self._file)
        self._handler.setLevel(logging.WARNING)
        self._handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        logging.getLogger("autoablation").addHandler(self._handler)

    def _line(self, *texts: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            self._file.write("".join(f"{stamp} {text}\n" for text in texts))
            self._file.flush()

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """Log the start."""
        self._line(f"experiment {name!r}: {len(trials)} trials to run, {done} done before")

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """Log the start."""
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._line(f"[{trial.tag}] started on {worker}{again}")

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Log the trial's output."""
        tag = trial.tag
        self._line(*(f"[{tag}] {line}" for line in lines))

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """Log the loss."""
        self._line(f"[{trial.tag}] lost {worker} ({reason}); it will run again")

    def trial_finished(self, result: TrialResult) -> None:
        """Log the outcome."""
        label = result.trial.tag
        if result.status is TrialStatus.OK:
            self._line(f"[{label}] ok: {result.metric:.6g} in {result.duration_s or 0:.1f}s")
        else:
            self._line(f"[{label}] {result.status.value}: {result.reason}")

    def experiment_ended(self, status: str) -> None:
        """Log the end and close the file."""
        try:
            self._line(f"experiment {status}")
        finally:
            logging.getLogger("autoablation").removeHandler(self._handler)
            with self._lock:
                self._file.close()
