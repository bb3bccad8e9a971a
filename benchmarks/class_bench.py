"""A class in seconds? Every way of grading one class, timed in one run against two floors.

    nice -n 10 .venv/bin/python benchmarks/class_bench.py [--hostile fork_bomb,output_flood,exits]
        [--skip grade,dask,autodiff] [--write-docs]

The class: 20 descent notebooks, generated the way students hand them in. Correct ones
are the lecture's notebook around the reference, the example notebooks (the lecture
filled in, Colab, a function defined twice) and the correct example variants, each
written into the assignment's notebook; buggy ones are example mistakes, written the same
way (and one notebook whose last definition is wrong); hostile ones put an attack from
tests/hostile/ at the start of ``train_sgd`` (``--hostile`` picks them; ``sleeper`` and
``endless`` cost their probe's whole wall-clock backstop or CPU limit, by design).

What it times, in this order, each as a ratio to two floors measured in the same run:

* the torch-start floor: ``python -c "import torch"``, median of ``--repeats``;
* the in-process floor: the same probes and judges on the non-hostile submissions in
  one process, no isolation, no plots (``batch_bench.run_floor``; its first submission,
  which pays the imports, is left out of the mean);
* ``grader batch descent --jobs 2 --no-plots``, the same with plots, and ``--jobs 1``
  (2 jobs against 1 is the scaling figure);
* ``grader grade descent SUB`` once per submission;
* the same batch on a local Dask cluster (two worker processes, one thread each);
* autodiff: ``batch --jobs 2`` on a generated class, against its own in-process floor.

Each command's peak memory is that of its whole process tree (psutil, every 0.1 s, the
sum over the command and all its descendants; for Dask, the cluster's tree), as RSS and as
PSS: summed RSS counts the pages that forked processes share (torch's) once per process.
Verdicts (score and status of each check) of every way must agree with ``batch --jobs 2
--no-plots``; a disagreement is printed and makes the exit status 1.

A script, not a test: on a shared machine read the ratios, not the seconds.
``--write-docs`` puts the table of this run into docs/batch.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.batch_bench import make_class  # noqa: E402
from benchmarks.floor import floor_seconds  # noqa: E402
from examples.materialize import materialize  # noqa: E402
from grader import assignments  # noqa: E402

DOCS = ROOT / "docs" / "batch.md"
DOCS_BEGIN, DOCS_END = "<!-- class_bench: begin -->", "<!-- class_bench: end -->"

# The class: which examples, in which form.
NOTEBOOK_VARIANTS = ["nb_lecture_filled", "nb_colab", "nb_defined_twice"]  # example notebooks as they are
CORRECT_EDITS = [
    "enumerate_running_loss",
    "eval_mode_loops",
    "generic_train",
    "history_dict_prints",
    "manual_iterator",
    "train_one_epoch_helper",
    "whole_dataset",
]
BUGGY_NOTEBOOKS = ["nb_last_definition_wrong"]
BUGGY_EDITS = ["no_zero_grad", "step_before_backward", "loss_after_step", "loaders_drop_last", "valid_on_train_data"]

# Attacks from tests/hostile/, put at the start of train_sgd (indented into its body).
HOSTILE = {
    "fork_bomb": (  # fork_bomb_bounded: 500 sleeping processes, then a correct answer
        "import os, time\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(120)\n"
        "            os._exit(0)\n"
        "    except OSError:\n"
        "        break\n"
    ),
    "output_flood": (  # 100 MB of output, then a correct answer
        "import sys\n"
        "for _ in range(100 * 1024):\n"
        "    sys.stdout.write('x' * 1023 + '\\n')\n"
    ),
    "exits": "import os\nos._exit(3)\n",  # os_exit_in_function
    "sleeper": (  # hang_in_function: ignores SIGTERM and sleeps until the wall-clock backstop
        "import signal, time\n"
        "for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(sig, signal.SIG_IGN)\n"
        "while True:\n"
        "    time.sleep(1)\n"
    ),
    "endless": "while True:\n    pass\n",  # until train_sgd's CPU limit
}
ATTACKED = "def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):\n"


# ---- the class ----------------------------------------------------------------------


def as_notebook(descent_source: str) -> str:
    """``descent.py`` as the student's notebook: the lecture's notebook around it."""
    import nbformat

    return nbformat.writes(assignments.get("descent").build_notebook(descent_source)) + "\n"


def with_attack(source: str, attack: str) -> str:
    body = "".join("    " + line + "\n" for line in attack.splitlines())
    if source.count(ATTACKED) != 1:
        raise SystemExit("benchmark bug: train_sgd's signature changed in the reference")
    return source.replace(ATTACKED, ATTACKED + body)


def make_descent_class(folder: Path, hostile: list[str]) -> dict[str, str]:
    """Write 20 notebooks into ``folder`` (3 of them hostile unless told); returns student -> kind."""
    examples = {e.name: e for e in materialize("descent", folder.parent / "examples")}
    reference = (assignments.get("descent").reference_dir / "descent.py").read_text()
    from grader.authoring.stubs import BEGIN, END

    reference = "".join(line for line in reference.splitlines(keepends=True) if line.strip() not in (BEGIN, END))
    folder.mkdir(parents=True)
    kinds: dict[str, str] = {}

    def add(kind: str, name: str, notebook: str) -> None:
        student = f"s{len(kinds) + 1:02d}-{kind}-{name}"
        (folder / f"{student}.ipynb").write_text(notebook)
        kinds[student] = kind

    add("correct", "lecture_notebook", (assignments.get("descent").reference_dir / "descent.ipynb").read_text())
    correct = NOTEBOOK_VARIANTS + CORRECT_EDITS
    buggy = BUGGY_NOTEBOOKS + BUGGY_EDITS
    room = 20 - 1 - len(hostile) - len(buggy)
    for name in correct[:room]:
        path = examples[name].path
        add("correct", name, (path / "descent.ipynb").read_text() if name in NOTEBOOK_VARIANTS else as_notebook((path / "descent.py").read_text()))
    for name in buggy:
        path = examples[name].path
        add("buggy", name, (path / "descent.ipynb").read_text() if name in BUGGY_NOTEBOOKS else as_notebook((path / "descent.py").read_text()))
    for name in hostile:
        add("hostile", name, as_notebook(with_attack(reference, HOSTILE[name])))
    return kinds


# ---- measuring ----------------------------------------------------------------------


@dataclass
class Timed:
    wall: float
    peak_rss: int  # bytes, whole process tree
    peak_pss: int = 0  # the same with shared pages split among their processes
    returncode: int = 0
    stderr: str = ""


def tree_memory(root: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) summed over ``root`` and its descendants. Summed RSS counts a page that
    forked processes share once per process (torch's, in every sandbox); PSS splits it."""
    rss = pss = 0
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            full = member.memory_full_info()
        except psutil.Error:
            continue  # it ended between the listing and the reading
        rss += full.rss
        pss += getattr(full, "pss", full.rss)
    return rss, pss


