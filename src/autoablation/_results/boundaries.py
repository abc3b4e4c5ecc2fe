"""Group-sequential boundaries: the nominal level a test must reach at each look.

Looking at a growing sample again and again inflates the chance of a false claim, so a
sequential design fixes, before the first look, a stricter nominal level to use at every look
(Pocock's constant boundary): the one at which the chance of crossing at *any* look is alpha.
Across looks the standardised sums of the paired differences behave like a Brownian motion
observed at the looks' sample sizes, so that chance is computed by the recursive numerical
integration of Armitage, McPherson and Rowe (1969): the density of the sum is carried from look
to look on a grid, each time cut to the region below the boundary. The Pocock constants it
gives are those of the published tables (``tests/results/test_boundaries.py`` checks them).

The exact sign-flip test cannot give a p-value under ``2 / 2**n``, so a look of ``n`` repeats
whose floor lies above the boundary can never reject: `efficacy_boundary` leaves such early
looks out and spends the whole alpha on the looks that can use it.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np

from autoablation._results.paired import smallest_p

_GRID = 201
"""Points per look in the integration (odd, for Simpson's rule); levels to about 0.1%."""


def _simpson(points: int, step: float) -> np.ndarray:
    weights = np.ones(points)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return weights * step / 3.0


def _normal_pdf(x: np.ndarray, variance: float) -> np.ndarray:
    return np.asarray(np.exp(-0.5 * x * x / variance) / math.sqrt(2.0 * math.pi * variance))


def staying_probability(z: float, looks: Sequence[float]) -> float:
    """P(|S_n| < z * sqrt(n) at every look n) for a standard Brownian motion S."""
    times = np.asarray(looks, dtype=float)
    grid = np.linspace(-z * math.sqrt(times[0]), z * math.sqrt(times[0]), _GRID)
    density = _normal_pdf(grid, times[0])
    for before, now in itertools.pairwise(times):
        weights = _simpson(_GRID, grid[1] - grid[0])
        nxt = np.linspace(-z * math.sqrt(now), z * math.sqrt(now), _GRID)
        step = _normal_pdf(nxt[:, None] - grid[None, :], now - before)
        density, grid = step @ (density * weights), nxt
    return float(density @ _simpson(_GRID, grid[1] - grid[0]))


@functools.lru_cache(maxsize=256)
def pocock_level(looks: tuple[int, ...], alpha: float) -> float:
    """The nominal two-sided level to use at every look so that all looks together spend alpha.

    Raises:
        ValueError: No looks, looks not increasing, or alpha outside (0, 1).
    """
    from scipy import optimize, stats

    if not looks or any(b <= a for a, b in itertools.pairwise(looks)) or looks[0] < 1:
        raise ValueError(f"looks must be increasing positive repeat counts; got {looks!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    if len(looks) == 1:
        return alpha
    z = optimize.brentq(
        lambda z: 1.0 - staying_probability(z, looks) - alpha,
        float(stats.norm.isf(alpha / 2)),
        float(stats.norm.isf(alpha / (2 * len(looks)))) + 0.5,
        xtol=1e-7,
    )
    return float(2.0 * stats.norm.sf(z))


@functools.lru_cache(maxsize=256)
def efficacy_boundary(looks: tuple[int, ...], alpha: float) -> tuple[int, float]:
    """The first look at which a claim can be made, and the nominal level from there on.

    The level is Pocock's for the looks from that one on; the first look is the earliest
    whose sign-flip floor (``2 / 2**n``) is at or under that level.

    Raises:
        ValueError: Even the last look cannot reach ``alpha``: more repeats are needed.
    """
    for index, first in enumerate(looks):
        if smallest_p(first) > alpha:
            continue
        level = pocock_level(looks[index:], alpha)
        if smallest_p(first) <= level:
            return first, level
    raise ValueError(
        f"an exact test needs at least {math.ceil(1 + math.log2(1 / alpha))} paired repeats to "
        f"reach p <= {alpha:.3g}; the design's last look is at {looks[-1]}"
    )
