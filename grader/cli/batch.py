"""python -m grader batch ASSIGNMENT SUBMISSIONS --gradebook grades.db --csv grades.csv [--jobs N]"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from grader import assignments
from grader.cli import UsageError
from grader.outputs.text import plain

HELP = "grade a whole class into a SQLite gradebook (resumable), with a CSV, per-student feedback and a class report"

EXIT_GRADER_FAILURES = 1  # some submissions could not be graded through the grader's fault: run again


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help=f"one of: {', '.join(assignments.names())}")
    parser.add_argument("submissions", type=Path, help="a folder of per-student folders, notebooks or .zip files")
    parser.add_argument("--gradebook", type=Path, default=Path("grades.db"), help="the SQLite gradebook (default: grades.db)")
    parser.add_argument("--csv", type=Path, help="the CSV for Canvas or Gradescope (default: the gradebook's name with .csv)")
    parser.add_argument("--feedback", type=Path, help="per-student results.json and report.html (default: <gradebook>-feedback/)")
    parser.add_argument("--report", type=Path, help="the class report, HTML (default: <gradebook>-report.html)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: one per core)")
    parser.add_argument("--regrade", action="store_true", help="grade everyone again, even unchanged submissions")
    parser.add_argument("--cluster", metavar="ADDRESS", help="grade on the Dask cluster whose scheduler is at ADDRESS")
    parser.add_argument("--strip-prefix", metavar="PREFIX", help="drop PREFIX from folder names to get student ids (Classroom's repository prefix is found automatically)")
    parser.add_argument("--timeout", type=float, default=None, help="stop a submission's grading after this many seconds (a backstop; default 900)")
    parser.add_argument("--no-plots", action="store_true", help="leave the per-student plots out of the feedback (much faster for descent)")
    parser.add_argument("--plain", action="store_true", help="one line per submission even on a terminal")


def run(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for the batch machinery.
    from grader.batch.discover import DiscoveryError
    from grader.batch.export import breakdown_path
    from grader.batch.gradebook import GradebookBusy
    from grader.batch.pool import DEFAULT_SUBMISSION_TIMEOUT, WorkersCannotStart
    from grader.batch.run import BatchOptions, run_batch

    try:
        assignments.declared(args.assignment)  # validated by run_batch, after the workers' fork server starts
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder of submissions")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    book = args.gradebook
    options = BatchOptions(
        assignment=args.assignment,
        submissions=args.submissions,
        gradebook=book,
        csv=args.csv or book.with_suffix(".csv"),
        feedback=args.feedback or book.with_name(f"{book.stem}-feedback"),
        report=args.report or book.with_name(f"{book.stem}-report.html"),
        jobs=args.jobs,
        cluster=args.cluster,
        regrade=args.regrade,
        strip_prefix=args.strip_prefix,
        plots=not args.no_plots,
        submission_timeout=args.timeout or DEFAULT_SUBMISSION_TIMEOUT,
    )
    try:
        result = run_batch(options, live=False if args.plain else None)
    except (DiscoveryError, GradebookBusy) as error:
        raise UsageError(str(error)) from None
    except WorkersCannotStart as error:
        print(f"error: {error}")
        return EXIT_GRADER_FAILURES
    except KeyboardInterrupt:
        print("\nInterrupted. Every submission graded so far is in the gradebook; run the same command again to finish.")
        return 130

    print(
        f"{result.found} submissions: {result.graded} graded now, {result.kept} unchanged since an earlier run "
        f"({result.seconds:.1f} s)."
    )
    if result.unreadable:
        print(f"{result.unreadable} could not be loaded and score 0 (the class report lists why).")
    if result.failed:
        print(f"{result.failed} could not be graded because the grader failed (earlier grades are kept); run the same command again to retry them.")
    if result.absent:
        shown = ", ".join(map(plain, result.absent[:10])) + (" ..." if len(result.absent) > 10 else "")
        print(f"{len(result.absent)} students in the gradebook have no submission in {args.submissions} (their grades are kept): {shown}")
    print(f"Gradebook: {options.gradebook}\nCanvas CSV: {options.csv} (per check: {breakdown_path(options.csv)})\nFeedback: {options.feedback}/\nClass report: {options.report}")
    return EXIT_GRADER_FAILURES if result.failed else 0