class PeakTreeRSS:
    """Samples the tree under ``pid`` every 0.1 s while in its ``with`` block; ``.peak``
    and ``.peak_pss`` in bytes."""

    def __init__(self, pid: int):
        self.root, self.peak, self.peak_pss, self.stop = psutil.Process(pid), 0, 0, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            rss, pss = tree_memory(self.root)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            if self.stop.wait(0.1):
                return

    def __enter__(self) -> PeakTreeRSS:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def timed(command: list[str], extra_tree: int | None = None) -> Timed:
    """Run ``command``; its wall time and peak tree RSS (plus that of ``extra_tree``'s, e.g. a Dask cluster)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with PeakTreeRSS(process.pid) as mine, PeakTreeRSS(extra_tree or process.pid) as theirs:
        _, errors = process.communicate()
    wall = time.perf_counter() - started
    peak = mine.peak + (theirs.peak if extra_tree else 0)
    peak_pss = mine.peak_pss + (theirs.peak_pss if extra_tree else 0)
    return Timed(wall, peak, peak_pss, process.returncode, errors)


def torch_floor(repeats: int, code: str = "import torch") -> float:
    return statistics.median(timed([sys.executable, "-c", code]).wall for _ in range(repeats))


# The least a fresh process pays to run any training loop: torch's first optimizer step
# imports torch._dynamo, and Python's exit tears it down again.
ONE_STEP = "import torch; p = torch.zeros(1, requires_grad=True); o = torch.optim.SGD([p], lr=0.1); p.sum().backward(); o.step()"


@dataclass
class Batch:
    label: str
    timed: Timed
    count: int
    worker_seconds: dict[str, float]
    verdicts: dict[str, dict]  # student -> check name -> (score, status)
    scores: dict[str, float | None] = field(default_factory=dict)


def run_batch(label: str, name: str, folder: Path, out: Path, options: list[str], extra_tree: int | None = None) -> Batch:
    gradebook = out / f"{label.replace(' ', '_')}.db"
    command = [sys.executable, "-m", "grader", "batch", name, str(folder), "--gradebook", str(gradebook), "--plain", *options]
    result = timed(command, extra_tree)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{label} failed (status {result.returncode}):\n{result.stderr[-3000:]}")
    with sqlite3.connect(gradebook) as db:
        rows = list(db.execute("SELECT student, seconds, score FROM submissions"))
        verdicts: dict[str, dict] = {student: {} for student, _, _ in rows}
        for student, check, score, status in db.execute("SELECT student, name, score, status FROM checks"):
            verdicts[student][check] = (score, status)
    return Batch(label, result, len(rows), {s: sec for s, sec, _ in rows}, verdicts, {s: score for s, _, score in rows})


def grade_each(name: str, folder: Path, out: Path) -> tuple[dict[str, Timed], dict[str, dict]]:
    """``grader grade`` once per submission: times and verdicts."""
    times, verdicts = {}, {}
    for path in sorted(folder.iterdir()):
        student = path.name.removesuffix(".ipynb")
        results = out / f"grade-{student}.json"
        times[student] = timed([sys.executable, "-m", "grader", "grade", name, str(path), "--quiet", "--results", str(results)])
        if not results.exists():
            raise SystemExit(f"grade {student} wrote no results (status {times[student].returncode}):\n{times[student].stderr[-3000:]}")
        tests = json.loads(results.read_text())["tests"]
        verdicts[student] = {t["name"]: (float(t["score"]), t["status"]) for t in tests}
    return times, verdicts


def dask_batch(name: str, folder: Path, out: Path) -> Batch:
    """The batch on a local Dask cluster: two worker processes of one thread, started before the clock."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        return run_batch("dask", name, folder, out, ["--no-plots", "--cluster", cluster.scheduler_address], extra_tree=os.getpid())


