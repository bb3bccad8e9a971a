"""Batch grading of a whole class: discovery, the gradebook, resuming, exports, workers, Dask.

One small autodiff class is graded once per session (``graded_class``); tests that
change things work on their own copy of it and of its gradebook.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, read_results
from grader import assignments
from grader.batch.contents import pack, submission_hash
from grader.batch.discover import DiscoveryError, discover
from grader.batch.gradebook import Gradebook
from grader.batch.pool import LocalPool
from grader.batch.progress import BatchProgress
from grader.batch.worker import Task, close_warm_graders, grade_task, grader_version
from grader.cli import main

AUTODIFF = assignments.get("autodiff")
REFERENCE = ROOT / "reference" / "autodiff"
STUBS = ROOT / "assignments" / "autodiff"
CHECKS = [c.name for c in AUTODIFF.checks()]


# ---- a class of seven ---------------------------------------------------------------


def _edited_reference(target: Path, file: str, old: str, new: str) -> Path:
    shutil.copytree(REFERENCE, target)
    source = (target / file).read_text()
    assert old in source, f"{old!r} is not in the reference's {file}"
    (target / file).write_text(source.replace(old, new))
    return target


def make_class(folder: Path) -> Path:
    """alice: reference; bob: the stubs; carol: a known mistake; dan: a notebook; erin: a zip;
    frank: a broken zip; mallory: hostile (an endless loop in one method, os._exit on import of nn.py)."""
    folder.mkdir(parents=True)
    shutil.copytree(REFERENCE, folder / "alice")
    shutil.copytree(STUBS, folder / "bob")
    _edited_reference(folder / "carol", "matrix.py", "result.grad.vals[0][0] / n)", "result.grad.vals[0][0])")
    cells = [
        nbformat.v4.new_code_cell(re.sub(r"^from \.\w+ import .*$", "", (REFERENCE / f"{m}.py").read_text(), flags=re.M))
        for m in ("list2d", "matrix", "nn")
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(folder / "dan.ipynb"))
    with zipfile.ZipFile(folder / "erin.zip", "w") as archive:
        for file in sorted(REFERENCE.glob("*.py")):
            archive.write(file, f"homework/{file.name}")
    (folder / "frank.zip").write_bytes(b"this is not a zip file")
    hostile = _edited_reference(folder / "mallory", "list2d.py", "        return self.abs()\n", "        while True:\n            pass\n")
    (hostile / "nn.py").write_text((hostile / "nn.py").read_text() + "\nimport os\nos._exit(3)\n")
    return folder


def batch(*args) -> tuple[int, str]:
    """``python -m grader batch ARGS`` in this process; (exit code, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["batch", *map(str, args)])
    return code, out.getvalue()


def rows(gradebook: Path) -> dict[str, dict]:
    with Gradebook(gradebook) as book:
        return {r["student"]: dict(r) for r in book.submissions("autodiff")}


def check_rows(gradebook: Path, student: str) -> list[dict]:
    with Gradebook(gradebook) as book:
        return [dict(r) for r in book.checks("autodiff", student)]


