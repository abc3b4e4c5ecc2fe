"""Plots of the last benchmark run (bench/results/*.json) into bench/results/*.png.

python bench/plot.py [--out ../docs/images]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scheduling = json.loads((RESULTS / "scheduling.json").read_text())
    scaling = json.loads((RESULTS / "scaling.json").read_text())

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    rows = scheduling["rows"]
    axes[0].barh([r["approach"] for r in rows], [r["makespan_s"] for r in rows], color="#4c72b0")
    axes[0].axvline(scheduling["lower_bound_s"], color="black", linestyle="--", label="lower bound")
    axes[0].invert_yaxis()
    axes[0].set_xlabel("makespan (s)")
    axes[0].set_title(
        f"{scheduling['trials']} trials of spread durations on {scheduling['workers']} slots"
    )
    axes[0].legend(loc="lower right")
    for kind, marker in (("sleep", "o"), ("keras (CPU)", "s")):
        points = [r for r in scaling["rows"] if r["trials"] == kind]
        axes[1].plot(
            [p["workers"] for p in points],
            [p["speed-up"] for p in points],
            marker=marker,
            label=kind,
        )
    axes[1].plot([1, 8], [1, 8], color="grey", linestyle=":", label="linear")
    axes[1].set_xlabel("workers")
    axes[1].set_ylabel("speed-up over 1 worker")
    axes[1].set_title("Scaling")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(args.out / "bench.png", dpi=110)
    print(f"wrote {args.out / 'bench.png'}")


if __name__ == "__main__":
    main()
