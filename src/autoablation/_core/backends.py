"""The Keras backend a study trains on: the one Keras would choose, checked before it is used.

Keras 3 binds its backend once per process, when ``keras`` is first imported: the environment
variable ``KERAS_BACKEND`` if set, else the ``"backend"`` of ``$KERAS_HOME/keras.json`` (default
``~/.keras/keras.json``), else TensorFlow. autoablation follows that convention on the driver and
carries the driver's choice to every executor. Nothing here imports Keras.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

from autoablation._core.errors import BackendError
from autoablation._core.names import did_you_mean

ENV = "KERAS_BACKEND"
"""Keras' own environment variable for its backend."""
DEFAULT = "tensorflow"
"""Keras' default backend, and what an experiment journal without a backend was trained on."""
TRAINING = ("tensorflow", "jax", "torch")
"""The backends that can train a model (``fit``); each is also the name of its package."""
INFERENCE_ONLY = ("numpy", "openvino")
"""Backends Keras knows that cannot train."""
INSTALL_HINTS = {
    "jax": "pip install 'autoablation[jax]'",
    "torch": "install PyTorch, a CPU or CUDA wheel from https://pytorch.org (see docs/backends.md)",
    "tensorflow": "pip install autoablation (TensorFlow is one of its dependencies)",
}


class Choice(NamedTuple):
    """A backend and where it was chosen (named in messages)."""

    name: str
    source: str


def loaded_backend() -> str | None:
    """The backend of the Keras this process imported already, or None if it has not."""
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    return str(backend()) if callable(backend) else None


def configured_backend(environ: Mapping[str, str] | None = None) -> Choice:
    """The backend ``import keras`` would choose in this process, and where it comes from.

    Keras' own order: ``KERAS_BACKEND`` (when not empty), else ``keras.json``'s ``"backend"``,
    else TensorFlow.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV):
        return Choice(env[ENV], ENV)
    home = env.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    path = os.path.expanduser(os.path.join(home, "keras.json"))
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return Choice(DEFAULT, "Keras' default")
    chosen = config.get("backend") if isinstance(config, dict) else None
    if not isinstance(chosen, str) or not chosen:
        return Choice(DEFAULT, "Keras' default")
    return Choice(chosen, path)


def backend_in_force() -> Choice:
    """The backend of this process's Keras: the one it imported, or the one it would import."""
    loaded = loaded_backend()
    if loaded is not None:
        return Choice(loaded, "the Keras this process already imported")
    return configured_backend()


def check_backend(choice: Choice) -> str:
    """Return the backend's name if it can train here; refuse it with the fix otherwise.

    Raises:
        BackendError: The backend is unknown, cannot train, or its package is not installed.
    """
    name, source = choice
    if name in INFERENCE_ONLY:
        raise BackendError(
            f"the Keras backend {name!r} (from {source}) cannot train models; set "
            f"{ENV} to one of {', '.join(map(repr, TRAINING))} before Keras is imported"
        )
    if name not in TRAINING:
        raise BackendError(
            f"unknown Keras backend {name!r} (from {source}){did_you_mean(name, TRAINING)}; "
            f"set {ENV} to one of {', '.join(map(repr, TRAINING))}"
        )
    if importlib.util.find_spec(name) is None:
        raise BackendError(
            f"the Keras backend {name!r} (from {source}) needs the {name!r} package, which "
            f"{sys.executable} does not have; {INSTALL_HINTS[name]}"
        )
    return name
