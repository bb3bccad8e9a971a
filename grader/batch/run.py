"""The batch: decide what to grade, grade it in parallel, record each result, export.

A student is graded when the gradebook has no row for them, or a row made from other
files (a different hash), by another grader version, by a grading that failed, or
before an unfinished ``--regrade`` began. Every other row is kept. So running the same
command again, after a kill -9 or after a finished run, grades only what is missing.

A grading that fails through the grader's fault (a crash, or a machine too busy to run
it: "ungraded") leaves no score; it replaces an existing grade only when that grade was
made from other files or by another grader version, which no longer stands. A
``--regrade`` stays unfinished (and resumes next run) until no grading failed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from grader import assignments
from grader.batch.cluster import DaskCluster
from grader.batch.contents import submission_hash
from grader.batch.discover import Entry, discover
from grader.batch.export import write_csv, write_feedback
from grader.batch.gradebook import FAILED, GRADED, Fingerprint, Gradebook, exclusive, now
from grader.batch.pool import DEFAULT_SUBMISSION_TIMEOUT, LocalPool, start_fork_server
from grader.batch.progress import BatchProgress
from grader.batch.report import ClassSummary, write_class_report
from grader.batch.worker import Task, failure_record, grader_version
from grader.grade import warm_plotting
from grader.sandbox.runner import Limits

REGRADE_SINCE = "regrade_since"  # meta key: when an unfinished --regrade began


@dataclass
class BatchOptions:
    assignment: str
    submissions: Path
    gradebook: Path
    csv: Path
    feedback: Path
    report: Path
    jobs: int = 1
    cluster: str | None = None  # a Dask scheduler address
    regrade: bool = False
    strip_prefix: str | None = None
    plots: bool = True  # per-student plots in the feedback
    limits: Limits | None = None
    submission_timeout: float = DEFAULT_SUBMISSION_TIMEOUT


@dataclass
class BatchResult:
    found: int  # submissions in the folder
    graded: int  # graded in this run
    kept: int  # up to date from earlier runs
    unreadable: int  # graded in this run, but the submission could not be loaded (scored 0)
    failed: int  # the grader failed on them in this run: no score, retried next run
    absent: list[str] = field(default_factory=list)  # in the gradebook but not in the folder (kept)
    seconds: float = 0.0
    summary: ClassSummary | None = None


def needs_grading(known: Fingerprint | None, hash: str, version: str, regrade_since: str | None) -> bool:
    if known is None or known.state != GRADED:
        return True
    if (known.hash, known.grader_version) != (hash, version):
        return True
    return regrade_since is not None and known.graded_at < regrade_since


def run_batch(options: BatchOptions, stream: TextIO | None = None, live: bool | None = None) -> BatchResult:
    started = time.monotonic()
    if not options.cluster:
        start_fork_server(options.assignment)  # its imports overlap this process's own and the planning
    # This process mostly waits for the workers: the class report's plotting imports meanwhile.
    threading.Thread(target=warm_plotting, daemon=True).start()
    assignment = assignments.get(options.assignment)
    entries = discover(options.submissions, assignment.name, options.strip_prefix)
    version = grader_version(assignment.name)
    with exclusive(options.gradebook), Gradebook(options.gradebook) as book:
        if options.regrade and book.get_meta(assignment.name, REGRADE_SINCE) is None:
            book.set_meta(assignment.name, REGRADE_SINCE, now())  # kept until a run finishes: a killed regrade resumes
        regrade_since = book.get_meta(assignment.name, REGRADE_SINCE)
        known = book.fingerprints(assignment.name)
        tasks, unhashable = _plan(entries, assignment, version, known, regrade_since, options.plots)
        result = BatchResult(found=len(entries), graded=0, kept=len(entries) - len(tasks) - len(unhashable), unreadable=0, failed=0)
        result.absent = sorted(set(known) - {e.student for e in entries})

        progress = BatchProgress(len(tasks) + len(unhashable), stream, live)
        graded_now: set[str] = set()

        def land(record: dict) -> None:
            book.record(assignment.name, record)  # the student's rows, all at once
            graded_now.add(record["student"])
            result.graded += 1
            result.failed += record["state"] == FAILED
            result.unreadable += record["state"] == GRADED and bool(record["problem"])
            progress.advance(record)

        try:
            for record in unhashable:
                land(record)
            if tasks:
                executor = (
                    DaskCluster(options.cluster, assignment.name, options.limits)
                    if options.cluster
                    else LocalPool(assignment.name, min(options.jobs, len(tasks)), options.limits, options.submission_timeout)
                )
                with executor:
                    for record in executor.grade(tasks):
                        land(record)
        finally:
            progress.close()
        if not result.failed:  # reached only when every student has a grade from this run
            book.delete_meta(assignment.name, REGRADE_SINCE)
        book.drop_unused_blobs()

        write_csv(book, assignment.name, options.csv)
        write_feedback(book, assignment.name, options.feedback, only=graded_now)
        result.summary = write_class_report(book, assignment.name, assignment.title, options.report)
    result.seconds = time.monotonic() - started
    return result


def _plan(entries: list[Entry], assignment, version: str, known: dict[str, Fingerprint], regrade_since: str | None, plots: bool):
    """(tasks to grade, failure records for submissions that could not even be read)."""
    tasks, unhashable = [], []
    for entry in entries:
        try:
            hash = submission_hash(entry.path, assignment)
        except OSError as error:  # unreadable on disk: this student's failure, not the batch's
            task = Task(assignment.name, entry.student, entry.source, "", version, path=str(entry.path))
            unhashable.append(failure_record(task, f"could not read the submission ({error}); it will be tried again on the next run", None))
            continue
        if needs_grading(known.get(entry.student), hash, version, regrade_since):
            tasks.append(Task(assignment.name, entry.student, entry.source, hash, version, path=str(entry.path), plots=plots))
    return tasks, unhashable