def copy_gradebook(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as old, sqlite3.connect(target) as new:
        old.backup(new)
    return target


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """The class graded once with two workers: (class folder, gradebook, what the batch printed)."""
    root = tmp_path_factory.mktemp("batch")
    folder = make_class(root / "class")
    code, printed = batch("autodiff", folder, "--gradebook", root / "grades.db", "--jobs", 2)
    assert code == 0, printed
    return folder, root / "grades.db", printed


@pytest.fixture
def class_copy(graded_class, tmp_path):
    """A copy of the graded class and its gradebook, for tests that change things."""
    folder, gradebook, _ = graded_class
    shutil.copytree(folder, tmp_path / "class")
    return tmp_path / "class", copy_gradebook(gradebook, tmp_path / "grades.db")


# ---- discovery ----------------------------------------------------------------------


def test_discovery_names_students_after_their_folders_notebooks_and_zips(tmp_path):
    for name in ("alice", "bob.zip", "carol.ipynb", "notes.txt", ".hidden", "__MACOSX"):
        (tmp_path / name).mkdir() if "." not in name or name.startswith((".", "_")) else (tmp_path / name).write_text("x")
    found = discover(tmp_path, "autodiff")
    assert [(e.student, e.source) for e in found] == [("alice", "alice"), ("bob", "bob.zip"), ("carol", "carol.ipynb")]


def test_discovery_drops_the_classroom_prefix_and_maps_the_roster(tmp_path):
    clone = tmp_path / "autodiff-hw-submissions"  # what `gh classroom clone student-repos` makes
    for name in ("autodiff-hw-octocat", "autodiff-hw-jo-anne"):
        (clone / name).mkdir(parents=True)
    (tmp_path / "classroom_roster.csv").write_text('"identifier","github_username","github_id","name"\n"s123","octocat","1",""\n')
    assert [e.student for e in discover(clone, "autodiff")] == ["jo-anne", "s123"]


def test_discovery_finds_the_slug_of_cloned_repositories(tmp_path):
    for name in ("hw1-ann", "hw1-bo"):
        (tmp_path / name / ".git").mkdir(parents=True)
    assert [e.student for e in discover(tmp_path, "autodiff")] == ["ann", "bo"]
    (tmp_path / "plain").mkdir()  # not a clone: names are kept as they are
    assert [e.student for e in discover(tmp_path, "autodiff")] == ["hw1-ann", "hw1-bo", "plain"]


def test_discovery_reads_gradescope_export_metadata_with_group_members(tmp_path):
    for name in ("submission_101", "submission_102"):
        (tmp_path / name).mkdir()
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_101:\n  :submitters:\n  - :name: Ann Lee\n    :sid: '7'\n    :email: ann@uni.edu\n"
        "  - :name: Bo Ng\n    :sid: '8'\n    :email: bo@uni.edu\n  :created_at: 2024-01-01\n"
        "submission_102:\n  :submitters:\n  - :name: Cy\n    :sid: '9'\n"
    )
    found = discover(tmp_path, "autodiff")
    assert [(e.student, e.source) for e in found] == [("9", "submission_102"), ("ann@uni.edu", "submission_101"), ("bo@uni.edu", "submission_101")]


