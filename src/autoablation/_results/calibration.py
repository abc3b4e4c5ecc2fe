"""Calibration: simulated studies with a known truth, decided by the library's own statistics.

The measurements behind the claims in ``docs/results.md``: how often an all-null study claims
that something matters (the family-wise error), how often the 95% interval holds the planted
effect, the power, and what the sequential design saves. Every simulated study is decided by
the functions the ranking and the sequential design run (`autoablation._results.stats.compare`
and `decide`, `autoablation._results.sequential.run_looks`), never a copy of them;
``bench/statistics.py`` runs thousands of studies, ``tests/results/test_calibration.py`` a few
hundred with Monte-Carlo tolerances.

The simulated metric follows what a real study sees. Repeat i draws one data split for every
configuration (``SPLIT_SD``, the binomial spread of an accuracy near 0.78 on 262 test examples)
and each configuration adds its own training noise (``TRAINING_SD``); "accuracy" rounds the
result to whole test examples (steps of 1/262), "continuous" does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoablation._results.sequential import SequentialDesign, run_looks
from autoablation._results.stats import ALPHA, MATTERS, NEGLIGIBLE, compare, decide

MEAN = 0.78
TEST_SIZE = 262
SPLIT_SD = math.sqrt(MEAN * (1 - MEAN) / TEST_SIZE)
TRAINING_SD = 0.004

FloatArray = npt.NDArray[np.float64]


def draw_metrics(
    rng: np.random.Generator,
    studies: int,
    effects: npt.ArrayLike,
    repeats: int,
    *,
    stepped: bool = False,
    training_sd: float = TRAINING_SD,
) -> FloatArray:
    """Metrics of simulated studies: ``(studies, 1 + components, repeats)``, the base first.

    Args:
        rng: The random generator.
        studies: How many studies.
        effects: Each component's true effect on the metric (metric units); one row per study
            for effects that differ between studies.
        repeats: Repeats of every configuration.
        stepped: Round to whole examples of a 262-example test set (accuracy).
        training_sd: The spread of one run's metric around its split's value.
    """
    planted = np.broadcast_to(np.asarray(effects, dtype=float), (studies, np.shape(effects)[-1]))
    truth = np.concatenate([np.zeros((studies, 1)), planted], axis=1)
    split = rng.normal(0.0, SPLIT_SD, size=(studies, 1, repeats))
    noise = rng.normal(0.0, training_sd, size=(studies, truth.shape[1], repeats))
    metrics = MEAN + split + truth[:, :, None] + noise
    if stepped:
        metrics = np.round(np.clip(metrics, 0.0, 1.0) * TEST_SIZE) / TEST_SIZE
    return np.asarray(metrics, dtype=float)


def paired_differences(metrics: FloatArray) -> FloatArray:
    """Each component's runs minus the base's, repeat by repeat."""
    return metrics[:, 1:, :] - metrics[:, :1, :]


@dataclass(frozen=True)
class FixedOutcome:
    """The fixed design's results for a batch of studies, ``(studies, components)`` each."""

    decision: npt.NDArray[np.str_]
    delta: FloatArray
    low: FloatArray
    high: FloatArray


def fixed_design(
    differences: FloatArray, min_effect: float | None = None, alpha: float = ALPHA
) -> FixedOutcome:
    """Decide every component of every study as `ExperimentResult.ranking` does."""
    result = compare(differences, min_effect)
    _, decision = decide(result.p_value, result.equivalence_p, alpha)
    return FixedOutcome(decision, result.delta, result.low, result.high)


def family_error(decision: npt.NDArray[np.str_], null: npt.ArrayLike) -> float:
    """Share of studies that claim at least one null component ``matters``."""
    nulls = np.broadcast_to(np.asarray(null, dtype=bool), decision.shape)
    return float(((decision == MATTERS) & nulls).any(axis=-1).mean())


def coverage(low: FloatArray, high: FloatArray, truth: npt.ArrayLike) -> float:
    """Share of intervals that hold the true effect; an interval left empty counts as a miss."""
    effect = np.broadcast_to(np.asarray(truth, dtype=float), low.shape)
    return float(((low <= effect) & (effect <= high)).mean())


