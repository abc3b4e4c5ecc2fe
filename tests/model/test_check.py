"""The driver's forward probe on JAX: compiled whole, with the eager pass's shapes and errors.

A process binds Keras to one backend, and this one runs TensorFlow, so each case runs in a
fresh process on JAX.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, logging, sys
import keras, numpy as np
from autoablation._core.trial import Trial
from autoablation._model.check import _forward, check_trial_model

def two_branches():
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    y = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, [keras.layers.Dense(2)(y), keras.layers.Dense(3)(y)])

model = two_branches()
called = []
eager = type(model).__call__
type(model).__call__ = lambda self, *a, **k: called.append(1) or eager(self, *a, **k)
probe = np.ones((2, 8, 8, 3), dtype="float32")
compiled = [np.asarray(t) for t in keras.tree.flatten(_forward(model, probe))]
type(model).__call__ = eager
expected = [np.asarray(t) for t in keras.tree.flatten(model(probe, training=False))]
check = check_trial_model(two_branches, Trial.create("base", "base"))
refused = None
try:
    check_trial_model(two_branches, Trial.create("base", "base"), width=5)
except Exception as exc:
    refused = f"{type(exc).__name__}: {exc}"
print(json.dumps({
    "backend": keras.backend.backend(),
    "eager_calls": len(called),
    "same": all(np.allclose(a, b, atol=1e-5) for a, b in zip(compiled, expected)),
    "shapes": [list(s) for s in check.output_shapes],
    "refused": refused,
}))
"""


def test_the_probe_is_compiled_on_jax_and_agrees_with_the_eager_pass() -> None:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    assert out["eager_calls"] == 0  # the model was never called eagerly: one compiled pass
    assert out["same"]  # the same outputs as Keras' own eager call, both heads
    assert out["shapes"] == [[2], [3]]
    # A batch the model cannot take is refused in Keras' eager words, after the compiled try.
    assert out["refused"] == (
        "ModelSurgeryError: trial 'base': the model cannot take a batch of 5 feature columns: "
        "Input 0 with name 'input_layer' of layer 'functional' is incompatible with the layer: "
        "expected shape=(None, 8, 8, 3), found shape=(2, 5)"
    )
