"""The gradebook keeps what a grade says: a student's record read back is what was stored.

An instructor reads the gradebook (the exports, the feedback, a ``sqlite3`` shell) long after
the batch: where the submission came from (``source``), the notes and every check's hint and
known mistake must come back as the worker sent them, and a record that leaves an optional
field out reads back empty, never a placeholder. A grader failure that replaces an earlier
grade (other files or another grader version) keeps its own reason and names the grade it
replaced. These tests write records into a real gradebook on disk, without a batch.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from grader.batch.gradebook import FAILED, GRADED, Fingerprint, Gradebook, now


def graded(student: str = "amy", **fields) -> dict:
    checks = [
        {"name": "mean: value", "score": 2.0, "max_score": 2.0, "status": "passed", "output": ""},  # no hint, no mistake
        {"name": "abs: gradient", "score": 0.0, "max_score": 3.0, "status": "failed", "output": "expected 1, got -1",
         "hint": "the gradient of |x| is sign(x)", "mistake": "abs_gradient_sign"},
    ]  # fmt: skip
    return {"student": student, "state": GRADED, "hash": "h1", "grader_version": "v1", "score": 2.0, "max_score": 5.0,
            "seconds": 1.5, "checks": checks, **fields}  # fmt: skip


def failed(student: str = "amy", **fields) -> dict:
    return {"student": student, "state": FAILED, "hash": "h1", "grader_version": "v1", "score": None, "max_score": None,
            "seconds": 0.0, "checks": [], **fields}  # fmt: skip


def stored(book: Gradebook, student: str = "amy"):
    return next(r for r in book.submissions("autodiff") if r["student"] == student)


def test_a_record_reads_back_as_it_was_stored(tmp_path):
    notes = ["uses tqdm", "printed 3 lines"]
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", graded(source="amy-autodiff.ipynb", notes=notes, problem="ran out of time in one probe"))
        row = stored(book)
        assert (row["state"], row["hash"], row["grader_version"], row["score"], row["max_score"], row["seconds"]) == (GRADED, "h1", "v1", 2.0, 5.0, 1.5)
        assert row["source"] == "amy-autodiff.ipynb"
        assert json.loads(row["notes"]) == notes
        assert row["problem"] == "ran out of time in one probe"
        checks = [dict(c) for c in book.checks("autodiff", "amy")]
        assert [(c["name"], c["status"], c["output"], c["hint"], c["mistake"]) for c in checks] == [
            ("mean: value", "passed", "", "", ""),
            ("abs: gradient", "failed", "expected 1, got -1", "the gradient of |x| is sign(x)", "abs_gradient_sign"),
        ]


def test_optional_fields_left_out_read_back_empty(tmp_path):
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", graded())
        row = stored(book)
        assert (row["source"], json.loads(row["notes"]), row["problem"]) == ("", [], "")


def test_a_failure_that_replaces_an_earlier_grade_keeps_its_reason_and_names_that_grade(tmp_path):
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", graded(score=7.5, max_score=10.0))
        assert book.record("autodiff", failed(grader_version="v2", problem="the grading worker died"))
        problem = stored(book)["problem"]
        assert problem.startswith("the grading worker died (") and "7.5/10" in problem
        assert stored(book)["state"] == FAILED


def test_a_failure_without_a_reason_that_replaces_a_grade_names_only_that_grade(tmp_path):
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", graded(score=7.5, max_score=10.0))
        book.record("autodiff", failed(hash="h2"))
        problem = stored(book)["problem"]
        assert problem.lstrip().startswith("(") and "7.5/10" in problem, "no placeholder where the reason would be"


def test_fingerprints_are_what_each_grade_was_made_from_and_when(tmp_path):
    with Gradebook(tmp_path / "g.db") as book:
        before = now()
        book.record("autodiff", graded("amy"))
        book.record("autodiff", failed("bob", hash="h2", grader_version="v2"))
        after = now()
        prints = book.fingerprints("autodiff")
        assert set(prints) == {"amy", "bob"}
        assert (prints["amy"].hash, prints["amy"].grader_version, prints["amy"].state) == ("h1", "v1", GRADED)
        assert (prints["bob"].hash, prints["bob"].grader_version, prints["bob"].state) == ("h2", "v2", FAILED)
        assert all(before <= p.graded_at <= after for p in prints.values())
        assert isinstance(prints["amy"], Fingerprint)


def test_stored_times_are_utc(tmp_path):
    """Times compare as strings (an unfinished --regrade's start against each grade's), so they
    must all be in one zone, whatever the machine's local zone is."""
    assert datetime.fromisoformat(now()).utcoffset() == timedelta(0)