def power(decision: npt.NDArray[np.str_], where: npt.ArrayLike) -> float:
    """Share of the components marked by ``where`` that are found to matter."""
    mask = np.broadcast_to(np.asarray(where, dtype=bool), decision.shape)
    return float((decision == MATTERS)[mask].mean())


@dataclass(frozen=True)
class SequentialOutcome:
    """The sequential design's results for a batch of studies, ``(studies, components)``."""

    decision: npt.NDArray[np.str_]
    stopped_at: npt.NDArray[np.int_]

    @property
    def runs(self) -> npt.NDArray[np.int_]:
        """Runs per study: every component's repeats, and the base's (its last one's)."""
        return np.asarray(self.stopped_at.sum(axis=1) + self.stopped_at.max(axis=1))

    def negligible(self, where: npt.ArrayLike) -> float:
        """Share of the components marked by ``where`` stopped as negligible."""
        mask = np.broadcast_to(np.asarray(where, dtype=bool), self.decision.shape)
        return float((self.decision == NEGLIGIBLE)[mask].mean())


def sequential_design(design: SequentialDesign, differences: FloatArray) -> SequentialOutcome:
    """Run the design's looks on every component of every study, as a study would.

    ``differences`` is ``(studies, components, max_repeats)``: every repeat a study could run;
    a component's decision at a look reads only the repeats before it, so the repeats after its
    stop are never used.
    """
    studies, components, width = differences.shape
    outcome = run_looks(design, differences.reshape(-1, width), keep_looks=False)
    shape = (studies, components)
    return SequentialOutcome(outcome.decision.reshape(shape), outcome.stopped_at.reshape(shape))


def intervals_at_stop(
    differences: FloatArray, stopped_at: npt.NDArray[np.int_]
) -> tuple[FloatArray, FloatArray]:
    """The 95% interval each component's ranking row shows: from its repeats up to its stop."""
    from autoablation._results.paired import t_interval

    low = np.full(stopped_at.shape, np.nan)
    high = np.full(stopped_at.shape, np.nan)
    for n in np.unique(stopped_at):
        where = stopped_at == n
        low[where], high[where] = t_interval(differences[where][:, :n])
    return low, high


def mixture(studies: int, components: int = 10) -> FloatArray:
    """Effects in standard deviations of the differences: half null, a quarter 1, a quarter 2.

    With an odd quarter (10 components: 2.5 each), studies alternate between rounding it up
    for d_z = 1 and for d_z = 2, so the mixture holds on average.
    """
    nulls = components // 2
    rest = components - nulls
    effects = np.zeros((studies, components))
    for study in range(studies):
        ones = rest // 2 + (rest % 2 if study % 2 == 0 else 0)
        effects[study, nulls : nulls + ones] = 1.0
        effects[study, nulls + ones :] = 2.0
    return effects


def standard_differences(rng: np.random.Generator, effects: FloatArray, repeats: int) -> FloatArray:
    """Paired differences of unit spread, each component against one shared base run.

    The base's run is common to every component's difference in a repeat, as in a real study,
    so the components' differences are correlated (Bonferroni does not mind).
    """
    studies, components = effects.shape
    runs = rng.normal(0.0, math.sqrt(0.5), size=(studies, components + 1, repeats))
    return runs[:, 1:, :] - runs[:, :1, :] + effects[:, :, None]


def most_allowed(rate: float, trials: int, confidence: float = 0.999) -> float:
    """The highest observed rate still consistent with a true rate of at most ``rate``.

    The binomial quantile: if the true rate is ``rate``, ``trials`` simulated studies give a
    higher share with probability at most 1 - ``confidence``.
    """
    from scipy import stats

    return float(stats.binom.ppf(confidence, trials, rate)) / trials


def least_allowed(rate: float, trials: int, confidence: float = 0.999) -> float:
    """The lowest observed rate still consistent with a true rate of at least ``rate``."""
    from scipy import stats

    return float(stats.binom.ppf(1 - confidence, trials, rate)) / trials
