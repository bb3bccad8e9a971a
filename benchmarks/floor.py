"""The in-process floor: what grading costs with no isolation at all.

    .venv/bin/python benchmarks/floor.py ASSIGNMENT SUBMISSION...

In this one interpreter, for each submission: load it (notebooks included), import the
student's module the way the sandbox child does, run every probe on it, run the
reference (cached after the first, as a batch worker does) and judge and score every
check, as ``grader.grade.grade`` does; no sandbox, no plots. Prints the seconds of each
submission, and the CPU seconds of each phase over all but the first submission (which
pays this interpreter's imports, torch included), as one JSON object.
Benign submissions only: nothing here stops an endless loop or an ``os._exit``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def floor_seconds(name: str, submissions: list[Path]) -> tuple[list[float], dict[str, float]]:
    """Per-submission seconds of the floor, measured in a fresh interpreter, and CPU seconds per phase."""
    command = [sys.executable, __file__, name, *map(str, submissions)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the floor failed:\n{done.stderr[-3000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return measured["seconds"], measured["phases"]


class Phases:
    """CPU seconds of this process, summed per phase: ``with phases("load"): ...``."""

    def __init__(self):
        self.totals: Counter = Counter()

    @contextlib.contextmanager
    def __call__(self, name: str):
        started = time.process_time()
        try:
            yield
        finally:
            self.totals[name] += time.process_time() - started


def grade_in_process(assignment, checks, probes, path: Path, phases: Phases) -> list:
    """One submission's check results, its student code imported into this process."""
    import importlib

    from grader.grade import reference_outcomes
    from grader.plugin import Outcome
    from grader.sandbox.child import LoadError, Student, _StudentPackageAliases, describe
    from grader.scoring import score_check
    from grader.submission import load

    with tempfile.TemporaryDirectory() as scratch:
        with phases("load the submission (notebook parsing)"):
            submission = load(assignment, path, Path(scratch))
        for module in [m for m in sys.modules if m == submission.package or m.startswith(submission.package + ".")]:
            del sys.modules[module]  # the previous student's copy
        sys.path.insert(0, str(submission.root))
        layout = getattr(importlib.import_module(submission.package), "_GRADER_LAYOUT", {})
        aliases = _StudentPackageAliases(submission.package, layout)
        sys.meta_path.insert(0, aliases)
        try:
            with phases("the reference (cached after the first)"):
                reference = reference_outcomes(assignment, probes)  # first: it sets torch to one thread, as in the child
            student = Student({"modules": submission.modules, "missing": submission.missing, "files": submission.files})
            probe_module = importlib.import_module(assignment.probes)
            outcomes = {}
            for probe in probes:
                try:
                    with phases("import the student's module"):
                        for logical in probe.needs:
                            student.load(logical)
                    with phases(f"probe {probe.key}"):
                        value = getattr(probe_module, probe.function)(student.resolve, **probe.args)
                    with phases("answers through JSON"):
                        outcomes[probe.key] = Outcome("ok", value=json.loads(json.dumps(value)))
                except LoadError as error:
                    outcomes[probe.key] = Outcome("load_error", error=str(error))
                except Exception as error:  # a student failure, as in the sandbox
                    outcomes[probe.key] = Outcome("error", error=describe(error))
            sharing = Counter(check.probe.key for check in checks)
            with phases("judge and score"):
                return [score_check(c, outcomes[c.probe.key], reference[c.probe.key], sharing[c.probe.key]) for c in checks]
        finally:
            sys.path.remove(str(submission.root))
            sys.meta_path.remove(aliases)


def main(name: str, submissions: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from grader import assignments

    times, phases = [], Phases()
    for number, path in enumerate(submissions):
        if number == 1:
            phases.totals.clear()  # the first paid the imports
        started = time.perf_counter()
        with phases("build the checks"):
            assignment = assignments.get(name)
            checks = assignment.checks()
            probes = list({c.probe.key: c.probe for c in checks}.values())
        grade_in_process(assignment, checks, probes, Path(path), phases)
        times.append(time.perf_counter() - started)
    print(json.dumps({"seconds": times, "phases": dict(phases.totals)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
