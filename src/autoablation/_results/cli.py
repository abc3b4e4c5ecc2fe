"""The ``autoablation`` command: ``autoablation report <experiment_dir>``.

Prints the ranking of a finished or running study from its journal (no Spark needed) and writes
its plots.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from autoablation._results.result import load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoablation", description="Inspect autoablation experiments."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="print the ranking of a study and write its plots")
    report.add_argument("experiment_dir", type=Path, help="the study's experiment directory")
    report.add_argument(
        "--plots",
        type=Path,
        default=None,
        help="folder for the PNG plots (default: <experiment_dir>/plots)",
    )
    report.add_argument("--no-plots", action="store_true", help="print the ranking only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result = load(args.experiment_dir)
    except FileNotFoundError as exc:
        print(f"autoablation: {exc}", file=sys.stderr)
        return 2
    print(result)
    if not args.no_plots:
        folder = args.plots or args.experiment_dir / "plots"
        for path in result.plot(folder / "effects.png"):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
