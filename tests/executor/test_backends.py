"""Inside a task: the study's backend, a slot's threads, lazy GPU memory, and no switching."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autoablation import BackendError
from autoablation._executor.backends import use_backend

VARIABLES = (
    "KERAS_BACKEND",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "PJRT_NPROC",
    "OMP_NUM_THREADS",
    "XLA_PYTHON_CLIENT_PREALLOCATE",
)


def in_fresh_worker(backend: str, cpus: int, gpus: bool) -> dict[str, str | None]:
    """What `use_backend` sets in a process that has not imported Keras (a fresh worker)."""
    code = (
        "import json, os, sys\n"
        "from autoablation._executor.backends import use_backend\n"
        f"use_backend({backend!r}, cpus={cpus}, gpus={gpus})\n"
        "assert 'keras' not in sys.modules\n"
        f"print(json.dumps({{name: os.environ.get(name) for name in {VARIABLES!r}}}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str | None] = json.loads(done.stdout)
    return result


def test_a_fresh_worker_gets_the_backend_and_its_thread_pools_sized_to_the_slot() -> None:
    assert in_fresh_worker("jax", cpus=3, gpus=False) == {
        "KERAS_BACKEND": "jax",
        "TF_NUM_INTRAOP_THREADS": "3",  # in case tf.data loads TensorFlow
        "TF_NUM_INTEROP_THREADS": "3",
        "PJRT_NPROC": "3",  # XLA's CPU pools
        "OMP_NUM_THREADS": None,
        "XLA_PYTHON_CLIENT_PREALLOCATE": None,  # no GPU, nothing to preallocate
    }
    assert in_fresh_worker("tensorflow", cpus=2, gpus=True) == {
        "KERAS_BACKEND": "tensorflow",
        "TF_NUM_INTRAOP_THREADS": "2",
        "TF_NUM_INTEROP_THREADS": "2",
        "PJRT_NPROC": None,
        "OMP_NUM_THREADS": None,
        "XLA_PYTHON_CLIENT_PREALLOCATE": None,  # TensorFlow's growth is set after it loads
    }


def test_jax_on_a_gpu_takes_memory_as_it_needs_it() -> None:
    assert in_fresh_worker("jax", cpus=1, gpus=True)["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def test_a_worker_that_loaded_keras_with_another_backend_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keras

    assert keras.backend.backend() == "tensorflow"  # this process, like a reused TF worker
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(BackendError) as caught:
        use_backend("jax", cpus=1, gpus=False)
    message = str(caught.value)
    assert f"pid {os.getpid()}" in message
    assert "imported Keras with the 'tensorflow' backend" in message
    assert "cannot switch to the study's 'jax'" in message
    assert os.environ["KERAS_BACKEND"] == "tensorflow"  # nothing was changed
    use_backend("tensorflow", cpus=1, gpus=False)  # its own backend is fine


def test_a_worker_without_the_backends_package_is_refused_with_the_install_line() -> None:
    code = (
        "import importlib.util\n"
        "importlib.util.find_spec = lambda name, *a: None  # an executor without PyTorch\n"
        "from autoablation._executor.backends import use_backend\n"
        "from autoablation import BackendError\n"
        "try:\n"
        "    use_backend('torch', cpus=1, gpus=False)\n"
        "except BackendError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "the study runs on the Keras backend 'torch'" in done.stdout
    assert "install it on every executor" in done.stdout
