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

Events: ``experiment`` (a run starts, with the options and the ``statistics`` that decide the
ranking), ``scheduled``, ``started``, ``metrics``, ``requeued``, ``finished`` / ``failed`` /
``lost`` / ``cancelled`` (a final result, with the trial's seed and split seed), ``ended``; a
sequential study adds ``design`` (its boundaries, fixed before the first look) and ``look``
(one component looked at). A driver killed
at any moment leaves a journal whose complete lines are all valid; a torn last line is skipped
when it is read back. Replaying the journal gives every trial's latest result, which is how a
resumed run knows what it may skip and how `load` rebuilds a result without Spark.

A disk that refuses a write for a moment (full, read-only) costs no event: the journal keeps
what it could not write and writes it ahead of the next event (`autoablation._driver.appender`).
The directory's lock file names the launch that holds it; a launch that finds it still naming
one (a driver that was killed) says so in the log when it takes the lock over.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from autoablation._core.errors import StudyError
from autoablation._core.jsonsafe import dumps
from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver import seams
from autoablation._driver.codeprint import TRAIN_FUNCTION
from autoablation._driver.events import TRIAL_EVENT, Listener, import_line
from autoablation._driver.options import LAUNCH, Caller
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

logger = logging.getLogger("autoablation")

_RESULTS_EVERY_S = 5.0
"""Least time between two refreshes of the results table during a study."""
_RESULTS_SHARE = 0.002
"""Most of the controller thread's time that refreshing the table may take: a large table is
refreshed less often (writing 10,000 rows takes about a second)."""
_RESULTS_AT_MOST_S = 60.0
"""Most time between two refreshes, whatever one refresh took."""
_LAST_WRITE_RETRIES_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)
"""Pauses between the last tries to write what the disk refused, when the study ends: about
half a minute, so that a disk full or read-only for a moment loses nothing."""


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
logger = logging.getLogger("autoablation")


def _has_events(journal: Path) -> bool:
    return journal.exists() and journal.stat().st_size > 0


