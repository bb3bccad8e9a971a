"""python -m grader grade ASSIGNMENT SUBMISSION --results PATH"""

from __future__ import annotations

import argparse
from pathlib import Path

from grader import assignments
from grader.cli import UsageError
from grader.grade import grade, start
from grader.outputs import gradescope, html, junit, markdown, summary

UNGRADED = 3  # exit status: no grade was made (the machine, not the submission, failed)
HELP = "grade one submission (a folder, .py, .ipynb or .zip) and write Gradescope's results.json"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help=f"one of: {', '.join(assignments.names())}")
    parser.add_argument("submission", type=Path, help="a folder holding the assignment's files, a notebook, or a .zip")
    parser.add_argument("--results", type=Path, default=Path("results.json"), help="where to write results.json")
    parser.add_argument("--junit", type=Path, metavar="PATH", help="also write JUnit XML (CI test reports)")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help='also write a Markdown table of checks and points (e.g. "$GITHUB_STEP_SUMMARY")')
    parser.add_argument("--html", type=Path, metavar="PATH", help="also write one self-contained HTML page, plots included")
    parser.add_argument("--quiet", action="store_true", help="print only the score line")
    parser.add_argument(
        "--attempts", type=int, default=1, metavar="N",
        help="grade again, up to N times in all, while the machine is too busy to grade (exit status 3 if it stays so)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.submission.exists():
        raise UsageError(f"no such submission: {args.submission}")
    if args.attempts < 1:
        raise UsageError("--attempts must be at least 1")
    try:
        assignment, child = start(args.assignment)
    except ValueError as error:
        raise UsageError(str(error)) from None
    plots = args.results.parent / f"{args.results.stem}-plots"
    for _ in range(args.attempts):  # a starved grade is the machine's failure, never the student's zero
        report = grade(assignment, args.submission, artifacts_dir=plots, child=child)
        child = None  # each attempt after the first starts its own
        if not report.ungraded:
            break
    gradescope.write(report, args.results)
    for path, output in ((args.junit, junit), (args.markdown, markdown), (args.html, html)):
        if path is not None:
            output.write(report, path)
    if args.quiet:
        print(f"{report.assignment}: {report.score:g} / {report.max_score:g}")
    else:
        summary.show(report)
    print(f"Results written to {args.results}")
    if report.ungraded:
        print("NOT GRADED: the machine was too busy to finish some checks; this is not a score. Grade again.")
        return UNGRADED
    return 0
