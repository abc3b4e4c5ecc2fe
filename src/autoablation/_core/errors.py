"""The exceptions autoablation raises, all under one root.

The tree::

    AblationError
    ├── StudyError (ValueError)              a declaration that cannot work; raised before launch
    │   ├── UnknownComponentError (LookupError)  a feature, layer or module name that does not exist
    │   ├── ModelSurgeryError                 a removal that cannot give a valid model
    │   └── DatasetError                      data that cannot feed a trial
    ├── TrainFunctionError (TypeError)        a training function autoablation cannot call
    ├── ReturnValueError (TypeError)          a training function returned something unusable
    ├── FatalTrialError                       raised by a training function to stop the study
    ├── SparkConfigError (ValueError)         a Spark configuration that cannot run it as asked
    ├── BackendError (ValueError)             a Keras backend that cannot run it, or not the one
    │                                         a process already loaded
    ├── ProtocolError (ConnectionError)       the driver-executor RPC channel broke its contract
    │   ├── AuthenticationError               a frame whose HMAC does not check out
    │   └── FrameTooLargeError                a frame over the size limit
    └── ExperimentError (RuntimeError)        the experiment as a whole could not finish

Outside the tree, on purpose: `TrialTimeout` (a `BaseException`, like `KeyboardInterrupt`) is
raised inside a training function that runs past ``trial_timeout``, so that an ``except
Exception`` in the user's code does not swallow it.

Every message names the offending thing and what was expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoablation._results.result import ExperimentResult


class TrialTimeout(BaseException):
    """Raised inside a training function that ran past ``trial_timeout``."""


class AblationError(Exception):
    """Root of every exception autoablation raises."""


class StudyError(AblationError, ValueError):
    """A study declaration that cannot work; raised before any Spark job starts."""


class UnknownComponentError(StudyError, LookupError):
    """A feature, layer or module named in the study does not exist."""


class ModelSurgeryError(StudyError):
    """Removing a component cannot give a valid model (input/output layer, shapes, graph)."""


class DatasetError(StudyError):
    """The study's data cannot feed a trial (no rows, missing label, bad column types)."""


class TrainFunctionError(AblationError, TypeError):
    """The training function cannot be called the way autoablation calls it."""


class ReturnValueError(AblationError, TypeError):
    """A training function returned something that is not a usable metric."""


class FatalTrialError(AblationError):
    """Raise it from a training function to stop the study: no further trial starts.

    Example:
        >>> if not gpu_available():
        ...     raise FatalTrialError("no GPU on this executor; every trial would fail")
    """


class SparkConfigError(AblationError, ValueError):
    """The Spark configuration cannot run the study as asked (GPUs, task resources)."""


class BackendError(AblationError, ValueError):
    """The Keras backend cannot run the study.

    It is unknown, cannot train, or is not installed; or a process already loaded Keras with
    another backend (Keras cannot switch backends in a running process).
    """


class ProtocolError(AblationError, ConnectionError):
    """The driver-executor RPC channel received something outside its contract."""


class AuthenticationError(ProtocolError):
    """A frame's HMAC did not match the experiment's secret."""


class FrameTooLargeError(ProtocolError):
    """A frame's declared length is over the allowed maximum."""


class ExperimentError(AblationError, RuntimeError):
    """The experiment could not finish; ``result`` holds every trial that did."""

    def __init__(self, message: str, result: ExperimentResult | None = None) -> None:
        super().__init__(message)
        self.result = result
