"""Inside a task: make Keras run on the study's backend, with a slot's threads, and seed it.

The driver's backend travels in the task closure. `use_backend` runs before anything imports
Keras in the task and sets, for the backend's package, what can only be set before it loads:
its thread pools (one task slot's CPUs, not every core) and, on GPUs, JAX's memory
preallocation. A Python worker that imported Keras with another backend cannot switch: it is
refused, so Spark replaces it instead of training on the wrong backend.
"""

from __future__ import annotations

import importlib.util
import os
import random
import socket
import sys
from typing import Any

import numpy as np

from autoablation._core.backends import ENV, INSTALL_HINTS, loaded_backend
from autoablation._core.errors import BackendError

THREAD_VARIABLES = {
    # TensorFlow's pools; set for every backend, since tf.data may load TensorFlow anyway.
    "tensorflow": ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"),
    # The size of XLA's CPU thread pools (measured: docs/backends.md).
    "jax": ("PJRT_NPROC",),
    # PyTorch's intra-op pool (read when torch loads).
    "torch": ("OMP_NUM_THREADS",),
}
"""Per backend package: the variables that size its thread pools, read when it loads."""

GPU_VARIABLES = {"jax": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}}
"""Per backend: variables that make it take GPU memory as it needs it instead of up front.

JAX preallocates 75% of each visible GPU by default; TensorFlow's memory growth is switched on
after import (`autoablation._executor.gpus.enable_memory_growth`); PyTorch allocates lazily.
"""


def use_backend(backend: str, *, cpus: int, gpus: bool) -> None:
    """Make this process's Keras train on ``backend``; call before Keras is imported here.

    Args:
        backend: The driver's backend.
        cpus: The task slot's CPUs (``spark.task.cpus``): the size of the thread pools.
        gpus: Whether the task was given GPUs.

    Raises:
        BackendError: This Python worker already imported Keras with another backend (it
            cannot switch; Spark replaces a worker whose task failed), or the backend's
            package is not installed in this Python.
    """
    loaded = loaded_backend()
    if loaded is not None and loaded != backend:
        raise BackendError(
            f"this Python worker (pid {os.getpid()} on {socket.gethostname()}) imported Keras "
            f"with the {loaded!r} backend for an earlier task, and Keras cannot switch to the "
            f"study's {backend!r} in a running process; the worker ends here and Spark starts "
            "a fresh one for the task"
        )
    if loaded is None and backend not in sys.modules and importlib.util.find_spec(backend) is None:
        raise BackendError(
            f"the study runs on the Keras backend {backend!r}, but {sys.executable} on "
            f"{socket.gethostname()} has no {backend!r} package; install it on every executor "
            f"({INSTALL_HINTS.get(backend, backend)})"
        )
    os.environ[ENV] = backend
    for package, variables in THREAD_VARIABLES.items():
        if package in ("tensorflow", backend) and package not in sys.modules:
            for variable in variables:
                os.environ.setdefault(variable, str(cpus))
    if gpus and backend not in sys.modules:
        for variable, value in GPU_VARIABLES.get(backend, {}).items():
            os.environ.setdefault(variable, value)


def seed_keras(keras: Any, seed: int) -> None:
    """Seed Python, NumPy and the backend's Keras random state, as ``set_random_seed`` does.

    ``keras.utils.set_random_seed`` also seeds TensorFlow whenever it is installed, which
    imports it (seconds, and its threads) into a JAX or PyTorch worker that never uses it;
    there the same seeding runs without that import.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    try:
        from keras.src.backend.common import global_state
        from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:  # another Keras layout: the public call, with its TensorFlow import
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)  # redrawn from the seed
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)