class ExperimentDir:
    """An experiment directory, opened for one run."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._lock: TextIO | None = None
        self.stale_lock: str | None = None
        """Who held the lock before and never released it (a killed driver), or None."""

    @property
    def journal(self) -> Path:
        """The journal file."""
        return self.path / JOURNAL

    def open(
        self,
        fingerprint: Mapping[str, Any],
        *,
        resume: bool,
        overwrite: bool,
        caller: Caller = LAUNCH,
    ) -> JournalState:
        """Prepare the directory for a run and return what earlier runs recorded.

        Takes the directory's lock until `close`, so two launches never share it. ``caller``
        spells the options that messages suggest the way the user's API takes them.

        Raises:
            StudyError: The path is a file, or cannot be created; another launch runs in the
                directory; or it holds an experiment and neither ``resume`` nor ``overwrite``
                was given; or ``resume`` was given for a different study.
        """
        self._make(caller)
        self._take_lock()
        try:
            return self._open(fingerprint, resume=resume, overwrite=overwrite, caller=caller)
        except BaseException:
            self.close()
            raise

    def _make(self, caller: Caller) -> None:
        """Create the directory; a file in its place is a mistake worth a precise message."""
        other = caller.spell("experiment_dir", "<a folder>")
        if self.path.exists() and not self.path.is_dir():
            raise StudyError(
                f"experiment_dir {str(self.path)!r} is a file, not a folder; pass {other} "
                "(it is created if missing)"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a parent folder should be, no permission...
            raise StudyError(
                f"cannot create experiment_dir {str(self.path)!r}: {exc.strerror or exc}; "
                f"pass {other} that can be created"
            ) from exc

    def _open(
        self, fingerprint: Mapping[str, Any], *, resume: bool, overwrite: bool, caller: Caller
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
                f"{self.path} already holds an experiment; pass {caller.spell('resume', 'True')} "
                f"to continue it, {caller.spell('overwrite', 'True')} to start over, or another "
                "name or experiment_dir"
            )
        state = read_journal(self.journal)
        if state.fingerprint is not None:
            self._check_resume(state.fingerprint, fingerprint, caller)
        return state

    def _check_resume(
        self, then: Mapping[str, Any], now: Mapping[str, Any], caller: Caller
    ) -> None:
        """Refuse to resume a different study; accept what an older journal did not record."""
        unknown = sorted(k for k in now if k not in then and k not in FINGERPRINT_DEFAULTS)
        if unknown:  # written before these were fingerprinted: nothing to compare them with
            logger.info(
                "%s was written before autoablation recorded %s; resuming without checking it",
                self.path,
                ", ".join(unknown),
            )
        differences = fingerprint_difference(
            then, {k: v for k, v in now.items() if k not in unknown}
        )
        if not differences:
            return
        start_over = f"use another name or experiment_dir, or {caller.spell('overwrite', 'True')}"
        if TRAIN_FUNCTION in differences:
            name = str(now.get(TRAIN_FUNCTION) or "?").split("@")[0]
            others = [k for k in differences if k != TRAIN_FUNCTION]
            also = f"; the study differs too ({self._details(then, now, others)})" if others else ""
            raise StudyError(
                f"the training function {name} is not the one whose results {self.path} holds "
                "(its code, or a value it reads, changed), so a resume would pair old and new "
                f"results into one estimate{also}; to start over, {start_over}"
            )
        if differences == ["backend"]:
            before = then.get("backend", FINGERPRINT_DEFAULTS["backend"])
            raise StudyError(
                f"{self.path} holds this study trained with Keras on {before!r}, and this "
                f"launch runs on {now.get('backend')!r}: a seed draws other numbers on another "
                "backend, so new trials would not pair with the old ones "
                f"({self._details(then, now, differences)}); run with KERAS_BACKEND={before} "
                f"(set before Keras is imported) to resume it, or {start_over}"
            )
        raise StudyError(
            f"{self.path} holds a different study, so it cannot be resumed "
            f"({self._details(then, now, differences)}); {start_over}"
        )

    @staticmethod
    def _details(then: Mapping[str, Any], now: Mapping[str, Any], keys: list[str]) -> str:
        return "; ".join(
            f"{k}: {then.get(k, FINGERPRINT_DEFAULTS.get(k))!r} then, "
            f"{now.get(k, FINGERPRINT_DEFAULTS.get(k))!r} now"
            for k in keys
        )

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
        self.stale_lock = handle.read().strip() or None  # a clean close leaves it empty
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {started}")
        handle.flush()
        self._lock = handle

    def close(self) -> None:
        """Release the directory's lock, leaving its file empty: nobody holds it."""
        if self._lock is not None:
            try:
                self._lock.seek(0)
                self._lock.truncate()
            except OSError:  # a full or read-only disk: the next launch calls the lock stale
                pass
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def write_study(self, document: Mapping[str, Any]) -> None:
        """Write ``study.json`` atomically (a reader never sees half of it)."""
        temporary = self.path / f".{STUDY}.tmp"
        temporary.write_text(json.dumps(document, indent=2, default=str))
        os.replace(temporary, self.path / STUDY)