def disagreements(label: str, got: dict[str, dict], expected: dict[str, dict]) -> list[str]:
    found = []
    for student, checks in sorted(expected.items()):
        mine = got.get(student)
        if mine is None:
            found.append(f"{label}: {student} missing")
            continue
        for check, verdict in checks.items():
            if mine.get(check) != verdict:
                found.append(f"{label}: {student} / {check}: {mine.get(check)} but batch --jobs 2 --no-plots says {verdict}")
    return found


# ---- reporting ----------------------------------------------------------------------


def mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def memory(timed: Timed) -> str:
    return f"{mb(timed.peak_rss)} / {mb(timed.peak_pss)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostile", default="fork_bomb,output_flood,exits", help=f"attacks among {', '.join(HOSTILE)}")
    parser.add_argument("--repeats", type=int, default=5, help="runs of `python -c 'import torch'`")
    parser.add_argument("--skip", default="", help="comma-separated: grade, dask, autodiff, jobs1, plots")
    parser.add_argument("--keep", type=Path, help="keep the class, gradebooks and results here")
    parser.add_argument("--write-docs", action="store_true", help="put this run's table into docs/batch.md")
    args = parser.parse_args()
    hostile = [h for h in args.hostile.split(",") if h]
    skip = set(args.skip.split(","))
    unknown = [h for h in hostile if h not in HOSTILE]
    if unknown:
        parser.error(f"unknown attacks: {unknown}")

    scratch = Path(tempfile.mkdtemp(prefix="class-bench-")) if args.keep is None else args.keep
    if args.keep is not None and scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        return measure(args, hostile, skip, scratch)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


