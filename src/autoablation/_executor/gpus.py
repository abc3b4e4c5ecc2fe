"""Inside a task: show Keras' backend only the GPUs Spark assigned, and let it grow into them.

TensorFlow's memory growth is switched on here, after it loads; JAX's (no preallocation) is set
before it loads, in `autoablation._executor.backends`; PyTorch allocates as it needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

from autoablation._core.backends import TRAINING

logger = logging.getLogger("autoablation.gpus")

GPU = "gpu"
"""The name of Spark's GPU resource."""


def claim_assigned_gpus(context: Any) -> list[str]:
    """Make only the task's assigned GPUs visible; returns their addresses.

    Must run before the backend initialises its GPUs in this process. A reused Python worker
    that already loaded it keeps the devices it saw first: that is logged.
    """
    resources = context.resources() if context is not None else {}
    assigned = resources.get(GPU)
    if assigned is None:
        return []
    addresses = [str(a) for a in assigned.addresses]
    visible = ",".join(addresses)
    loaded = [name for name in TRAINING if name in sys.modules]
    if loaded and os.environ.get("CUDA_VISIBLE_DEVICES") != visible:
        logger.warning(
            "this Python worker loaded %s with CUDA_VISIBLE_DEVICES=%s before; "
            "the task was given GPUs %s (set spark.python.worker.reuse=false to avoid this)",
            " and ".join(loaded),
            os.environ.get("CUDA_VISIBLE_DEVICES"),
            visible,
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = visible
    return addresses


def enable_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it, so a card is not held whole."""
    import tensorflow as tf

    for device in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised in this process
            tf.config.experimental.set_memory_growth(device, True)
