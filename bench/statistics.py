"""Benchmark 7: are the ablation claims calibrated, and what do sequential repeats save?

Simulated studies with a known truth, decided by the library's own statistics code (the
functions `ExperimentResult.ranking` and the sequential design run, through
`autoablation._results.calibration`), printed beside the targets of issue 13:

1. family-wise error of all-null studies of 10 components, repeats 3, 5 and 10, for a
   continuous metric and for accuracy on a 262-example test set: at most 0.05;
2. coverage of the 95% interval of a planted effect: between 0.93 and 0.97;
3. power at the repeats `result.plan` asks for (d_z = 1, alone and in a family of 10): 0.8;
4. the sequential design: all-null family-wise error at most 0.05, and on a mixture of 50%
   null, 25% d_z = 1 and 25% d_z = 2 components at least 30% fewer runs than the fixed design
   of equal alpha and power: both the fixed design `result.plan` chooses for power 0.8 and
   the fixed design whose measured power on the same mixture equals the sequential design's;
5. one planted-truth Keras study run end to end through ``launch(repeats="auto")`` on a local
   Spark session: its decisions against the truth, its runs against the fixed design's.

Each rate comes with the largest (or smallest) value a true rate on target could give in this
many simulated studies (a binomial 99.9% bound), so "meets" means "consistent with the target".

python bench/statistics.py [--studies 2000]   (about a minute)
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import report

from autoablation._results import calibration as cal
from autoablation._results.planner import repeats_for
from autoablation._results.sequential import SequentialDesign
from autoablation._results.stats import ALPHA

COMPONENTS = 10
REPEATS = (3, 5, 10)
METRICS = {"continuous": False, "accuracy/262": True}
PLANTED = -0.01
"""The planted effect of the coverage studies: one point of accuracy, 2.6 test examples."""
SEQUENTIAL_MAX = (16, 24, 32)
"""max_repeats of the sequential designs: the default, what power 0.8 at d_z = 1 takes in a
family of 10, and more (the power then nears what the futility stops leave, about 0.86)."""


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def family_error(rng: np.random.Generator, studies: int) -> list[dict[str, Any]]:
    rows = []
    null = np.zeros(COMPONENTS)
    for metric, stepped in METRICS.items():
        for repeats in REPEATS:
            metrics = cal.draw_metrics(rng, studies, null, repeats, stepped=stepped)
            outcome = cal.fixed_design(cal.paired_differences(metrics))
            rate = cal.family_error(outcome.decision, True)
            bound = cal.most_allowed(ALPHA, studies)
            rows.append(
                {
                    "check": "family-wise error, all null",
                    "metric": metric,
                    "repeats": repeats,
                    "measured": rate,
                    "target": f"<= {ALPHA}",
                    "allowed": f"<= {bound:.4f}",
                    "": verdict(rate <= bound),
                }
            )
    return rows


def interval_coverage(rng: np.random.Generator, studies: int) -> list[dict[str, Any]]:
    rows = []
    for metric, stepped in METRICS.items():
        for repeats in REPEATS:
            metrics = cal.draw_metrics(rng, studies, [PLANTED], repeats, stepped=stepped)
            outcome = cal.fixed_design(cal.paired_differences(metrics))
            rate = cal.coverage(outcome.low, outcome.high, PLANTED)
            empty = float(np.isnan(outcome.low).mean())
            low, high = cal.least_allowed(0.93, studies), cal.most_allowed(0.97, studies)
            rows.append(
                {
                    "check": "95% interval holds the planted effect",
                    "metric": metric,
                    "repeats": repeats,
                    "measured": rate,
                    "target": "0.93-0.97",
                    "allowed": f"{low:.4f}-{high:.4f}",
                    "": verdict(low <= rate <= high),
                    "no interval": empty,
                }
            )
    return rows


def planned_power(rng: np.random.Generator, studies: int) -> list[dict[str, Any]]:
    rows = []
    for family in (1, COMPONENTS):
        repeats = repeats_for(1.0, 0.8, ALPHA / family)
        assert repeats is not None
        effects = np.ones((studies, family))
        outcome = cal.fixed_design(cal.standard_differences(rng, effects, repeats))
        rate = cal.power(outcome.decision, True)
        bound = cal.least_allowed(0.8, studies * family)
        rows.append(
            {
                "check": f"power at the planned repeats, family of {family}",
                "metric": "d_z = 1",
                "repeats": repeats,
                "measured": rate,
                "target": ">= 0.8",
                "allowed": f">= {bound:.4f}",
                "": verdict(rate >= bound),
            }
        )
    return rows


def fixed_power_curve(
    rng: np.random.Generator, effects: np.ndarray, sizes: range
) -> dict[int, float]:
    """The fixed design's measured power at d_z = 1 on the mixture, by repeats."""
    curve = {}
    for n in sizes:
        outcome = cal.fixed_design(cal.standard_differences(rng, effects, n))
        curve[n] = cal.power(outcome.decision, effects == 1)
    return curve


