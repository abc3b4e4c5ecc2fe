"""What a worker needs to run any trial: its factories, its time limit and error policy.

Both travel once, inside the Spark task closure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoablation._core.errors import (
    FatalTrialError,
)
from autoablation._core.trial import Trial
from autoablation._data.datasets import DataHandle, DatasetFunction
from autoablation._data.generated import GeneratedDataset
from autoablation._model.build import ModelRecipe


@dataclass(frozen=True)
class TrialPolicy:
    """How a worker treats a trial's running time and errors; travels in the task closure.

    Attributes:
        trial_timeout: Seconds a training function may run; None for no limit.
        fatal_errors: Exception types that stop the whole study (besides `FatalTrialError`).
        exit_when_stuck: End this process when a timed-out function ignores the timeout
            (a Spark task's Python worker); otherwise only report the trial.
    """

    trial_timeout: float | None = None
    fatal_errors: tuple[type[BaseException], ...] = ()
    exit_when_stuck: bool = False

    def is_fatal(self, error: BaseException) -> bool:
        """Whether ``error`` should stop the study."""
        return isinstance(error, (FatalTrialError, *self.fatal_errors))


@dataclass(frozen=True)
class TrialRuntime:
    """What a worker needs to turn any trial into its factories; travels in the task closure.

    Attributes:
        model: How to build each trial's model, or None for a study without models.
        data: The default generator's prepared data (a Spark broadcast, a Parquet file or a
            local holder), or None.
        dataset_generator: The study's own dataset generator, or None.
        tensorboard_root: Where trials write TensorBoard logs (a folder executors share);
            None for a temporary folder on each executor.
        generator_features: The feature names declared with the dataset generator, if any.
    """

    model: ModelRecipe | None
    data: DataHandle | None
    dataset_generator: Callable[..., Any] | None = None
    tensorboard_root: str | None = None
    generator_features: tuple[str, ...] | None = None

    def release(self) -> None:
        """Free what the runtime holds on the cluster (broadcast, staged file), without waiting."""
        unpersist = getattr(self.data, "unpersist", None)
        if unpersist is not None:
            unpersist(blocking=False)

    def dataset_function(self, trial: Trial) -> DatasetFunction | GeneratedDataset | None:
        """The trial's ``dataset_function``: the data without the trial's features.

        It serves the trial's split: its repeat's split seed, or the study's split.
        """
        if self.dataset_generator is not None:
            return GeneratedDataset(
                self.dataset_generator,
                trial.removed_features,
                trial.split_seed,
                feature_names=self.generator_features,
            )
        if self.data is None:
            return None
        return DatasetFunction(
            self.data, trial.removed_features, seed=trial.seed, split_seed=trial.split_seed
        )

    def model_function(self, trial: Trial) -> Callable[[], Any] | None:
        """The trial's ``model_function``: the base model without the trial's components."""
        recipe = self.model
        if recipe is None:
            return None
        base_width = width = None
        if self.data is not None and self.dataset_generator is None:
            base_width = len(self.data.value.feature_names)
            width = base_width - len(trial.removed_features)

        def model_function() -> Any:
            return recipe.build(trial, base_width=base_width, width=width)

        return model_function
