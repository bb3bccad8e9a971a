"""The batch's resume rules, run by run, with the grading itself replaced.

docs/batch.md and grader/batch/run.py state them: a student is graded again when the
gradebook has no grade for them, when their grading failed (the grader's fault), when
their files or the grader version changed, and when an unfinished ``--regrade`` began
after their grade; otherwise their grade is kept. These tests run ``run_batch`` several
times on one gradebook and look only at whom each run asked to grade, so each rule is
checked in milliseconds: a scripted pool stands in for the sandboxed workers (whose
grading the other batch tests cover).
"""

from __future__ import annotations

import io
import shutil
import time

import pytest

from conftest import ROOT
from grader import assignments
from grader.batch import run
from grader.batch.gradebook import FAILED, GRADED, Gradebook
from grader.batch.run import BatchOptions, run_batch
from grader.sandbox.runner import Limits

STUDENTS = ("ann", "bob", "cat")


class Interrupted(Exception):
    """The batch was stopped while grading (a Ctrl-C, a kill)."""


class ScriptedPool:
    """Stands in for LocalPool (and DaskCluster): records how it was made and whom it was asked
    to grade, and answers each task with a grade of 10 points, or what ``script`` says for that
    student ("failed": the grader failed; "unloadable": graded 0, the submission could not be
    loaded; "interrupt": the batch stops before that student's record lands)."""

    asked: list[list[str]] = []
    tasks: list = []
    made_with: list[tuple] = []
    plots: set[bool] = set()
    script: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        ScriptedPool.made_with.append((type(self).__name__, args, kwargs))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def grade(self, tasks):
        ScriptedPool.asked.append(sorted(t.student for t in tasks))
        ScriptedPool.tasks += tasks
        ScriptedPool.plots |= {t.plots for t in tasks}
        for task in sorted(tasks, key=lambda t: t.student):
            what = ScriptedPool.script.get(task.student, "graded")
            if what == "interrupt":
                raise Interrupted(task.student)
            score = {"failed": None, "unloadable": 0.0}.get(what, 10.0)
            problem = {"failed": "the grading worker died", "unloadable": "could not load the submission: SyntaxError"}.get(what, "")
            yield {
                "student": task.student, "source": task.source, "hash": task.hash, "grader_version": task.grader_version,
                "state": FAILED if what == "failed" else GRADED, "score": score, "max_score": 10.0,
                "seconds": 0.0, "problem": problem, "notes": [],
                "checks": [] if what == "failed" else [{"name": "f: it works", "score": score, "max_score": 10.0, "status": "passed", "output": ""}],
            }  # fmt: skip


class ScriptedCluster(ScriptedPool):
    """Stands in for DaskCluster."""


class Unreadable(OSError):
    """What hashing a submission the grader cannot read raises (a folder of mode 000 for a
    grader that is not root)."""


@pytest.fixture
def batch(tmp_path, monkeypatch):
    """``batch(version="v1", regrade=False, plots=True, unreadable=(), options={}, **script)``: one
    run of the batch on the same class and gradebook (``unreadable``: students whose submission
    cannot be read in this run; ``options``: more BatchOptions); returns the students it asked to grade."""
    stubs = ROOT / "assignments" / "autodiff"
    for student in STUDENTS:
        shutil.copytree(stubs, tmp_path / "class" / student)
    monkeypatch.setattr(run, "LocalPool", ScriptedPool)
    monkeypatch.setattr(run, "DaskCluster", ScriptedCluster)
    exports: dict[str, tuple] = {}

    def export_called(export):  # the exports have tests of their own: note their calls, return a token
        def call(*args, **kwargs):
            exports[export] = (args, kwargs)
            return f"{export} returned"

        return call

    for export in ("write_csv", "write_feedback", "write_class_report"):
        monkeypatch.setattr(run, export, export_called(export))
    ScriptedPool.asked, ScriptedPool.tasks, ScriptedPool.made_with, ScriptedPool.plots, ScriptedPool.script = [], [], [], set(), {}
    hash_readable = run.submission_hash

    def once(version: str = "v1", regrade: bool = False, plots: bool = True, unreadable: tuple = (), options: dict | None = None,
             stream: io.StringIO | None = None, live: bool = False, **script: str) -> list[str]:  # fmt: skip
        monkeypatch.setattr(run, "grader_version", lambda name: {"autodiff": version}[name])

        def submission_hash(path, assignment):
            if path.name in unreadable:
                raise Unreadable(13, "Permission denied", str(path))
            return hash_readable(path, assignment)

        monkeypatch.setattr(run, "submission_hash", submission_hash)
        ScriptedPool.script = script
        asked_before = len(ScriptedPool.asked)
        once.options = BatchOptions("autodiff", tmp_path / "class", tmp_path / "grades.db", tmp_path / "grades.csv",
                                    tmp_path / "feedback", tmp_path / "report.html", regrade=regrade, plots=plots, **(options or {}))  # fmt: skip
        once.printed = stream or io.StringIO()
        once.result = run_batch(once.options, stream=once.printed, live=live)
        return ScriptedPool.asked[-1] if len(ScriptedPool.asked) > asked_before else []

    once.folder = tmp_path / "class"
    once.gradebook = tmp_path / "grades.db"
    once.exports = exports
    return once


