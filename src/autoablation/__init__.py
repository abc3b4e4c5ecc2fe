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

from importlib.metadata import PackageNotFoundError, version

from autoablation import experiment
from autoablation._ablator import LOCO, Ablator, KeepOne, Pairs
from autoablation._datasets import DatasetFunction, GeneratedDataset
from autoablation._deadline import TrialTimeout
from autoablation._events import Listener
from autoablation._exceptions import (
    AblationError,
    AuthenticationError,
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
    UnknownComponentError,
)
from autoablation._reporter import Reporter
from autoablation._result import ExperimentResult, load
from autoablation._study import AblationStudy
from autoablation._trial import Component, ComponentKind, Trial, TrialResult, TrialStatus
from autoablation.experiment import AblationConfig

try:
    __version__ = version("autoablation")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "LOCO",
    "AblationConfig",
    "AblationError",
    "AblationStudy",
    "Ablator",
    "AuthenticationError",
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
