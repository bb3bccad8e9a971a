"""python -m grader verdict RESULTS CHECK [--points N]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grader.outputs.classroom import earned_full_points
from grader.outputs.markdown import plain_text
from grader.outputs.text import plain

HELP = "print one check's verdict from a results.json; exit 0 only if it earned all its points (a Classroom workflow step)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="the results.json an earlier `grade` wrote")
    parser.add_argument("check", help="the check's exact name")
    parser.add_argument("--points", type=float, help="the points the workflow awards for it; a mismatch fails the step")


def run(args: argparse.Namespace) -> int:
    # Everything goes to stdout: some versions of the command grader fail a step that writes to stderr.
    try:
        tests = json.loads(args.results.read_text(encoding="utf-8"))["tests"]
    except (OSError, ValueError, KeyError) as error:
        print(f"No grade to read ({error}); the Grade step above says why.")
        return 1
    test = next((t for t in tests if t["name"] == args.check), None)
    if test is None:
        print(f"The grade has no check named {args.check!r}: the workflow and the grader are from different versions.")
        return 1
    print(plain(f"{test['name']}: {test['score']:g} / {test['max_score']:g} points"))
    if test["output"]:
        print(plain(plain_text(test["output"])))  # results.json holds Markdown; the job log shows text
    if args.points is not None and float(test["max_score"]) != args.points:
        print(f"This step awards {args.points:g} points but the grader gives the check {test['max_score']:g}: the workflow was changed.")
        return 1
    return 0 if earned_full_points(test) else 1