def rows(batch) -> dict[str, tuple]:
    with Gradebook(batch.gradebook) as book:
        return {r["student"]: (r["state"], r["score"], r["grader_version"]) for r in book.submissions("autodiff")}


def test_a_second_run_grades_no_one(batch):
    assert batch() == list(STUDENTS)
    assert (batch.result.found, batch.result.graded, batch.result.kept, batch.result.failed, batch.result.unreadable) == (3, 3, 0, 0, 0)
    assert batch.printed.getvalue().count("10/10") == 3, "one progress line per student"
    assert batch.exports["write_feedback"][1] == {"only": set(STUDENTS)}
    assert batch() == []
    assert (batch.result.found, batch.result.graded, batch.result.kept) == (3, 0, 3)
    assert batch.exports["write_feedback"][1] == {"only": set()}, "feedback is written for those graded in this run"
    assert batch.exports["write_csv"][0][1:] == ("autodiff", batch.gradebook.parent / "grades.csv")


def test_a_student_gone_from_the_folder_keeps_the_grade_and_is_named(batch):
    batch()
    shutil.rmtree(batch.folder / "cat")
    assert batch() == [] and batch.result.absent == ["cat"] and batch.result.found == 2
    assert "cat" in rows(batch)


def test_plots_are_asked_for_unless_turned_off(batch):
    batch()
    assert ScriptedPool.plots == {True}
    ScriptedPool.plots = set()
    batch(version="v2", plots=False)
    assert ScriptedPool.plots == {False}


def test_a_failed_grading_is_tried_again_next_run_and_only_it(batch):
    assert batch(bob="failed") == list(STUDENTS)
    assert (batch.result.graded, batch.result.failed) == (3, 1)
    assert rows(batch)["bob"] == (FAILED, None, "v1")
    assert batch() == ["bob"]
    assert rows(batch)["bob"] == (GRADED, 10.0, "v1")
    assert batch() == []


def test_changed_files_are_graded_again(batch):
    batch()
    (batch.folder / "cat" / "list2d.py").write_text("# cat finished her homework\n")
    assert batch() == ["cat"]


def test_a_new_grader_version_grades_everyone_again(batch):
    batch(version="v1")
    assert batch(version="v2") == list(STUDENTS)
    assert {s: r[2] for s, r in rows(batch).items()} == {s: "v2" for s in STUDENTS}
    assert batch(version="v2") == []


def test_a_failure_under_a_new_grader_version_replaces_the_old_grade_and_is_retried(batch):
    """The old version's grade no longer stands (a submission that crashes every new grader
    must not keep it), and the failure is graded again on the next run."""
    batch(version="v1")
    batch(version="v2", bob="failed")
    assert rows(batch)["bob"] == (FAILED, None, "v2")
    assert batch(version="v2") == ["bob"]


def test_a_failure_under_the_same_grader_keeps_the_grade_of_the_same_files(batch):
    batch()
    batch(regrade=True, bob="failed")
    assert rows(batch)["bob"] == (GRADED, 10.0, "v1")


def test_a_regrade_interrupted_is_resumed_by_the_next_run_without_regrade(batch):
    batch()
    with pytest.raises(Interrupted):
        batch(regrade=True, bob="interrupt")  # ann was graded again, then the batch stopped
    assert batch() == ["bob", "cat"]  # the next run finishes the regrade, without being asked again
    assert batch() == []


def test_a_regrade_interrupted_and_run_again_as_regrade_resumes_where_it_stopped(batch):
    batch()
    with pytest.raises(Interrupted):
        batch(regrade=True, bob="interrupt")
    assert batch(regrade=True) == ["bob", "cat"]  # the same command again: ann's new grade stands
    assert batch() == []


