"""The ``reporter`` a training function receives when it declares that parameter.

It buffers intermediate metrics and log lines; the worker's heartbeat ships them to the driver.
Calls are cheap and thread-safe, so a Keras callback may call `Reporter.broadcast` every batch.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections import deque
from typing import Any, SupportsFloat

from autoablation._core.errors import ReturnValueError
from autoablation._core.trial import Trial

MAX_LINE = 10_000
"""Characters kept of one log line."""
MAX_LOG_CHARS = 1_000_000
"""Log characters held between two heartbeats. Past it, the first half (a model summary, a
configuration) and the newest lines are kept, and the lines between are dropped and counted."""
MAX_POINTS = 100_000
"""Metric points held between two heartbeats; older points are dropped (and counted).

Together these keep every heartbeat and result frame far below the protocol's 8 MiB limit.
"""


class Reporter:
    """Reports a trial's progress to the driver.

    Example:
        >>> def train(dataset_function, model_function, reporter):
        ...     for epoch in range(3):
        ...         reporter.broadcast(0.5 + epoch / 10, step=epoch)
        ...     reporter.log("done")
        ...     return 0.8
    """

    def __init__(self, trial: Trial, *, tensorboard_root: str | None = None) -> None:
        self._trial = trial
        self._tensorboard_root = tensorboard_root
        self._lock = threading.Lock()
        self._metrics: list[tuple[int, float | None]] = []
        self._head: list[str] = []  # the first lines since the last drain, up to half the budget
        self._tail: deque[str] = deque()  # the newest lines after them, up to the other half
        self._head_chars = self._tail_chars = 0
        self._dropped_lines = 0
        self._dropped_points = 0
        self._last_step: int | None = None

    @property
    def trial_id(self) -> str:
        """The running trial's id."""
        return self._trial.trial_id

    @property
    def ablated(self) -> str:
        """What the running trial removes (``"base"`` for the base trial)."""
        return self._trial.ablated

    @property
    def kind(self) -> str:
        """The running trial's kind (``"base"``, ``"feature"``, ``"layer"``...)."""
        return self._trial.kind

    @property
    def seed(self) -> int:
        """The seed set for Python, NumPy and Keras before the training function was called."""
        return self._trial.seed

    @property
    def repeat(self) -> int:
        """The repeat index of the running trial."""
        return self._trial.repeat

    @property
    def split_seed(self) -> int | None:
        """The seed of this repeat's train/test split (None: the study's one fixed split).

        Every configuration of a repeat gets the same one: a training function that splits
        its own data should draw the split from it, so comparisons stay paired.
        """
        return self._trial.split_seed

    @property
    def tensorboard_dir(self) -> str:
        """This trial's own TensorBoard log directory (created on first use).

        Inside the experiment directory when executors share it (local mode, or a shared
        ``tensorboard_dir`` given to launch); otherwise a folder on the executor.
        """
        root = self._tensorboard_root or os.path.join(
            tempfile.gettempdir(), "autoablation-tensorboard"
        )
        path = f"{root.rstrip('/')}/{self._trial.trial_id}"
        if "://" not in path:
            os.makedirs(path, exist_ok=True)
        return path

    def keras_callback(self, metric: str | None = None) -> Any:
        """A Keras callback that broadcasts a metric at the end of every epoch.

        Steps are epochs; a second ``fit`` (fine-tuning after a first phase, say) continues
        the steps after the first one's.

        Example:
            >>> model.fit(ds, epochs=10, callbacks=[reporter.keras_callback("val_accuracy")])

        Args:
            metric: The key of Keras's epoch logs to report; default ``val_loss`` when the fit
                has validation data, else ``loss``.
        """
        import keras

        reporter = self

        class BroadcastEpochs(keras.callbacks.Callback):  # type: ignore[misc]
            offset = 0

            def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
                # A later fit() counts epochs from 0 again: continue after what was sent.
                last = reporter._last_step
                self.offset = 0 if last is None else last + 1

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                logs = logs or {}
                key = metric or ("val_loss" if "val_loss" in logs else "loss")
                if key not in logs:
                    raise ReturnValueError(
                        f"keras_callback: epoch logs have no {key!r}; they have: "
                        f"{', '.join(sorted(logs)) or 'nothing'}"
                    )
                reporter.broadcast(float(logs[key]), step=self.offset + epoch)

        return BroadcastEpochs()

    def broadcast(self, value: SupportsFloat, step: int | None = None) -> None:
        """Record an intermediate metric; it reaches the driver with the next heartbeat.

        Args:
            value: The metric; a non-finite value is kept as a gap (None).
            step: Its step (epoch, batch); defaults to one after the previous step.

        Raises:
            ReturnValueError: ``value`` is not a number, or ``step`` is not an integer that
                is at least the previous step.
        """
        try:
            if isinstance(value, (bool, str, bytes)):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise ReturnValueError(
                f"reporter.broadcast needs a number; got {value!r} ({type(value).__name__})"
            ) from None
        given: object = step
        with self._lock:
            if given is None:
                given = 0 if self._last_step is None else self._last_step + 1
            if isinstance(given, bool) or not isinstance(given, int):
                raise ReturnValueError(f"reporter.broadcast step must be an integer; got {given!r}")
            step = given
            if self._last_step is not None and step < self._last_step:
                raise ReturnValueError(
                    f"reporter.broadcast step {step} comes before the previous step "
                    f"{self._last_step}"
                )
            self._last_step = step
            self._metrics.append((step, number if math.isfinite(number) else None))
            self._trim()

    def log(self, message: object) -> None:
        """Send a line to the driver's log, prefixed there by the trial."""
        text = str(message)
        with self._lock:
            for line in text.splitlines() or [""]:
                self._append(line[:MAX_LINE])
            self._trim()

    def _append(self, line: str) -> None:
        """Buffer a line: in the head while it has room and nothing was dropped, else the tail."""
        if not self._tail and self._head_chars + len(line) <= MAX_LOG_CHARS // 2:
            self._head.append(line)
            self._head_chars += len(line)
        else:
            self._tail.append(line)
            self._tail_chars += len(line)

    def _trim(self) -> None:
        while self._tail and self._head_chars + self._tail_chars > MAX_LOG_CHARS:
            self._tail_chars -= len(self._tail.popleft())  # the oldest line after the head
            self._dropped_lines += 1
        if len(self._metrics) > MAX_POINTS:
            excess = len(self._metrics) - MAX_POINTS
            del self._metrics[:excess]
            self._dropped_points += excess

    def drain(self) -> tuple[list[tuple[int, float | None]], list[str]]:
        """Take everything buffered since the last drain (used by the worker).

        The lines come in order; where some were dropped, a line between the head and the
        tail says how many.
        """
        with self._lock:
            metrics, logs = self._metrics, []
            if self._dropped_points:
                logs.append(f"... {self._dropped_points} metric points dropped (sent too fast)")
            logs.extend(self._head)
            if self._dropped_lines:
                logs.append(f"... {self._dropped_lines} log lines dropped (logged too fast)")
            logs.extend(self._tail)
            self._metrics, self._head, self._tail = [], [], deque()
            self._head_chars = self._tail_chars = 0
            self._dropped_lines = self._dropped_points = 0
            return metrics, logs

    def restore(self, metrics: list[tuple[int, float | None]], logs: list[str]) -> None:
        """Put back what a failed heartbeat could not deliver, ahead of anything newer."""
        with self._lock:
            self._metrics[:0] = metrics
            newer = [*self._head, *self._tail]
            self._head, self._tail = [], deque()
            self._head_chars = self._tail_chars = 0
            for line in [*logs, *newer]:
                self._append(line)
            self._trim()

    def __repr__(self) -> str:
        return f"Reporter(trial={self._trial.label!r}, seed={self.seed})"
