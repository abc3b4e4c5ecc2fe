"""Which Keras backend a study trains on: Keras' own convention, checked before anything starts."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoablation import BackendError
from autoablation._core.backends import (
    Choice,
    backend_in_force,
    check_backend,
    configured_backend,
    loaded_backend,
)


def keras_home(tmp_path: Path, config: object) -> Path:
    (tmp_path / "keras.json").write_text(json.dumps(config))
    return tmp_path


@pytest.mark.parametrize(
    ("environ", "config", "expected"),
    [
        ({"KERAS_BACKEND": "jax"}, {"backend": "torch"}, ("jax", "KERAS_BACKEND")),
        ({"KERAS_BACKEND": ""}, {"backend": "torch"}, ("torch", "keras.json")),  # empty: unset
        ({}, {"backend": "jax", "floatx": "float32"}, ("jax", "keras.json")),
        ({}, {"floatx": "float32"}, ("tensorflow", "Keras' default")),
        ({}, ["not", "a", "config"], ("tensorflow", "Keras' default")),
    ],
)
def test_the_backend_is_chosen_as_keras_chooses_it(
    tmp_path: Path, environ: dict[str, str], config: object, expected: tuple[str, str]
) -> None:
    home = keras_home(tmp_path, config)
    chosen = configured_backend({**environ, "KERAS_HOME": str(home)})
    assert chosen.name == expected[0]
    assert chosen.source.endswith(expected[1])


def test_without_a_config_file_keras_default_is_tensorflow(tmp_path: Path) -> None:
    assert configured_backend({"KERAS_HOME": str(tmp_path)}) == Choice(
        "tensorflow", "Keras' default"
    )


def test_the_choice_agrees_with_keras_itself(tmp_path: Path) -> None:
    """In a fresh process: what we read before Keras loads is what Keras then says."""
    home = keras_home(tmp_path, {"backend": "numpy"})
    code = (
        "from autoablation._core.backends import configured_backend\n"
        "before = configured_backend().name\n"
        "import keras\n"
        "print(before, keras.backend.backend())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "KERAS_HOME": str(home)},
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == ["numpy", "numpy"]


def test_a_loaded_keras_decides() -> None:
    import keras

    assert loaded_backend() == keras.backend.backend() == "tensorflow"
    assert backend_in_force() == Choice("tensorflow", "the Keras this process already imported")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("jaxx", "unknown Keras backend 'jaxx' (from KERAS_BACKEND); did you mean 'jax'?"),
        ("numpy", "the Keras backend 'numpy' (from KERAS_BACKEND) cannot train models"),
        ("openvino", "cannot train models; set KERAS_BACKEND to one of 'tensorflow', 'jax'"),
    ],
)
def test_a_backend_that_cannot_train_is_refused_by_name(name: str, message: str) -> None:
    with pytest.raises(BackendError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_backend(Choice(name, "KERAS_BACKEND"))


def test_a_backend_whose_package_is_missing_is_refused_with_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a)
    )
    with pytest.raises(BackendError) as caught:
        check_backend(Choice("jax", "KERAS_BACKEND"))
    assert "needs the 'jax' package" in str(caught.value)
    assert "pip install 'autoablation[jax]'" in str(caught.value)


def test_installed_backends_pass() -> None:
    assert check_backend(Choice("tensorflow", "KERAS_BACKEND")) == "tensorflow"
    assert check_backend(Choice("jax", "KERAS_BACKEND")) == "jax"  # `make test` installs it
