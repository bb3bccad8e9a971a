"""python -m grader assign [ASSIGNMENT ...] [--check]"""

from __future__ import annotations

import argparse

from grader import assignments
from grader.authoring import stubs
from grader.cli import UsageError

HELP = "generate the student stubs (and notebooks) from the reference solutions"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="ASSIGNMENT", help="default: all assignments")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any generated file is stale")


def run(args: argparse.Namespace) -> int:
    try:
        chosen = [assignments.get(name) for name in args.names or assignments.names()]
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.check:
        stale = [path for assignment in chosen for path in stubs.stale(assignment)]
        for path in stale:
            print(f"stale: {path} (run `python -m grader assign`)")
        return 1 if stale else 0
    for assignment in chosen:
        for path in stubs.write(assignment):
            print(f"wrote {path}")
    return 0
