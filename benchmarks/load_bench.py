"""Do verdicts depend on the machine's load? Grade every example twice and count the differences.

A script, not a test: it grades every example under ``examples/`` (and each assignment's
reference) on the machine as it is, then again with CPU-bound background load: four
busy Python processes per core, not niced, as a machine busy with other work is. Time
limits count the student's CPU time, so the two runs must give the same verdict on
every check and the same points: the number of differences must be 0 (exit status 1
otherwise). A check either run could not grade ("ungraded", the machine's failure) is
counted apart: it is not a verdict, but at this load it should not happen either.
The grader's messages that differ are listed too (the student's own printed output
aside): they should not depend on the run either.

    .venv/bin/python benchmarks/load_bench.py [--assignment NAME ...] [--per-core N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.materialize import EXAMPLES, materialize  # noqa: E402
from grader import assignments  # noqa: E402
from grader.grade import grade  # noqa: E402

PRINTED = "\nYour code printed:\n"  # scoring appends the student's own output after this
Verdicts = dict[tuple[str, str], tuple[bool, float, bool, str]]  # (submission, check) -> (passed, points, ungraded, message)


def submissions(scratch: Path, names: list[str]) -> list[tuple[str, str, Path]]:
    """(assignment, label, folder) for each reference and each example."""
    found = []
    for name in names:
        found.append((name, "reference", assignments.get(name).reference_dir))
        if (EXAMPLES / name).is_dir():
            found += [(name, f"{e.kind}/{e.name}", e.path) for e in materialize(name, scratch / name)]
    return found


def grade_all(items: list[tuple[str, str, Path]]) -> tuple[Verdicts, float]:
    verdicts: Verdicts = {}
    started = time.monotonic()
    for name, label, path in items:
        report = grade(assignments.get(name), path)
        for result in report.results:
            message = result.output.split(PRINTED)[0]  # what the student's code printed (tqdm's rates) may differ
            verdicts[f"{name} {label}", result.name] = (result.status == "passed", result.score, result.ungraded, message)
    return verdicts, time.monotonic() - started


def source_fingerprint() -> str:
    """The grader's and the references' code: the sandbox child reads it from disk, so an
    edit between the two runs (a shared working tree) would show up as differences."""
    digest = hashlib.sha256()
    for folder in ("grader", "reference"):
        for source in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(source).encode() + source.read_bytes())
    return digest.hexdigest()[:12]


def busy_processes(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", help="only these assignments (default: all)")
    parser.add_argument("--per-core", type=int, default=4, help="busy processes per core in the loaded run")
    args = parser.parse_args()
    names = args.assignment or list(assignments.names())
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="load-bench-") as scratch:
        items = submissions(Path(scratch), names)
        before = source_fingerprint()
        print(f"{len(items)} submissions ({', '.join(names)}), {cores} cores")
        quiet, quiet_seconds = grade_all(items)
        print(f"quiet run: {len(quiet)} checks in {quiet_seconds:.0f} s")
        load = busy_processes(args.per_core * cores)
        try:
            loaded, loaded_seconds = grade_all(items)
        finally:
            for process in load:
                process.kill()
                process.wait()
        print(f"loaded run ({len(load)} busy processes): {len(loaded)} checks in {loaded_seconds:.0f} s")
        if source_fingerprint() != before:
            print("WARNING: the grader's or the references' code changed during the runs; differences may come from that")

    keys = sorted(set(quiet) | set(loaded))
    missing = [k for k in keys if k not in quiet or k not in loaded]
    ungraded = [k for k in keys if k not in missing and (quiet[k][2] or loaded[k][2])]
    verdicts = [k for k in keys if k not in missing and k not in ungraded and quiet[k][0] != loaded[k][0]]
    points = [k for k in keys if k not in missing and k not in ungraded and quiet[k][1] != loaded[k][1]]
    messages = [k for k in keys if k not in missing and k not in ungraded and quiet[k][3] != loaded[k][3]]
    totals = {}
    for (submission, _), (_, score, _, _) in quiet.items():
        totals.setdefault(submission, [0.0, 0.0])[0] += score
    for (submission, _), (_, score, _, _) in loaded.items():
        totals.setdefault(submission, [0.0, 0.0])[1] += score
    scores = sorted(s for s, (a, b) in totals.items() if round(a, 6) != round(b, 6))

    print(f"checks compared: {len(keys) - len(missing)}")
    print(f"verdicts (pass/fail) that differ: {len(verdicts)}")
    print(f"check points that differ: {len(points)}")
    print(f"submission scores that differ: {len(scores)}")
    print(f"checks ungraded in either run (the machine's failure, no verdict): {len(ungraded)}")
    print(f"checks missing from one run: {len(missing)}")
    print(f"messages that differ: {len(messages)}")
    for label, found in (("verdict", verdicts), ("points", points), ("ungraded", ungraded), ("missing", missing), ("message", messages)):
        for submission, check in found:
            print(f"  {label}: {submission} / {check}")
            if label == "message":
                print(f"    quiet:  {quiet[submission, check][3]!r}\n    loaded: {loaded[submission, check][3]!r}")
    return 1 if verdicts or points or scores or missing or ungraded else 0


if __name__ == "__main__":
    sys.exit(main())
