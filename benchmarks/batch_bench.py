"""Batch grading throughput against the floor: the same checks in one process, no isolation.

    .venv/bin/python benchmarks/batch_bench.py [--assignment autodiff] [-n 24] [--jobs 1,2] [--no-plots]

Generates N submissions: correct ones (the reference, each with its own comment so
each has its own hash), buggy ones (the assignment's example mistakes, else its
stubs) and a few hostile ones (an endless loop, os._exit and a 64 GB allocation, each
at import). Then measures:

* the floor (benchmarks/floor.py): in one fresh interpreter, for each non-hostile
  submission, load it, run every probe in-process on the student's code and judge it,
  with no sandbox at all (and no plots: compare with ``--no-plots`` for an assignment
  that makes them);
* the batch on the non-hostile submissions with one worker, as a ratio to the floor
  (what isolation, warm sandboxes and the gradebook cost per submission);
* the batch on the whole mix with each --jobs: submissions per second, and peak memory
  (the sum of RSS over the batch's process tree, sampled, and the largest process).

A script, not a test: the machine is shared and noisy, so read ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.floor import floor_seconds  # noqa: E402
from grader import assignments  # noqa: E402

HOSTILE = {
    "endless": "while True:\n    pass\n",
    "exits": "import os\nos._exit(3)\n",
    "hoards": "hoard = bytearray(64 << 30)\n",
}


# ---- the class ----------------------------------------------------------------------


def buggy_sources(name: str, scratch: Path) -> list[Path]:
    """The assignment's example mistakes if it has any, else its stubs."""
    if (ROOT / "examples" / name / "mistakes").is_dir():
        from examples.materialize import materialize

        found = [e.path for e in materialize(name, scratch / "examples") if e.kind == "mistakes"]
        if found:
            return found
    return [assignments.get(name).stub_dir]


def make_class(name: str, count: int, hostile: int, folder: Path) -> dict[str, str]:
    """Write ``count`` submissions into ``folder``; returns student -> kind."""
    assignment = assignments.get(name)
    first_module = next(iter(assignment.modules.values()))
    buggy = buggy_sources(name, folder.parent)
    kinds: dict[str, str] = {}
    for index in range(count):
        student = f"student{index:04d}"
        target = folder / student
        if index < hostile:
            kind = list(HOSTILE)[index % len(HOSTILE)]
            shutil.copytree(assignment.reference_dir, target)
            module = target / first_module
            module.write_text(module.read_text() + "\n" + HOSTILE[kind])  # after any __future__ import
        elif index % 3 == 2:
            kind = "buggy"
            shutil.copytree(buggy[index % len(buggy)], target)
        else:
            kind = "correct"
            shutil.copytree(assignment.reference_dir, target)
            (target / first_module).write_text((target / first_module).read_text() + f"\n# {student}\n")
        kinds[student] = kind
    return kinds


# ---- the batch ----------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    """Bytes of resident memory of ``pid`` and all its descendants."""
    from grader.sandbox.reaper import descendants

    total = 0
    for member in descendants(pid) | {pid}:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_batch(name: str, folder: Path, jobs: int, out: Path, options: list[str]) -> dict:
    gradebook = out / f"grades-{folder.name}-{jobs}.db"
    command = [sys.executable, "-m", "grader", "batch", name, str(folder), "--gradebook", str(gradebook), "--jobs", str(jobs), "--plain", *options]
    peak, stop = [0], threading.Event()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def sample():
        while not stop.wait(0.1):
            peak[0] = max(peak[0], tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, errors = process.communicate()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"the batch failed:\n{errors}")
    with sqlite3.connect(gradebook) as db:
        seconds = [row[0] for row in db.execute("SELECT seconds FROM submissions")]
    return {"wall": wall, "count": len(seconds), "worker_seconds": seconds, "peak_tree_rss": peak[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="autodiff", choices=assignments.names())
    parser.add_argument("-n", type=int, default=24, help="submissions in the class")
    parser.add_argument("--hostile", type=int, default=3, help="how many of them are hostile")
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--no-plots", action="store_true", help="grade without per-student plots (the floor makes none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch:
        scratch = Path(scratch)
        kinds = make_class(args.assignment, args.n, args.hostile, scratch / "class")
        benign = scratch / "benign"
        benign.mkdir()
        for student, kind in kinds.items():
            if kind in ("correct", "buggy"):
                (benign / student).symlink_to(scratch / "class" / student)
        counts = {k: list(kinds.values()).count(k) for k in dict.fromkeys(kinds.values())}
        print(f"{args.assignment}: {args.n} submissions ({', '.join(f'{v} {k}' for k, v in counts.items())}) on {os.cpu_count()} cores")

        floor, _ = floor_seconds(args.assignment, sorted(benign.iterdir()))
        per_floor = statistics.fmean(floor[1:] or floor)  # the first pays the floor's own imports
        print(f"floor (in-process, no isolation): {per_floor * 1000:.0f} ms per submission, over {len(floor)} non-hostile submissions")

        options = ["--no-plots"] if args.no_plots else []
        alone = run_batch(args.assignment, benign, 1, scratch, options)
        per_batch = alone["wall"] / alone["count"]
        per_worker = statistics.median(alone["worker_seconds"])
        print(
            f"batch, non-hostile, --jobs 1: {per_batch:.2f} s per submission wall ({per_batch / per_floor:.1f}x floor, "
            f"{(per_batch - per_floor) * 1000:.0f} ms overhead each, start-up and exports included); "
            f"median grade in the worker {per_worker:.2f} s ({per_worker / per_floor:.1f}x floor)"
        )
        print(f"{'jobs':>4} {'subs/s':>7} {'s/sub':>6} {'x floor':>8} {'peak RSS, tree':>15} {'largest process':>16}")
        for jobs in [int(j) for j in args.jobs.split(",")]:
            result = run_batch(args.assignment, scratch / "class", jobs, scratch, options)
            largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            per = result["wall"] / result["count"]
            print(
                f"{jobs:>4} {result['count'] / result['wall']:>7.2f} {per:>6.2f} {per / per_floor:>8.1f} "
                f"{result['peak_tree_rss'] / 2**20:>12.0f} MB {largest / 2**20:>13.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