def _repair_torn_line(journal: Path) -> None:
    """Cut off the half line a driver killed in the middle of a write left at the end.

    That event never became durable (its trial simply runs again), and cutting it keeps every
    line of the journal a whole event. A last line that is whole but for its newline is ended.
    """
    if not journal.exists() or journal.stat().st_size == 0:
        return
    with open(journal, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - 1_048_576)  # an event line is far shorter than 1 MiB
        handle.seek(start)
        tail = handle.read()
        cut = start + tail.rfind(b"\n") + 1
        try:
            json.loads(tail[cut - start :])
        except ValueError:
            logger.warning(
                "%s ended in the middle of an event (a driver killed while writing it); "
                "cutting off that half line",
                journal,
            )
            handle.truncate(cut)
        else:
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
        statistics: Mapping[str, Any] | None = None,
    ) -> None:
        self._dir = directory
        self._fingerprint = dict(fingerprint)
        self._options = dict(options)
        self._statistics = dict(statistics or {})
        self._results: dict[str, TrialResult] = dict(previous)
        _repair_torn_line(directory.journal)
        self._journal = seams.journal_appender(directory.journal)
        self._logs: dict[str, TextIO] = {}
        self._lock = threading.Lock()
        self._next_table = 0.0
        self._refused = False  # the disk refused the last flush: warned once until it works

    def _write(self, event: str, *, flush: bool = True, **fields: Any) -> None:
        """Append one event; ``flush=False`` leaves it in the buffer for the next flush.

        Only what resume needs is flushed at once (results, losses); a start or metrics lost
        with a killed driver only means the trial runs again, as it would anyway. What the
        disk refuses waits in memory for the next flush.
        """
        record = {"event": event, "t": time.time(), **fields}
        line = dumps(record, default=str)
        with self._lock:
            self._journal.add(f"{line}\n".encode())
            if flush:
                self._flush()

    def _flush(self) -> bool:
        """Write what waits (the caller holds the lock); say once when the disk refuses it."""
        journal = self._journal
        if journal.flush():
            if self._refused:
                self._refused = False
                logger.warning("the journal %s is written again", journal.path)
            return True
        if not self._refused:
            self._refused = True
            logger.warning(
                "could not write the journal %s (%s); its events wait in memory and are "
                "written as soon as the disk takes them",
                journal.path,
                journal.refused,
            )
        return False

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """Record the run and every trial it schedules (those not done in earlier runs)."""
        self._write(
            "experiment",
            name=name,
            fingerprint=self._fingerprint,
            options=self._options,
            statistics=self._statistics,
            already_done=done,
        )
        for index, trial in enumerate(trials, 1):
            self._write("scheduled", flush=index == len(trials), trial=trial.to_dict())

    def design(self, design: Mapping[str, Any]) -> None:
        """Record a sequential design (``SequentialDesign.to_dict()``) before its first look."""
        self._write("design", design=dict(design))

    def look(self, look: Mapping[str, Any]) -> None:
        """Record one look at one component (``Look.to_dict()``), flushed at once."""
        self._write("look", look=dict(look))

    def look_made(self, look: Mapping[str, Any]) -> None:
        """Record a look of the running sequential study."""
        self.look(look)

    def trials_added(self, trials: Sequence[Trial]) -> None:
        """Record the trials a sequential study's next look needs."""
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
        """Record the end, write what waits (trying a little longer), and close the files.

        An event the disk still refuses after the last tries is reported as an error: the
        journal misses it, so ``load`` would not see it and a resume would run its trial again.
        """
        self._write("ended", flush=False, status=status)
        with self._lock:
            for pause in (*_LAST_WRITE_RETRIES_S, None):
                if self._flush() or pause is None:
                    break
                time.sleep(pause)
            if self._journal.waiting:
                logger.error(
                    "the journal %s misses its last events: the disk refused them (%s). The "
                    "result launch returns is complete, but load() will not show them and "
                    "resume=True would run their trials again",
                    self._journal.path,
                    self._journal.refused,
                )
            self._journal.close()
        try:
            self.write_results()
        finally:
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
        # The trial events it writes itself are logged by `LoggingListener` too: once is enough.
        self._handler.addFilter(lambda record: not getattr(record, TRIAL_EVENT, False))
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

    def trials_added(self, trials: Sequence[Trial]) -> None:
        """Log what a sequential study's next look needs."""
        self._line(f"{len(trials)} more trials scheduled: {', '.join(t.tag for t in trials)}")

    def look_made(self, look: Mapping[str, Any]) -> None:
        """Log a look of a sequential study."""
        self._line(
            f"look at {look.get('kind')}:{look.get('ablated')} after {look.get('repeats')} "
            f"repeats: {look.get('decision')}"
        )

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
        """Log the outcome, and a worker's import time with its first result."""
        label = result.trial.tag
        imported = import_line(result)
        if imported is not None:
            self._line(imported)
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
