"""python -m grader gradescope ASSIGNMENT OUT.zip"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import assignments
from grader.cli import UsageError
from grader.platforms import gradescope

HELP = "write a Gradescope autograder zip (setup.sh, run_autograder, this grader's source) for an assignment"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help=f"one of: {', '.join(assignments.names())}")
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="where to write the zip")


def run(args: argparse.Namespace) -> int:
    try:
        assignment = assignments.get(args.assignment)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.out.suffix != ".zip":
        raise UsageError(f"{args.out} should end in .zip")
    gradescope.build(assignment, args.out)
    print(f"wrote {args.out}: upload it as the assignment's autograder (Configure Autograder > Zip file upload)")
    return 0
