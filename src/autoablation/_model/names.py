"""Layer names that mean the same layer in every process: a fresh name counter per build."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def fresh_layer_names() -> Iterator[None]:
    """Auto-generate layer names as a fresh Python process would (``dense``, ``dense_1``...).

    Keras numbers unnamed layers with a per-thread counter. Building the base model inside this
    context makes ``max_pooling2d_1`` name the same layer on the driver and on every executor,
    however many models the process built before; the caller's counter is restored afterwards.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a Keras without this private module: names depend on history
        yield
        return
    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)
