"""The ``autoablation`` command: ``autoablation report <experiment_dir>``.

Prints the ranking of a finished or running study from its journal (no Spark needed) and writes
its plots. The decisions are recomputed from the journal's raw runs with the statistics recorded
there (``min_effect``, the sequential design); the report says which statistics version
recomputed them, and for a sequential study whether every recorded look replays the same.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from autoablation._results.result import ExperimentResult, load


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
    for line in _provenance(result):
        print(line)
    if not args.no_plots:
        folder = args.plots or args.experiment_dir / "plots"
        for path in result.plot(folder / "effects.png"):
            print(f"wrote {path}")
    return 0


def _provenance(result: ExperimentResult) -> list[str]:
    """How the printed decisions were obtained, and whether they match what the study saw."""
    from autoablation._results.looks import compare_looks
    from autoablation._results.stats import METHOD
    from autoablation._results.store import JOURNAL, read_journal

    if result.experiment_dir is None:
        return []
    state = read_journal(result.experiment_dir / JOURNAL)
    recorded = state.statistics.get("version")
    lines = [
        f"decisions recomputed from the journal's runs with statistics version {METHOD['version']}"
        + (
            ""
            if recorded == METHOD["version"]
            else " (the journal recorded none)"
            if recorded is None
            else f" (the study ran with version {recorded})"
        )
    ]
    if result.sequential is not None:
        problems = compare_looks(state.looks, result.looks())
        lines.append(
            f"looks: {len(state.looks)} recorded; "
            + ("every one replays with the same decision" if not problems else "DIFFERENT:")
        )
        lines.extend(f"  {problem}" for problem in problems)
    return lines


if __name__ == "__main__":
    sys.exit(main())