def equal_power_repeats(curve: dict[int, float], power: float) -> float:
    """Repeats at which the fixed design's power equals ``power`` (linear between sizes)."""
    sizes = sorted(curve)
    for below, above in itertools.pairwise(sizes):
        if curve[below] <= power <= curve[above]:
            share = (power - curve[below]) / max(curve[above] - curve[below], 1e-12)
            return below + share * (above - below)
    return float(sizes[0] if power < curve[sizes[0]] else sizes[-1])


def sequential(
    rng: np.random.Generator, studies: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    bound = cal.most_allowed(ALPHA, studies)
    designs = {
        n: SequentialDesign(COMPONENTS, min_effect=1.0, max_repeats=n) for n in SEQUENTIAL_MAX
    }
    for design in designs.values():
        null = np.zeros((studies, COMPONENTS))
        outcome = cal.sequential_design(
            design, cal.standard_differences(rng, null, design.max_repeats)
        )
        rate = cal.family_error(outcome.decision, True)
        rows.append(
            {
                "check": f"sequential (max {design.max_repeats}): family-wise error, all null",
                "measured": rate,
                "target": f"<= {ALPHA}",
                "allowed": f"<= {bound:.4f}",
                "": verdict(rate <= bound),
                "runs per study": float(outcome.runs.mean()),
            }
        )
    effects = cal.mixture(studies, COMPONENTS)
    curve = fixed_power_curve(rng, effects, range(12, 24))
    planned = repeats_for(1.0, 0.8, ALPHA / COMPONENTS)
    assert planned is not None
    details: dict[str, Any] = {
        "fixed_power_curve": {str(n): p for n, p in curve.items()},
        "designs": {str(n): d.to_dict() for n, d in designs.items()},
    }
    coverage_bounds = (cal.least_allowed(0.93, studies), cal.most_allowed(0.97, studies))
    power_bound = cal.least_allowed(0.8, int((effects == 1).sum()))
    for n, design in designs.items():
        differences = cal.standard_differences(rng, effects, design.max_repeats)
        outcome = cal.sequential_design(design, differences)
        power = cal.power(outcome.decision, effects == 1)
        runs = float(outcome.runs.mean())
        low, high = cal.intervals_at_stop(differences, outcome.stopped_at)
        covered = cal.coverage(low, high, effects)
        null_error = cal.family_error(outcome.decision, effects == 0)
        equal = equal_power_repeats(curve, power)
        saved_equal = 1 - runs / ((COMPONENTS + 1) * equal)
        saved_planned = 1 - runs / ((COMPONENTS + 1) * planned)
        name = f"mixture, max {n}"
        rows += [
            {
                "check": f"{name}: power at d_z = 1",
                "measured": power,
                "target": ">= 0.8",
                "allowed": f">= {power_bound:.4f}",
                "": verdict(power >= power_bound),
            },
            {
                "check": f"{name}: d_z = 1 stopped as negligible",
                "measured": outcome.negligible(effects == 1),
                "target": "(part of 1 - power)",
            },
            {
                "check": f"{name}: 95% interval at the stop holds the effect",
                "measured": covered,
                "target": "0.93-0.97",
                "allowed": f"{coverage_bounds[0]:.4f}-{coverage_bounds[1]:.4f}",
                "": verdict(coverage_bounds[0] <= covered <= coverage_bounds[1]),
            },
            {
                "check": f"{name}: false 'matters' among the nulls",
                "measured": null_error,
                "target": f"<= {ALPHA}",
                "allowed": f"<= {bound:.4f}",
                "": verdict(null_error <= bound),
            },
            {
                "check": f"{name}: runs saved vs fixed design of equal power ({equal:.1f} repeats)",
                "measured": saved_equal,
                "target": ">= 0.30",
                "": verdict(saved_equal >= 0.30),
                "runs per study": runs,
            },
            {
                "check": f"{name}: runs saved vs the planner's fixed design ({planned} repeats)",
                "measured": saved_planned,
                "target": ">= 0.30",
                "": verdict(saved_planned >= 0.30),
            },
        ]
        stops = outcome.stopped_at
        details[f"mean_stop_max_{n}"] = {
            "null": float(stops[effects == 0].mean()),
            "d_z=1": float(stops[effects == 1].mean()),
            "d_z=2": float(stops[effects == 2].mean()),
            "base": float(stops.max(axis=1).mean()),
        }
    return rows, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="simulated studies per check")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--no-launch", action="store_true", help="skip the planted study run through launch"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = family_error(rng, args.studies) + interval_coverage(rng, args.studies)
    rows += planned_power(rng, args.studies)
    sequential_rows, details = sequential(rng, args.studies)
    report("statistics", rows + sequential_rows, studies=args.studies, **details)
    if not args.no_launch:
        report("statistics-launch", planted_study())


