"""Grading one submission in a trusted worker process, with a sandbox kept warm.

A worker (a pool process on this machine, or a Dask worker anywhere) builds the
checks and runs the reference once, then keeps one sandbox ``Child`` started ahead
of need: right after each grade it starts the next, so the child's interpreter and
imports (torch, for descent) are ready by the time the next submission arrives.
Student code runs only in those children, never here; ``grade`` applies the same
checks and trust boundary as ``python -m grader grade``.

What goes back is a *record*: a plain dict that the batch's main process writes to
the gradebook (``Gradebook.record``).
"""

from __future__ import annotations

import hashlib
import importlib
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from grader import __version__, assignments
from grader.batch.gradebook import FAILED, GRADED
from grader.grade import grade, reference_outcomes
from grader.outputs.records import check_record, report_record
from grader.plugin import Assignment, Check
from grader.sandbox.runner import Child, Limits
from grader.scoring import GradeReport, unreadable


@dataclass(frozen=True)
class Task:
    """One submission to grade; plain data, so it can cross to a process or a machine."""

    assignment: str
    student: str
    source: str  # its entry in the class folder
    hash: str
    grader_version: str  # what the batch expects; a worker running other code refuses
    path: str = ""  # where it is, for a worker on this machine
    packed_name: str = ""  # or its bytes, for a worker that cannot see the class folder
    packed: bytes = b""
    plots: bool = True  # the assignment's per-student plots (seconds each, for descent)


@lru_cache(maxsize=None)
def grader_version(assignment_name: str) -> str:
    """The grader's version plus a fingerprint of the assignment's checks, probes and
    reference: fixing a check changes it, so the next batch regrades everyone."""
    package = Path(importlib.import_module(f"grader.assignments.{assignment_name}").__file__).parent
    reference = assignments.get(assignment_name).reference_dir
    digest = hashlib.sha256()
    for root in (package, reference):
        for source in sorted(root.rglob("*.py")):
            digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"


def record_from_report(task: Task, report: GradeReport, artifacts: dict[str, bytes]) -> dict:
    return {
        "student": task.student,
        "source": task.source,
        "hash": task.hash,
        "grader_version": task.grader_version,
        "state": GRADED,
        **report_record(report),
        "artifacts": artifacts,
    }


def failure_record(task: Task, reason: str, checks: list[Check] | None, seconds: float = 0.0) -> dict:
    """The grader (not the student) failed: no score, every check 'Not graded', retried next run."""
    results = [unreadable(check, reason) for check in checks or []]
    return {
        "student": task.student,
        "source": task.source,
        "hash": task.hash,
        "grader_version": task.grader_version,
        "state": FAILED,
        "score": None,
        "max_score": sum(r.max_score for r in results) if results else None,
        "seconds": seconds,
        "problem": reason,
        "notes": [],
        "checks": [check_record(r) for r in results],
    }


class WarmGrader:
    """Grades submissions of one assignment, one at a time, always with a sandbox ready."""

    def __init__(self, assignment_name: str, limits: Limits | None = None):
        self.assignment: Assignment = assignments.get(assignment_name)
        self.limits = limits
        self.version = grader_version(assignment_name)
        self.warm: Child | None = Child(self.assignment, limits)  # first: it starts (torch) while the reference runs here
        self.checks = self.assignment.checks()
        reference_outcomes(self.assignment, list({c.probe.key: c.probe for c in self.checks}.values()))  # once per worker

    def grade(self, task: Task) -> dict:
        started = time.perf_counter()
        if task.grader_version != self.version:
            reason = f"this worker runs grader {self.version} but the batch expects {task.grader_version}; install the same grader everywhere"
            return failure_record(task, reason, self.checks)
        with tempfile.TemporaryDirectory(prefix="grader-batch-") as scratch:
            path = Path(task.path)
            if task.packed_name:
                path = Path(scratch) / Path(task.packed_name).name
                path.write_bytes(task.packed)
            try:
                report = self._grade(path)
            except Exception as error:  # a grader bug: this student's failure, not the batch's
                record = failure_record(task, f"the grader failed on this submission ({type(error).__name__}: {error})", self.checks)
            else:
                if report.ungraded:  # the machine starved a probe: no grade this run, the next run tries again
                    record = failure_record(task, f"{report.problem.removesuffix('; try again')}; it will be graded again on the next run", self.checks)
                else:
                    record = record_from_report(task, report, {})
                    if task.plots:
                        self._add_plots(record, report, Path(scratch) / "plots")
        record["seconds"] = time.perf_counter() - started
        return record

    def _add_plots(self, record: dict, report: GradeReport, folder: Path) -> None:
        """A plot that cannot be made costs the student a plot, not their grade."""
        try:
            plots = self.assignment.artifacts(report, folder)
        except Exception as error:
            record["notes"].append(f"the plots could not be made ({type(error).__name__}: {error})")
            return
        record["artifacts"] = {p.name: p.read_bytes() for p in plots if p.is_file()}

    def _grade(self, path: Path) -> GradeReport:
        """Grade in the warm sandbox, starting the next one first: its interpreter and
        imports (torch) get ready while this submission is graded."""
        child, self.warm = self.warm, Child(self.assignment, self.limits)
        try:
            return grade(self.assignment, path, limits=self.limits, child=child)
        except BaseException:
            child.close()
            raise

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()
            self.warm = None


_graders: dict[tuple[str, Limits | None], WarmGrader] = {}
# One submission at a time per process (a Dask worker may run several threads): the
# sandbox's own time limits assume it has its share of the machine.
_one_at_a_time = threading.Lock()


def warm_grader(assignment_name: str, limits: Limits | None = None) -> WarmGrader:
    """This process's grader for the assignment, made on first use and kept."""
    with _one_at_a_time:
        key = (assignment_name, limits)
        if key not in _graders:
            _graders[key] = WarmGrader(assignment_name, limits)
        return _graders[key]


def grade_task(task: Task, limits: Limits | None = None) -> dict:
    """Grade one task in this process with its warm grader: what every worker runs."""
    grader = warm_grader(task.assignment, limits)
    with _one_at_a_time:
        return grader.grade(task)


def close_warm_graders() -> None:
    """Stop this process's waiting sandboxes (at the end of a batch)."""
    with _one_at_a_time:
        for grader in _graders.values():
            grader.close()
        _graders.clear()