def test_a_regrade_with_a_failed_grading_stays_unfinished(batch):
    batch()
    assert batch(regrade=True, bob="failed") == list(STUDENTS)
    assert batch() == ["bob"]  # bob still holds a grade from before the regrade
    assert batch() == []  # now the regrade is finished


def test_a_finished_regrade_is_not_asked_again(batch):
    batch()
    assert batch(regrade=True) == list(STUDENTS)
    assert batch() == []


def submission_row(batch, student: str):
    with Gradebook(batch.gradebook) as book:
        return next(r for r in book.submissions("autodiff") if r["student"] == student)


# ---- a submission the grader cannot read -------------------------------------------------


def test_an_unreadable_submission_is_recorded_as_failed_with_its_reason_and_read_again_next_run(batch):
    assert batch(unreadable=("bob",)) == ["ann", "cat"], "the workers are not asked to grade what could not be read"
    bob = submission_row(batch, "bob")
    assert (bob["state"], bob["score"], bob["grader_version"]) == (FAILED, None, "v1")
    assert "Permission denied" in bob["problem"], "the instructor sees why"
    assert bob["source"] == "bob", "the entry in the class folder it came from"
    assert bob["hash"] == "", "nothing was read, so no hash"
    assert (batch.result.found, batch.result.graded, batch.result.kept, batch.result.failed, batch.result.unreadable) == (3, 3, 0, 1, 0)
    lines = batch.printed.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[1/3", "[2/3", "[3/3"], "progress counts every student of the run once"
    assert "bob" in lines[0] and "NOT GRADED" in lines[0] and "Permission denied" in lines[0]
    assert batch.exports["write_feedback"][1] == {"only": set(STUDENTS)}
    assert batch() == ["bob"], "read again next run"
    assert rows(batch)["bob"] == (GRADED, 10.0, "v1")
    assert batch() == []


def test_one_unreadable_submission_does_not_stop_the_others(batch):
    assert batch(unreadable=("ann", "bob")) == ["cat"]
    assert {s: r[0] for s, r in rows(batch).items()} == {"ann": FAILED, "bob": FAILED, "cat": GRADED}
    assert batch.result.failed == 2


def test_a_graded_submission_that_becomes_unreadable_counts_as_failed_not_kept(batch):
    batch()
    assert batch(unreadable=("bob",)) == []
    assert (batch.result.found, batch.result.graded, batch.result.kept, batch.result.failed) == (3, 1, 2, 1)
    assert batch.printed.getvalue().count("/1]") == 1, "progress counts only the one read now"


def test_a_regrade_with_an_unreadable_submission_stays_unfinished(batch):
    batch()
    assert batch(regrade=True, unreadable=("bob",)) == ["ann", "cat"]
    assert batch() == ["bob"]
    assert batch() == []


# ---- what the batch passes on: tasks, the pool, the exports, the counts --------------------


def test_each_task_names_the_assignment_and_where_the_submission_is(batch):
    batch()
    assert {(t.assignment, t.student, t.source, t.path) for t in ScriptedPool.tasks} == {
        ("autodiff", s, s, str(batch.folder / s)) for s in STUDENTS
    }


def test_the_pool_is_made_with_the_assignment_the_jobs_needed_the_limits_and_the_timeout(batch):
    limits = Limits(cpu_seconds=77)
    batch(options={"jobs": 8, "limits": limits, "submission_timeout": 123.0})
    assert ScriptedPool.made_with == [("ScriptedPool", ("autodiff", 3, limits, 123.0), {})], "no more workers than submissions"
    batch(version="v2", options={"jobs": 2})
    assert ScriptedPool.made_with[-1][1][:2] == ("autodiff", 2)


def test_a_cluster_address_grades_on_the_cluster(batch):
    limits = Limits(cpu_seconds=77)
    assert batch(options={"cluster": "tcp://scheduler:8786", "limits": limits}) == list(STUDENTS)
    assert ScriptedPool.made_with == [("ScriptedCluster", ("tcp://scheduler:8786", "autodiff", limits), {})]


def test_the_exports_are_written_from_the_gradebook_to_the_places_asked(batch):
    batch()
    for export, args in batch.exports.items():
        assert isinstance(args[0][0], Gradebook) and args[0][0].path == batch.gradebook, export
        assert args[0][1] == "autodiff", export
    assert batch.exports["write_feedback"][0][2:] == (batch.options.feedback,)
    assert batch.exports["write_class_report"][0][2:] == (assignments.get("autodiff").title, batch.options.report)
    assert batch.result.summary == "write_class_report returned", "the class summary is the report's"


def test_the_time_taken_is_the_run_s_own(batch):
    before = time.monotonic()
    batch()
    assert 0 <= batch.result.seconds <= time.monotonic() - before


def test_a_submission_graded_zero_because_it_could_not_be_loaded_is_counted_as_unreadable(batch):
    batch(ann="unloadable", bob="failed")  # ann first: a count that is set, not added to, would end at 0
    assert (batch.result.graded, batch.result.unreadable, batch.result.failed) == (3, 1, 1)
    batch(version="v2", ann="unloadable", bob="unloadable")
    assert batch.result.unreadable == 2


def test_progress_lines_are_plain_when_not_live_even_on_a_terminal(batch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    batch(stream=Terminal(), live=False)
    assert [line.split("]")[0] for line in batch.printed.getvalue().splitlines()] == ["[1/3", "[2/3", "[3/3"]


def test_a_prefix_to_strip_names_the_students(batch):
    for student in STUDENTS:
        (batch.folder / student).rename(batch.folder / f"hw1-{student}")
    assert batch(options={"strip_prefix": "hw1-"}) == list(STUDENTS)
    assert submission_row(batch, "ann")["source"] == "hw1-ann"


def test_classroom_s_assignment_prefix_is_stripped_from_the_folder_names(batch):
    for student in STUDENTS:
        (batch.folder / student).rename(batch.folder / f"autodiff-{student}")
    assert batch() == list(STUDENTS)


def test_a_second_regrade_after_a_finished_one_grades_everyone_again(batch):
    batch()
    assert batch(regrade=True) == list(STUDENTS)
    assert batch(regrade=True) == list(STUDENTS), "each --regrade starts anew once the last one finished"


# ---- the gradebook's keys: one file may hold a whole course ------------------------------


def _record(student: str, score: float = 1.0, artifacts: dict | None = None) -> dict:
    checks = [{"name": f"f: check {i}", "score": score, "max_score": 1.0, "status": "passed", "output": ""} for i in range(2)]
    return {"student": student, "state": GRADED, "hash": "h", "grader_version": "v", "score": 2 * score, "max_score": 2.0,
            "seconds": 0.1, "checks": checks, "artifacts": artifacts or {}}  # fmt: skip


def test_each_assignment_has_its_own_rows_and_unfinished_regrade(tmp_path):
    path = tmp_path / "course" / "2026" / "g.db"  # its folders are made
    with Gradebook(path) as book:
        book.record("autodiff", _record("zoe"))
        book.record("autodiff", _record("amy"))
        book.record("descent", _record("zoe", 0.0))
        assert [r["student"] for r in book.submissions("autodiff")] == ["amy", "zoe"]
        assert [r["score"] for r in book.submissions("descent")] == [0.0]
        assert [(r["student"], r["position"]) for r in book.checks("autodiff")] == [("amy", 0), ("amy", 1), ("zoe", 0), ("zoe", 1)]
        assert [(r["name"], r["score"]) for r in book.checks("descent", "zoe")] == [("f: check 0", 0.0), ("f: check 1", 0.0)]
        book.set_meta("autodiff", "regrade_since", "t1")
        assert book.get_meta("autodiff", "regrade_since") == "t1" and book.get_meta("descent", "regrade_since") is None
        book.set_meta("descent", "regrade_since", "t2")
        book.delete_meta("autodiff", "regrade_since")
        assert book.get_meta("autodiff", "regrade_since") is None and book.get_meta("descent", "regrade_since") == "t2"
        assert set(book.fingerprints("autodiff")) == {"amy", "zoe"} and book.fingerprints("autodiff")["zoe"].state == GRADED
    with Gradebook(path) as book:  # what was written is on disk: a killed batch's next run reads it
        assert book.get_meta("descent", "regrade_since") == "t2" and book.get_meta("autodiff", "regrade_since") is None
        assert [r["student"] for r in book.submissions("autodiff")] == ["amy", "zoe"]


def test_a_plot_shared_by_students_is_stored_once_and_dropped_when_no_grade_uses_it(tmp_path):
    with Gradebook(tmp_path / "g.db") as book:
        book.record("descent", _record("amy", artifacts={"loss.png": b"same", "own.png": b"amy"}))
        book.record("descent", _record("zoe", artifacts={"loss.png": b"same"}))
        assert book.artifacts("descent", "amy") == [("loss.png", b"same"), ("own.png", b"amy")]
        assert book.db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 2
        book.record("descent", _record("amy"))  # amy's new grade has no plots
        book.drop_unused_blobs()
        assert book.artifacts("descent", "amy") == [] and book.artifacts("descent", "zoe") == [("loss.png", b"same")]
        assert book.db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
