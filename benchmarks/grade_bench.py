"""How long one grade takes, against the floor: starting Python and importing torch.

A script, not a test: this machine is shared and noisy, so every figure is a ratio to a
floor measured in the same run, and each is the median of several repeats.

    .venv/bin/python benchmarks/grade_bench.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import assignments  # noqa: E402


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    floor = median_seconds([sys.executable, "-c", "import torch"], args.repeats)
    print(f"floor: start Python and import torch = {floor:.2f} s (median of {args.repeats})")
    print(f"{'assignment':<10} {'submission':<12} {'seconds':>8} {'x floor':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in assignments.names():
            assignment = assignments.get(name)
            for label, path in (("reference", assignment.reference_dir), ("stubs", assignment.stub_dir)):
                command = [sys.executable, "-m", "grader", "grade", name, str(path), "--quiet", "--results", f"{scratch}/r.json"]
                seconds = median_seconds(command, args.repeats)
                print(f"{name:<10} {label:<12} {seconds:>8.2f} {seconds / floor:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
