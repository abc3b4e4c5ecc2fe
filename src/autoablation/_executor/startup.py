"""What a worker spends before its first trial: importing TensorFlow and Keras, mostly.

A fresh Python worker imports TensorFlow once, before its first trial can start; a trial's
duration never shows that time, so a study can take twice its trials' time with nothing to
say why. It is measured here, in one of two places:

* where autoablation imports Keras itself, just before the first trial that uses it (timed);
* while Spark unpacked the task, when the training function's module imports TensorFlow at
  its top: TensorFlow is then already loaded when the task starts, and the CPU time the fresh
  process spent before that is what the import cost.

The worker adds the time to its first result's outputs (under `TENSORFLOW_IMPORT`), once per
process; the driver logs it and the result's summary adds it up.

Once TensorFlow is loaded, its objects (about half a million) are moved out of the garbage
collector's reach (`freeze_imports`): they live as long as the process, and a full collection
that walks them took over 0.1 s on an idle core, 2.5 s on a loaded one, after every trial (the
worker collects the previous trial's model) and whenever Python collected on its own in training.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_pending = 0.0
_reported = False
_task_seen = False
_frozen = False


def _tensorflow_loaded() -> bool:
    return "tensorflow" in sys.modules or "keras" in sys.modules


def task_started() -> None:
    """Note a Spark task's start: in a fresh process, TensorFlow loaded now came with the task."""
    global _pending, _task_seen
    with _lock:
        if _task_seen:
            return
        _task_seen = True
        if _tensorflow_loaded() and not _reported:
            _pending += time.process_time()  # a fresh worker's CPU so far: unpacking the task


def import_keras() -> Any:
    """``import keras``, timed when this process had not loaded TensorFlow or Keras yet."""
    global _pending
    if "keras" in sys.modules:
        return sys.modules["keras"]
    fresh = not _tensorflow_loaded()
    began = time.perf_counter()
    keras = importlib.import_module("keras")
    freeze_imports()
    took = time.perf_counter() - began
    with _lock:
        if fresh and not _reported:
            _pending += took
    return keras


def freeze_imports() -> None:
    """Keep what the process has loaded so far out of every later garbage collection.

    Once per process: a full collection first (nothing unreachable is kept), then
    ``gc.freeze()``. A trial's objects are created later and collected as before.
    """
    global _frozen
    with _lock:
        if _frozen:
            return
        _frozen = True
    gc.collect()
    gc.freeze()


def take() -> float | None:
    """The import time this process has not reported yet; None once reported or when none."""
    global _pending, _reported
    with _lock:
        if _reported or _pending <= 0:
            return None
        _reported = True
        took, _pending = _pending, 0.0
        return took
