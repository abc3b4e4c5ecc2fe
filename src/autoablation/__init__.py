"""autoablation: declarative ablation studies of Keras models, trained in parallel on Spark.

Example:
    >>> from autoablation import AblationStudy, experiment
    >>> study = AblationStudy(titanic, label_name="survived")
    >>> study.features.include(["pclass", "sex"])
    >>> study.model.set_base_model_generator(base_model)
    >>> study.model.layers.include("my_dense_two")
    >>> result = experiment.launch(train, study, name="titanic")
    >>> print(result)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoablation import experiment
    from autoablation._core.errors import (
        AblationError,
        AuthenticationError,
        BackendError,
        DatasetError,
        ExperimentError,
        FatalTrialError,
        FrameTooLargeError,
        ModelSurgeryError,
        ProtocolError,
        ReturnValueError,
        SparkConfigError,
        StudyError,
        TrainFunctionError,
        TrialTimeout,
        UnknownComponentError,
    )
    from autoablation._core.trial import Component, ComponentKind, Trial, TrialResult, TrialStatus
    from autoablation._data.datasets import DatasetFunction
    from autoablation._data.generated import GeneratedDataset
    from autoablation._driver.events import Listener
    from autoablation._executor.daemon import SPARK_CONF
    from autoablation._executor.reporter import Reporter
    from autoablation._results.result import ExperimentResult, load
    from autoablation._study.ablators import LOCO, Ablator, KeepOne, Pairs
    from autoablation._study.study import AblationStudy
    from autoablation.experiment import AblationConfig

# Where each public name lives. They load on first use, so a Spark task that imports only the
# executor's modules does not pay for pandas and the driver's machinery in every fresh worker.
_EXPORTS = {
    "experiment": "autoablation.experiment",
    "AblationConfig": "autoablation.experiment",
    **dict.fromkeys(("LOCO", "Ablator", "KeepOne", "Pairs"), "autoablation._study.ablators"),
    "DatasetFunction": "autoablation._data.datasets",
    "GeneratedDataset": "autoablation._data.generated",
    "TrialTimeout": "autoablation._core.errors",
    "Listener": "autoablation._driver.events",
    **dict.fromkeys(
        (
            "AblationError",
            "AuthenticationError",
            "BackendError",
            "DatasetError",
            "ExperimentError",
            "FatalTrialError",
            "FrameTooLargeError",
            "ModelSurgeryError",
            "ProtocolError",
            "ReturnValueError",
            "SparkConfigError",
            "StudyError",
            "TrainFunctionError",
            "UnknownComponentError",
        ),
        "autoablation._core.errors",
    ),
    "Reporter": "autoablation._executor.reporter",
    "SPARK_CONF": "autoablation._executor.daemon",
    **dict.fromkeys(("ExperimentResult", "load"), "autoablation._results.result"),
    "AblationStudy": "autoablation._study.study",
    **dict.fromkeys(
        ("Component", "ComponentKind", "Trial", "TrialResult", "TrialStatus"),
        "autoablation._core.trial",
    ),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autoablation")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    value: Any
    if name == "__version__":
        value = _version()
    elif name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    else:
        raise AttributeError(f"module 'autoablation' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "LOCO",
    "SPARK_CONF",
    "AblationConfig",
    "AblationError",
    "AblationStudy",
    "Ablator",
    "AuthenticationError",
    "BackendError",
    "Component",
    "ComponentKind",
    "DatasetError",
    "DatasetFunction",
    "ExperimentError",
    "ExperimentResult",
    "FatalTrialError",
    "FrameTooLargeError",
    "GeneratedDataset",
    "KeepOne",
    "Listener",
    "ModelSurgeryError",
    "Pairs",
    "ProtocolError",
    "Reporter",
    "ReturnValueError",
    "SparkConfigError",
    "StudyError",
    "TrainFunctionError",
    "Trial",
    "TrialResult",
    "TrialStatus",
    "TrialTimeout",
    "UnknownComponentError",
    "__version__",
    "experiment",
    "load",
]