def test_two_submissions_of_one_student_are_refused_not_guessed(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice.zip").write_bytes(b"")
    with pytest.raises(DiscoveryError, match="alice: alice and alice.zip"):
        discover(tmp_path, "autodiff")


def test_hash_follows_the_files_that_count_and_never_opens_a_fifo(tmp_path):
    folder = shutil.copytree(REFERENCE, tmp_path / "alice")
    before = submission_hash(folder, AUTODIFF)
    (folder / "README.md").write_text("notes")
    (folder / ".git").mkdir()
    assert submission_hash(folder, AUTODIFF) == before
    (folder / "nn.py").write_text((folder / "nn.py").read_text() + "\n# edited\n")
    assert submission_hash(folder, AUTODIFF) != before
    (folder / "matrix.py").unlink()
    os.mkfifo(folder / "matrix.py")  # opening it would block forever
    submission_hash(folder, AUTODIFF)
    name, data = pack(folder, AUTODIFF)
    members = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert name == "alice.zip" and "alice/nn.py" in members and "alice/matrix.py" not in members


# ---- the graded class ---------------------------------------------------------------


def test_every_student_has_one_row_per_check_and_the_right_score(graded_class):
    _, gradebook, _ = graded_class
    found = rows(gradebook)
    assert {s: (r["state"], r["score"]) for s, r in found.items()} == {
        "alice": ("graded", 100),
        "bob": ("graded", 0),
        "carol": ("graded", found["carol"]["score"]),
        "dan": ("graded", 100),
        "erin": ("graded", 100),
        "frank": ("graded", 0),
        "mallory": ("graded", found["mallory"]["score"]),
    }
    assert 0 < found["carol"]["score"] < 100 and 0 < found["mallory"]["score"] < 100
    version = grader_version("autodiff")
    for student, row in found.items():
        assert row["max_score"] == 100 and row["grader_version"] == version and len(row["hash"]) == 64
        assert [c["name"] for c in check_rows(gradebook, student)] == CHECKS
    assert "frank.zip is not a readable zip file" in found["frank"]["problem"]
    carol = check_rows(gradebook, "carol")
    assert {c["name"].split(":")[0] for c in carol if c["status"] == "failed"} == {"Matrix.mean"}
    assert any(c["mistake"] == "mean-grad-not-divided" and c["hint"] for c in carol)


def test_a_hostile_submission_loses_only_its_own_points(graded_class):
    _, gradebook, _ = graded_class
    mallory = {c["name"]: c for c in check_rows(gradebook, "mallory")}
    lost = {name for name, c in mallory.items() if c["status"] == "failed"}
    endless = "List2D.__abs__: values, 3x4 input"
    needs_nn = {c.name for c in AUTODIFF.checks() if "nn" in c.probe.needs}
    assert endless in lost and "did not finish within" in mallory[endless]["output"]
    assert lost - {endless} == needs_nn  # nn.py exits on import: exactly the checks that need it
    alice = check_rows(gradebook, "alice")
    assert all(c["status"] == "passed" for c in alice)


def test_progress_prints_one_plain_line_per_submission_outside_a_terminal(graded_class):
    _, _, printed = graded_class
    lines = [line for line in printed.splitlines() if line.startswith("[")]
    assert len(lines) == 7
    assert all(re.search(r"\| \d+\.\d\d/s, ETA (\d+ s|\?), \d+ failed$", line) for line in lines), lines
    assert "7 graded now, 0 unchanged" in printed


def test_progress_bar_on_a_terminal_shows_rate_and_failures():
    screen = io.StringIO()
    progress = BatchProgress(2, screen, live=True)
    record = {"student": "x[bold]", "state": "failed", "problem": "worker died", "score": None, "max_score": None, "seconds": 1.0}
    progress.advance(record)
    progress.advance({**record, "state": "graded", "problem": "", "score": 5, "max_score": 10})
    progress.close()
    assert "2/2" in screen.getvalue() and "1 failed" in screen.getvalue() and "x[bold]" in screen.getvalue()


def test_progress_keeps_grading_when_its_log_reader_goes_away():
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    progress = BatchProgress(2, ClosedPipe(), live=False)
    record = {"student": "a", "state": "graded", "problem": "", "score": 1, "max_score": 1, "seconds": 0.1}
    progress.advance(record)
    progress.advance(record)
    assert progress.done == 2


def test_csv_has_student_score_max_score_then_one_column_per_check(graded_class):
    _, gradebook, _ = graded_class
    with gradebook.with_name(f"{gradebook.stem}-checks.csv").open(newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["student", "score", "max_score", *CHECKS]
    by_student = {row[0]: row for row in table[1:]}
    assert sorted(by_student) == ["alice", "bob", "carol", "dan", "erin", "frank", "mallory"]
    assert by_student["alice"][1:3] == ["100", "100"] and by_student["bob"][1] == "0"
    carol = by_student["carol"]
    assert float(carol[1]) == sum(float(v) for v in carol[3:])


def test_feedback_for_every_student_is_gradescope_results_and_html(graded_class):
    _, gradebook, _ = graded_class
    feedback = gradebook.parent / "grades-feedback"
    for student, row in rows(gradebook).items():
        results = read_results(feedback / student / "results.json")
        assert results["score"] == row["score"]
        page = (feedback / student / "report.html").read_text()
        assert f"{row['score']:g} / 100" in page
    assert "Hint:" in json.dumps(read_results(feedback / "carol" / "results.json"))


def test_class_report_has_its_three_plots_and_names_the_common_mistake(graded_class):
    _, gradebook, _ = graded_class
    page = (gradebook.parent / "grades-report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "mean-grad-not-divided" in page
    assert "frank" in page and "not a readable zip file" in page
    assert "<script" not in page


# ---- resuming and regrading ---------------------------------------------------------


def test_running_again_grades_nothing_and_changes_nothing(class_copy):
    folder, gradebook = class_copy
    before = rows(gradebook)
    code, printed = batch("autodiff", folder, "--gradebook", gradebook)
    assert code == 0
    assert "0 graded now, 7 unchanged" in printed
    assert rows(gradebook) == before


def test_a_changed_submission_is_the_only_one_regraded(class_copy):
    folder, gradebook = class_copy
    before = rows(gradebook)
    shutil.rmtree(folder / "bob")
    shutil.copytree(REFERENCE, folder / "bob")  # bob finished his homework
    code, printed = batch("autodiff", folder, "--gradebook", gradebook, "--jobs", 2)
    assert code == 0 and "1 graded now, 6 unchanged" in printed
    after = rows(gradebook)
    assert after["bob"]["score"] == 100 and after["bob"]["hash"] != before["bob"]["hash"]
    assert {s: r for s, r in after.items() if s != "bob"} == {s: r for s, r in before.items() if s != "bob"}


def test_regrade_grades_everyone_again(class_copy):
    folder, gradebook = class_copy
    before = rows(gradebook)
    code, printed = batch("autodiff", folder, "--gradebook", gradebook, "--jobs", 2, "--regrade")
    assert code == 0 and "7 graded now" in printed
    after = rows(gradebook)
    assert all(after[s]["graded_at"] > before[s]["graded_at"] for s in before)
    assert {s: r["score"] for s, r in after.items()} == {s: r["score"] for s, r in before.items()}
    code, printed = batch("autodiff", folder, "--gradebook", gradebook)  # the regrade finished: not asked again
    assert "0 graded now" in printed


def test_kill_9_mid_batch_loses_nothing_and_the_rerun_completes(graded_class, tmp_path):
    folder, reference_book, _ = graded_class
    gradebook = tmp_path / "grades.db"
    command = [sys.executable, "-m", "grader", "batch", "autodiff", str(folder), "--gradebook", str(gradebook), "--jobs", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if gradebook.exists() and len(rows(gradebook)) >= 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the batch finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        landed = rows(gradebook)
        assert 1 <= len(landed) < 7
        for student in landed:  # all of a student's rows, or none
            assert len(check_rows(gradebook, student)) == len(CHECKS)
        _wait_for_group_to_exit(process.pid)  # orphaned workers notice and stop
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    code, printed = batch("autodiff", folder, "--gradebook", gradebook, "--jobs", 2)
    assert code == 0 and f"{7 - len(landed)} graded now, {len(landed)} unchanged" in printed
    finished = rows(gradebook)
    assert {s: finished[s] for s in landed} == landed  # what landed before the kill is untouched
    expected = rows(reference_book)
    assert {s: (r["score"], r["hash"]) for s, r in finished.items()} == {s: (r["score"], r["hash"]) for s, r in expected.items()}


def _wait_for_group_to_exit(group: int, seconds: float = 30) -> None:
    """Wait until no live process is left in ``group``. Orphans may be re-parented to this
    test process (a sandbox subreaper) and linger as zombies: those are reaped, not counted."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                state, parent, pgid, pid = fields[0], int(fields[1]), int(fields[3]), int(stat.parent.name)
                if pgid == group and state == "Z" and parent == os.getpid():
                    os.waitpid(pid, os.WNOHANG)
                elif pgid == group and state != "Z":
                    alive.append(pid)
        if not alive:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {alive} of the killed batch are still running")
        time.sleep(0.2)


def test_gradebook_writes_a_student_entirely_or_not_at_all(tmp_path):
    record = {
        "student": "zoe", "state": "graded", "hash": "h", "grader_version": "v", "score": 1.0, "max_score": 2.0,
        "seconds": 0.1, "checks": [{"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed", "output": ""}, {"name": "b"}],
    }  # fmt: skip
    with Gradebook(tmp_path / "g.db") as book:
        with pytest.raises(KeyError):
            book.record("autodiff", record)  # the second check is malformed
        assert book.submissions("autodiff") == [] and book.checks("autodiff") == []


def test_a_grader_failure_never_replaces_a_grade_of_the_same_files_and_grader(tmp_path):
    check = {"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed", "output": ""}
    graded = {"student": "zoe", "state": "graded", "hash": "h1", "grader_version": "v", "score": 1.0, "max_score": 1.0, "seconds": 0.1, "checks": [check]}
    failed = {**graded, "state": "failed", "score": None, "problem": "the grading worker died", "checks": []}
    with Gradebook(tmp_path / "g.db") as book:
        assert book.record("autodiff", failed) is True  # nothing to keep: the failure is recorded
        assert book.record("autodiff", graded) is True
        assert book.record("autodiff", failed) is False
        [row] = book.submissions("autodiff")
        assert (row["state"], row["score"], row["hash"]) == ("graded", 1.0, "h1")  # a --regrade failed: kept
        assert len(book.checks("autodiff")) == 1


# ---- workers ------------------------------------------------------------------------


def test_a_dead_or_stuck_worker_costs_only_its_student(graded_class):
    folder, _, _ = graded_class
    version = grader_version("autodiff")
    task = lambda student: Task("autodiff", student, student, "h", version, path=str(folder / student))  # noqa: E731
    with LocalPool("autodiff", jobs=1, submission_timeout=60) as pool:

        def kill_worker_busy_with_mallory():
            while not (pool.workers and pool.workers[0].task and pool.workers[0].task.student == "mallory"):
                time.sleep(0.05)
            time.sleep(0.5)
            os.kill(pool.workers[0].process.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_worker_busy_with_mallory, daemon=True)
        killer.start()
        records = {r["student"]: r for r in pool.grade([task("mallory"), task("alice")])}
    assert records["mallory"]["state"] == "failed" and "worker died" in records["mallory"]["problem"]
    assert records["alice"]["state"] == "graded" and records["alice"]["score"] == 100
    # A worker stuck on one student (here: code that sleeps, which probes wait out for a minute
    # or more each) is stopped at the pool's backstop; alice, who needs a few seconds, is graded.
    sleeper = _edited_reference(folder.parent / "stuck" / "sleeper", "list2d.py", "        return self.abs()\n", "        import time\n        time.sleep(10**6)\n")
    stuck = Task("autodiff", "sleeper", "sleeper", "h", version, path=str(sleeper))
    with LocalPool("autodiff", jobs=1, submission_timeout=20) as pool:
        records = {r["student"]: r for r in pool.grade([stuck, task("alice")])}
    assert records["sleeper"]["state"] == "failed" and "longer than 20 s" in records["sleeper"]["problem"]
    assert records["alice"]["score"] == 100


def test_a_worker_running_other_grader_code_refuses_to_grade(graded_class):
    folder, _, _ = graded_class
    task = Task("autodiff", "alice", "alice", "h", "0.0.0+someone-elses", path=str(folder / "alice"))
    try:
        record = grade_task(task)
    finally:
        close_warm_graders()
    assert record["state"] == "failed" and "install the same grader everywhere" in record["problem"]
    assert record["score"] is None and len(record["checks"]) == len(CHECKS)


# ---- Dask ---------------------------------------------------------------------------


def test_a_dask_cluster_gives_the_same_rows(graded_class, tmp_path):
    distributed = pytest.importorskip("distributed")
    folder, local_book, _ = graded_class
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code, printed = batch("autodiff", folder, "--gradebook", tmp_path / "grades.db", "--cluster", cluster.scheduler_address)
    assert code == 0, printed

    def comparable(row: dict) -> dict:  # when and how long differ; each sandbox gets its own random uid
        return {**row, "graded_at": None, "seconds": None, "notes": re.sub(r"uid \d+", "uid N", row["notes"])}

    on_cluster, local = rows(tmp_path / "grades.db"), rows(local_book)
    assert {s: comparable(r) for s, r in on_cluster.items()} == {s: comparable(r) for s, r in local.items()}
    for student in local:
        assert check_rows(tmp_path / "grades.db", student) == check_rows(local_book, student)
