"""One grade, end to end: load the submission, run its probes in the sandbox, run the
same probes on the reference in this process, judge and score."""

from __future__ import annotations

import importlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.plugin import Assignment, Outcome, Probe
from grader.sandbox.runner import Child, Limits, run_probes
from grader.scoring import GradeReport, score_check, unreadable
from grader.submission import SubmissionError, load


def grade(
    assignment: Assignment,
    path: Path,
    *,
    limits: Limits | None = None,
    artifacts_dir: Path | None = None,
    child: Child | None = None,
) -> GradeReport:
    """Grade one submission; plots go to ``artifacts_dir`` if given. ``child`` may be a
    pre-started sandbox for this assignment (batch runs keep them warm).

    Raises FileNotFoundError only for a path that does not exist: anything wrong
    inside the submission is a zero with a reason, not an exception."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no such submission: {path}")
    started = time.perf_counter()
    checks = assignment.checks()
    probes = list({check.probe.key: check.probe for check in checks}.values())
    child = child or Child(assignment, limits)
    try:
        submission = load(assignment, Path(path), child.scratch)
    except SubmissionError as error:
        child.close()
        return GradeReport(
            assignment=assignment.name,
            submission=str(path),
            results=[unreadable(check, str(error)) for check in checks],
            execution_time=time.perf_counter() - started,
            problem=str(error),
        )
    child.attach(submission)
    # The reference runs here while the child runs the student's code: the two overlap.
    with ThreadPoolExecutor(max_workers=1) as background:
        expected = background.submit(reference_outcomes, assignment, probes)
        outcomes, notes = run_probes(assignment, submission, probes, child, limits)
        reference = expected.result()
    results = [score_check(check, outcomes[check.probe.key], reference[check.probe.key]) for check in checks]
    report = GradeReport(
        assignment=assignment.name,
        submission=str(path),
        results=results,
        notes=submission.notes + notes,
        outcomes=outcomes,
        reference=reference,
    )
    if artifacts_dir is not None:
        report.artifacts = assignment.artifacts(report, Path(artifacts_dir))
    report.execution_time = time.perf_counter() - started
    return report


_reference_cache: dict[tuple[str, str], Outcome] = {}  # (assignment, probe key) -> outcome; batch runs reuse it
_reference_lock = threading.Lock()  # one reference run at a time, whichever thread asks


def reference_outcomes(assignment: Assignment, probes: list[Probe]) -> dict[str, Outcome]:
    """The reference's answers to the same probes, run here: the reference is trusted code.

    Values go through JSON exactly as student values do, so judges compare like with like.
    """
    probe_module = importlib.import_module(assignment.probes)

    def resolve(logical: str, name: str):
        stem = Path(assignment.modules[logical]).stem
        return getattr(importlib.import_module(f"reference.{assignment.name}.{stem}"), name)

    with _reference_lock:
        for probe in probes:
            if (assignment.name, probe.key) not in _reference_cache:
                value = getattr(probe_module, probe.function)(resolve, **probe.args)
                _reference_cache[assignment.name, probe.key] = Outcome("ok", value=json.loads(json.dumps(value)))
    return {probe.key: _reference_cache[assignment.name, probe.key] for probe in probes}
