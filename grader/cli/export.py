"""python -m grader export ASSIGNMENT DIR [--org ORG --repo REPO --ref REF]"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import assignments
from grader.cli import UsageError
from grader.platforms import classroom
from grader.platforms.install import GraderSource

HELP = "write a GitHub Classroom template repository for an assignment (stubs, README, autograding workflow)"


def configure(parser: argparse.ArgumentParser) -> None:
    default = GraderSource()
    parser.add_argument("assignment", help=f"one of: {', '.join(assignments.names())}")
    parser.add_argument("directory", type=Path, help="a new or empty folder for the template")
    parser.add_argument("--org", default=default.org, help="GitHub owner of the grader's repository (default: %(default)s)")
    parser.add_argument("--repo", default=default.repo, help="the grader's repository name (default: %(default)s)")
    parser.add_argument("--ref", default=default.ref, help="the tag or commit students are graded with (default: %(default)s)")
    parser.add_argument("--hand-in", choices=classroom.HAND_IN, default="files", help="ship the .py stubs (default) or the notebook instead")
    parser.add_argument("--python", default=classroom.Options.python_version, help="Python version on the runner (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    try:
        assignment = assignments.get(args.assignment)
    except ValueError as error:
        raise UsageError(str(error)) from None
    source = GraderSource(args.org, args.repo, args.ref)
    options = classroom.Options(source=source, hand_in=args.hand_in, python_version=args.python)
    try:
        written = classroom.export(assignment, args.directory, options)
    except (ValueError, FileExistsError) as error:
        raise UsageError(str(error)) from None
    for path in written:
        print(f"wrote {path}")
    if source.is_placeholder:
        print(f"Note: the workflow installs {source.requirement!r}; pass --org/--repo/--ref to point it at your copy of the grader.")
    if args.hand_in == "files" and assignment.notebook and (assignment.stub_dir / assignment.notebook).is_file():
        print(f"Note: {assignment.name} also has a notebook; --hand-in notebook ships it instead of the .py files.")
    return 0