TRUTH = {"strong": "matters", "weak": "matters", "noise_a": "negligible", "noise_b": "negligible"}
"""The planted truth: two features the label depends on, two it does not."""


def planted_table(rows: int = 3000) -> Any:
    import pandas as pd

    rng = np.random.default_rng(42)
    strong, weak, noise_a, noise_b = rng.normal(size=(4, rows))
    label = (2.0 * strong + 0.8 * weak + rng.normal(0, 0.3, rows) > 0).astype(int)
    return pd.DataFrame(
        {"strong": strong, "weak": weak, "noise_a": noise_a, "noise_b": noise_b, "y": label}
    )


def logistic() -> Any:
    import keras

    return keras.Sequential([keras.layers.Dense(1, activation="sigmoid", name="logit")])


def fit(dataset_function: Any, model_function: Any) -> float:
    import keras

    x, y = dataset_function.arrays()
    model = model_function()
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=128, verbose=0)
    x_test, y_test = dataset_function.arrays("test")
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def planted_study() -> list[dict[str, Any]]:
    """A real Keras study with a planted truth, run end to end with ``repeats="auto"``."""
    import time

    from _common import session

    from autoablation import AblationStudy, experiment

    spark = session(2, "bench-statistics")
    study = AblationStudy(planted_table(), label_name="y", test_fraction=0.3, seed=3)
    study.features.include(list(TRUTH))
    study.model.set_base_model_generator(logistic)
    began = time.monotonic()
    result = experiment.launch(
        fit,
        study,
        name="bench-statistics",
        spark=spark,
        repeats="auto",
        min_effect=0.01,
        max_repeats=16,
        overwrite=True,
        verbose=0,
    )
    took = time.monotonic() - began
    ranking = result.ranking().set_index("ablated")
    components = len(TRUTH)
    fixed = (components + 1) * (repeats_for(1.0, 0.8, ALPHA / components) or 0)
    rows = [
        {
            "component": name,
            "truth": truth,
            "decision": ranking.loc[name, "decision"],
            "repeats run": ranking.loc[name, "n"],
            "delta": ranking.loc[name, "delta"],
            "": verdict(ranking.loc[name, "decision"] in (truth, "undecided")),
        }
        for name, truth in TRUTH.items()
    ]
    rows.append(
        {
            "component": "all",
            "truth": f"fixed design at d_z = 1: {fixed} runs",
            "decision": f"{len(result.trials)} runs, {took:.0f} s",
            "repeats run": ranking.loc["base", "n"],
            "delta": float("nan"),
            "": verdict(len(result.trials) < fixed),
        }
    )
    return rows


if __name__ == "__main__":
    main()
