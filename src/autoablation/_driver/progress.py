"""The driver's live view of an experiment: a progress bar, and the trials' output above it.

``verbose`` levels:
    * 0: nothing on the console (the experiment directory still gets everything);
    * 1 (default): a progress bar with done, running and failed counts, the best result so far
      and an ETA; what trials print, prefixed by the trial; warnings;
    * 2: also a line for every trial that starts or finishes.

The bar is tqdm's, so it is a widget in a notebook and a text bar in a terminal; when standard
error is not a terminal (a file, a CI log) there is no bar, only the printed lines. Everything
goes to standard error, so standard output keeps only what the program prints.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from autoablation._core.trial import Trial, TrialResult, TrialStatus
from autoablation._driver.events import Listener

VERBOSITY = (0, 1, 2)
logger = logging.getLogger("autoablation")


def _is_notebook(tqdm: Any) -> bool:
    """Whether tqdm.auto chose the notebook widget (a bar whatever the streams are)."""
    return any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)


@contextlib.contextmanager
def model_checks(
    total: int, verbose: int, *, stream: Any = None
) -> Iterator[Callable[[Trial], None]]:
    """A bar over the driver's pre-launch model checks; yields the function to call per trial.

    At ``verbose >= 1`` it is a tqdm bar (a widget in a notebook, a text bar in a terminal,
    nothing in a file), gone when the checks end; log lines at INFO say when they start and
    how long they took, at any verbosity.
    """
    from tqdm.auto import tqdm

    logger.info("checking the models of %d trials on the driver", total)
    began = time.monotonic()
    bar = None
    if verbose >= 1 and total > 0:
        bar = tqdm(
            total=total,
            desc="checking trial models",
            unit="trial",
            file=stream if stream is not None else sys.stderr,
            leave=False,
            mininterval=0,  # each step builds a model (a tenth of a second or more): show it
            dynamic_ncols=True,
            disable=False if _is_notebook(tqdm) else None,  # no bar redrawn into a file
        )

    def checked(trial: Trial) -> None:
        if bar is not None:
            bar.set_postfix_str(trial.tag, refresh=False)
            bar.update(1)

    try:
        yield checked
    finally:
        if bar is not None:
            bar.close()
        logger.info("checked the models of %d trials in %.1fs", total, time.monotonic() - began)


class ProgressListener(Listener):
    """Keeps a tqdm bar and prints trial output above it (controller thread only)."""

    def __init__(self, verbose: int, direction: str, *, stream: Any = None) -> None:
        self._verbose = verbose
        self._maximise = direction == "max"
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._running = 0
        self._failed = 0
        self._best: tuple[float, str] | None = None

    def _print(self, text: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(text, file=self._stream)

    def experiment_started(self, name: str, trials: Sequence[Trial], done: int) -> None:
        """Open the bar."""
        if self._verbose < 1:
            return
        from tqdm.auto import tqdm

        # A notebook gets a widget, whatever its streams say; a console bar needs a terminal.
        console = not _is_notebook(tqdm)
        self._bar = tqdm(
            total=len(trials) + done,
            initial=done,
            desc=name,
            unit="trial",
            file=self._stream,
            dynamic_ncols=True,
            disable=None if console else False,  # no bar redrawn into a file or a CI log
        )
        self._refresh()

    def trials_added(self, trials: Sequence[Trial]) -> None:
        """A sequential study's next look: more trials on the bar."""
        if self._bar is not None and self._bar.total is not None:
            self._bar.total += len(trials)
            self._refresh()
        if self._verbose >= 2:
            self._print(f"{len(trials)} more trials for the next looks")

    def look_made(self, look: Mapping[str, Any]) -> None:
        """Say what a look decided (verbose 2), and each decision when it is made (verbose 1)."""
        decision = look.get("decision")
        if self._verbose >= 2 or (self._verbose >= 1 and decision != "undecided"):
            self._print(
                f"[{look.get('kind')}:{look.get('ablated')}] after {look.get('repeats')} "
                f"repeats: {decision}"
            )

    def _refresh(self) -> None:
        if self._bar is None:
            return
        fields: dict[str, object] = {"running": self._running, "failed": self._failed}
        if self._best is not None:
            fields["best"] = f"{self._best[0]:.4g} ({self._best[1]})"
        self._bar.set_postfix(fields, refresh=True)

    def trial_started(self, trial: Trial, worker: str, attempt: int) -> None:
        """Count the trial as running."""
        self._running += 1
        if self._verbose >= 2:
            self._print(f"[{trial.tag}] started on {worker}")
        self._refresh()

    def trial_requeued(self, trial: Trial, worker: str, reason: str) -> None:
        """Count the trial as waiting again."""
        self._running = max(0, self._running - 1)
        if self._verbose >= 1:
            self._print(f"[{trial.tag}] lost {worker} ({reason}); it will run again")
        self._refresh()

    def trial_logs(self, trial: Trial, worker: str, lines: Sequence[str]) -> None:
        """Print what the trial printed, prefixed by the trial."""
        if self._verbose >= 1:
            prefix = f"[{trial.tag}] "
            self._print("\n".join(prefix + line for line in lines))

    def trial_finished(self, result: TrialResult) -> None:
        """Advance the bar and keep the best result."""
        self._running = max(0, self._running - 1)
        label = result.trial.tag
        if result.status is TrialStatus.OK and result.metric is not None:
            better = self._best is None or (
                result.metric > self._best[0] if self._maximise else result.metric < self._best[0]
            )
            if better:
                self._best = (result.metric, label)
            if self._verbose >= 2:
                self._print(f"[{label}] ok: {result.metric:.6g}")
        else:
            self._failed += 1
            if self._verbose >= 1:
                self._print(f"[{label}] {result.status.value}: {result.reason}")
        if self._bar is not None:
            self._bar.update(1)
        self._refresh()

    def experiment_ended(self, status: str) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
