"""One grade, end to end: load the submission, run its probes in the sandbox, run the
same probes on the reference in this process, judge and score."""

from __future__ import annotations

import importlib
import io
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import assignments
from grader.plugin import Assignment, Outcome, Probe
from grader.sandbox.runner import Child, Limits, run_probes
from grader.scoring import MACHINE_BUSY, GradeReport, score_check, unreadable
from grader.submission import SubmissionError, load


def start(name: str, limits: Limits | None = None) -> tuple[Assignment, Child]:
    """The assignment ``name``, validated, and a sandbox child started for it, child first:
    the child starts Python and imports the probes (torch, for descent) on one core while
    this process validates the assignment and imports its checks (torch too) on the other.
    ValueError for an unknown assignment."""
    child = Child(assignments.declared(name), limits)
    try:
        return assignments.get(name), child
    except BaseException:
        child.close()
        raise


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
        if child is not None:
            child.close()
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
        if artifacts_dir is not None and assignment.artifacts_from:
            background.submit(warm_plotting)  # so do the plots' imports and fonts
        outcomes, notes = run_probes(assignment, submission, probes, child, limits)
        reference = expected.result()
    sharing = Counter(check.probe.key for check in checks)
    results = [
        score_check(check, outcomes[check.probe.key], reference[check.probe.key], sharing[check.probe.key]) for check in checks
    ]
    report = GradeReport(
        assignment=assignment.name,
        submission=str(path),
        results=results,
        notes=submission.notes + notes,
        outcomes=outcomes,
        reference=reference,
    )
    if report.ungraded:  # never a zero for the machine's failure: the whole grade is to be tried again
        report.problem = MACHINE_BUSY
    if artifacts_dir is not None:
        report.artifacts = assignment.artifacts(report, Path(artifacts_dir))
    report.execution_time = time.perf_counter() - started
    return report


# (assignment, probe key, function) -> outcome; batch runs reuse it. The function tells a public probe from
# the guarded one under the same key (grader/variants.py).
_reference_cache: dict[tuple[str, str, str], Outcome] = {}
_reference_lock = threading.Lock()  # one reference run at a time, whichever thread asks


def reference_outcomes(assignment: Assignment, probes: list[Probe]) -> dict[str, Outcome]:
    """The reference's answers to the same probes, run here: the reference is trusted code.

    Values go through JSON exactly as student values do, so judges compare like with like.
    """
    if not assignment.has_reference():
        return stored_outcomes(assignment, probes)
    probe_module = importlib.import_module(assignment.probes)
    one_thread_for_torch()

    def resolve(logical: str, name: str):
        stem = Path(assignment.modules[logical]).stem
        return getattr(importlib.import_module(f"reference.{assignment.name}.{stem}"), name)

    with _reference_lock:
        for probe in probes:
            if (assignment.name, probe.key, probe.function) not in _reference_cache:
                value = getattr(probe_module, probe.function)(resolve, **probe.args)
                _reference_cache[assignment.name, probe.key, probe.function] = Outcome("ok", value=json.loads(json.dumps(value)))
    return {probe.key: _reference_cache[assignment.name, probe.key, probe.function] for probe in probes}


def warm_plotting() -> None:
    """Import matplotlib and load its fonts and mathtext, about a second that the first plot
    would otherwise pay after the probes; nothing is drawn to a file."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    axes = figure.add_subplot()
    axes.set_yscale("log")
    axes.set_title("warm")
    figure.savefig(io.BytesIO(), format="png")


def stored_outcomes(assignment: Assignment, probes: list[Probe]) -> dict[str, Outcome]:
    """The students' copy has no reference: its answers to the public probes, stored by `assign`."""
    stored = json.loads(assignment.expected_path.read_text(encoding="utf-8"))
    for probe in probes:
        entry = stored.get(probe.key) or {}
        if [entry.get("function"), entry.get("args")] != [probe.function, json.loads(json.dumps(probe.args))]:
            raise RuntimeError(f"grader bug: {assignment.expected_path} has no answer for probe {probe.key} as it is now (run `python -m grader assign`)")
    return {probe.key: Outcome("ok", value=stored[probe.key]["value"]) for probe in probes}


def one_thread_for_torch() -> None:
    """Compute as the sandbox child does (OMP_NUM_THREADS=1): torch's results can differ
    in the last digit with its thread count, and verdicts must not depend on the machine."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