def measure(args, hostile: list[str], skip: set[str], scratch: Path) -> int:
    kinds = make_descent_class(scratch / "class", hostile)
    benign = scratch / "benign"
    benign.mkdir()
    for student, kind in kinds.items():
        if kind != "hostile":
            shutil.copy(scratch / "class" / f"{student}.ipynb", benign)  # a copy: the grader refuses links
    n = len(kinds)
    counts = {k: list(kinds.values()).count(k) for k in dict.fromkeys(kinds.values())}
    load = os.getloadavg()[0]
    print(f"descent: {n} notebooks ({', '.join(f'{v} {k}' for k, v in counts.items())}; attacks: {', '.join(hostile) or 'none'})")
    print(f"{os.cpu_count()} cores, load average {load:.1f} at the start, Python {platform.python_version()}")

    rows: list[tuple[str, float, float, Timed | None]] = []  # what, total wall, per submission, its peak memory
    floor_torch = torch_floor(args.repeats)
    rows.append(('`python -c "import torch"`', floor_torch, floor_torch, None))
    print(f"torch-start floor: {floor_torch:.2f} s (median of {args.repeats})")
    one_step = torch_floor(args.repeats, ONE_STEP)
    rows.append(("`python -c` importing torch and taking one SGD step", one_step, one_step, None))
    print(f"one-step floor: {one_step:.2f} s (median of {args.repeats})")

    floor, phases = floor_seconds("descent", sorted(benign.iterdir()))
    per_floor = statistics.fmean(floor[1:] or floor)
    rows.append((f"the {len(assignments.get('descent').checks())} descent checks in one process, no isolation, no plots", per_floor * n, per_floor, None))
    print(f"in-process floor: {per_floor:.2f} s per submission (mean of {len(floor) - 1}; the first, with imports: {floor[0]:.2f} s)")
    breakdown = phase_table(phases, len(floor) - 1)
    print(breakdown)

    batches = [run_batch("batch --jobs 2 --no-plots", "descent", scratch / "class", scratch, ["--jobs", "2", "--no-plots"])]
    if "plots" not in skip:
        batches.append(run_batch("batch --jobs 2", "descent", scratch / "class", scratch, ["--jobs", "2"]))
    if "jobs1" not in skip:
        batches.append(run_batch("batch --jobs 1 --no-plots", "descent", scratch / "class", scratch, ["--jobs", "1", "--no-plots"]))
    if "dask" not in skip:
        batches.append(dask_batch("descent", scratch / "class", scratch))
    reference = batches[0].verdicts
    problems = []
    for batch in batches:
        rows.append((f"`grader {batch.label}`" if batch.label != "dask" else "`grader batch --cluster` (local Dask, 2 workers)", batch.timed.wall, batch.timed.wall / batch.count, batch.timed))
        problems += disagreements(batch.label, batch.verdicts, reference)

    grades: dict[str, Timed] = {}
    if "grade" not in skip:
        grades, verdicts = grade_each("descent", scratch / "class", scratch)
        total = sum(t.wall for t in grades.values())
        rows.append(("`grader grade`, once per notebook", total, total / n, max(grades.values(), key=lambda t: t.peak_pss)))
        problems += disagreements("grade", verdicts, reference)

    print()
    print(f"{'per submission':<34} {'kind':<8} {'floor':>6} {'batch j2':>8} {'plots':>6} {'j1':>6} {'grade':>6} {'grade RSS / PSS':>22}  score")
    seconds = {b.label: b.worker_seconds for b in batches}
    for student, kind in kinds.items():
        floor_of = floor[sorted(s for s, k in kinds.items() if k != "hostile").index(student)] if kind != "hostile" else None
        cells = [f"{floor_of:.2f}" if floor_of is not None else "-"]
        for label in ("batch --jobs 2 --no-plots", "batch --jobs 2", "batch --jobs 1 --no-plots"):
            cells.append(f"{seconds[label][student]:.2f}" if label in seconds and student in seconds[label] else "-")
        g = grades.get(student)
        cells += [f"{g.wall:.2f}" if g else "-", memory(g) if g else "-"]
        widths = (6, 8, 6, 6, 6, 22)
        print(f"{student:<34} {kind:<8} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths)) + f"  {batches[0].scores.get(student)}")
    print("(batch columns: seconds in the worker, from the gradebook; grade: wall time of the whole command)")

    if "autodiff" not in skip:
        rows += autodiff_rows(scratch / "autodiff", floor_torch)

    table = markdown_table(rows, floor_torch, per_floor)
    scaling = ""
    walls = {b.label: b.timed.wall for b in batches}
    if "batch --jobs 1 --no-plots" in walls:
        scaling = f"2 jobs against 1 (no plots): {walls['batch --jobs 1 --no-plots'] / walls['batch --jobs 2 --no-plots']:.2f}x faster."
    print()
    print(table)
    print(scaling)
    for problem in problems:
        print("VERDICTS DIFFER:", problem)
    if not problems:
        print(f"Verdicts: every way agrees with batch --jobs 2 --no-plots on all {n} submissions.")
    if args.write_docs:
        write_docs(table, scaling, breakdown, counts, hostile, load)
        print(f"written into {DOCS.relative_to(ROOT)}")
    return 1 if problems else 0


def autodiff_rows(scratch: Path, floor_torch: float) -> list[tuple[str, float, float, int | None]]:
    """autodiff's batch --jobs 2 against its own in-process floor (20 folders, 2 hostile)."""
    scratch.mkdir()
    kinds = make_class("autodiff", 20, 2, scratch / "class")
    benign = sorted(scratch / "class" / s for s, k in kinds.items() if k in ("correct", "buggy"))
    floor, _ = floor_seconds("autodiff", benign)
    per_floor = statistics.fmean(floor[1:] or floor)
    batch = run_batch("autodiff batch --jobs 2", "autodiff", scratch / "class", scratch, ["--jobs", "2"])
    per = batch.timed.wall / batch.count
    print(
        f"autodiff, 20 folders (2 hostile): floor {per_floor * 1000:.0f} ms per submission; batch --jobs 2 "
        f"{per:.2f} s per submission ({per / per_floor:.1f}x floor, whole batch {batch.timed.wall / floor_torch:.1f}x torch start), peak {memory(batch.timed)}"
    )
    return [
        ("autodiff: its checks in one process, no isolation", per_floor * 20, per_floor, None),
        ("autodiff: `grader batch --jobs 2`", batch.timed.wall, per, batch.timed),
    ]


def markdown_table(rows, floor_torch: float, per_floor: float) -> str:
    lines = [
        "| | total | per submission | x in-process floor | x torch start | peak tree memory, RSS / PSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    autodiff_floor = next((per for what, _, per, _ in rows if what.startswith("autodiff: its checks")), None)
    for what, total, per, peak in rows:
        base = autodiff_floor if what.startswith("autodiff") else per_floor
        ratio_floor = f"{per / base:.1f}x" if not what.startswith("`python") else ""
        # one grade against one torch start; a whole batch's wall against one torch start
        ratio_torch = f"{(per if what.startswith(('`grader grade`', '`python')) else total) / floor_torch:.1f}x"
        if "one process" in what:
            ratio_torch = ""
        lines.append(f"| {what} | {total:.1f} s | {per:.2f} s | {ratio_floor} | {ratio_torch} | {memory(peak) if peak else ''} |")
    return "\n".join(lines)


def phase_table(phases: dict[str, float], count: int) -> str:
    """The in-process floor's CPU per submission, by phase, largest first."""
    lines = ["| in-process floor, per submission | CPU |", "| --- | ---: |"]
    for phase, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        lines.append(f"| {phase} | {seconds / max(count, 1):.3f} s |")
    return "\n".join(lines)


def write_docs(table: str, scaling: str, breakdown: str, counts: dict, hostile: list[str], load: float) -> None:
    text = DOCS.read_text()
    if DOCS_BEGIN not in text or DOCS_END not in text:
        raise SystemExit(f"{DOCS} has no {DOCS_BEGIN} ... {DOCS_END} section to fill")
    head, rest = text.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    what = ", ".join(f"{v} {k}" for k, v in counts.items())
    body = (
        f"\nOne run of `benchmarks/class_bench.py` on {os.cpu_count()} cores (load average {load:.1f} at the start), "
        f"on {sum(counts.values())} descent notebooks ({what}; attacks: {', '.join(hostile) or 'none'}). "
        "\"x torch start\" is the whole batch's wall time, or one `grade`, against one `python -c \"import torch\"`.\n\n"
        f"{table}\n\n{scaling}\n\n{breakdown}\n"
    )
    DOCS.write_text(head + DOCS_BEGIN + body + DOCS_END + tail)


if __name__ == "__main__":
    raise SystemExit(main())
