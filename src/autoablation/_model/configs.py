"""Reading Keras configs without loading TensorFlow into a JAX or PyTorch process.

Keras asks, for every value it serialises, whether it is a TensorFlow ``TensorShape``, ``DType``
or ``TypeSpec``, and to ask it imports TensorFlow whenever it is installed, on any backend:
seconds and hundreds of megabytes in every JAX worker that edits a model. While TensorFlow is
not loaded no value can be one of its types, so here the question is answered without the
import. A TensorFlow process, or one that loaded TensorFlow already, is left as it is.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _tensorflow_unloaded() -> Iterator[None]:
    import keras

    if "tensorflow" in sys.modules or keras.backend.backend() == "tensorflow":
        yield
        return
    try:
        from keras.src.utils.module_utils import tensorflow as lazy
    except ImportError:  # another Keras layout: it may import TensorFlow, as Keras does
        yield
        return
    if not hasattr(lazy, "_available"):
        yield
        return
    saved = lazy._available
    lazy._available = False  # "not loaded" is all a type check needs; nothing is imported
    try:
        yield
    finally:
        lazy._available = saved


def model_config(model: Any) -> Any:
    """``model.get_config()``, without importing TensorFlow on another backend."""
    with _tensorflow_unloaded():
        return model.get_config()


def layer_config(layer: Any) -> Any:
    """``keras.layers.serialize(layer)``, without importing TensorFlow on another backend."""
    import keras

    with _tensorflow_unloaded():
        return keras.layers.serialize(layer)
