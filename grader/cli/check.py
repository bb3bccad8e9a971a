"""python -m grader check [FOLDER] [--assignment NAME] [--out DIR]"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import assignments
from grader.cli import UsageError
from grader.outputs import classroom, gradescope, summary
from grader.platforms import local

HELP = "grade your assignment folder the way the course does, before you push (reads .grader.toml)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, nargs="?", default=Path("."), help="your assignment folder (default: here)")
    parser.add_argument("--assignment", help=f"needed only without {local.CONFIG_NAME}; one of: {', '.join(assignments.names())}")
    parser.add_argument("--out", type=Path, help=f"where results.json and report.html go (default: FOLDER/{local.OUTPUT_DIR})")


def run(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise UsageError(f"no such folder: {args.folder}")
    try:
        config = local.resolve(args.folder, args.assignment)
        report, output_dir = local.grade_locally(config, args.out)
    except local.ConfigError as error:
        raise UsageError(str(error)) from None
    summary.show(report, instructor=False)
    if config.grader:  # an exported Classroom template: say what its workflow will record
        points, maximum = classroom.recorded_points(list(classroom.step_results(gradescope.results(report)).items()))
        print(f"GitHub Classroom will record {points:g} / {maximum:g} for this version of your files.")
    print(f"Report: {output_dir / 'report.html'}")
    warning = local.version_warning(config)
    if warning:
        print(f"Warning: {warning}")
    return 0
