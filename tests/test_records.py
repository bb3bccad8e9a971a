"""A grade as plain data: what a worker records, the gradebook keeps and the exports read
back is the grade itself, so a student's feedback is the same from a batch as from one grade."""

from __future__ import annotations

from grader.batch.export import report_from_gradebook
from grader.batch.gradebook import Gradebook
from grader.batch.worker import Task, record_from_report
from grader.outputs import gradescope
from grader.outputs.records import check_record, check_result
from grader.scoring import CheckResult, GradeReport

RESULTS = [
    CheckResult("mean: the forward value", 4, 0.0, "mean: expected 2.5, got 5.0\nHint: divide by n", "divide by n", "sum_not_mean"),
    CheckResult("abs: the gradient", 6, 6, "abs: passed"),
    CheckResult("nn: prints", 2.5, 0.0, "nn raised ValueError\nYour code printed:\nhello `x`"),
]


def test_a_check_record_holds_the_result_and_gives_it_back():
    for result in RESULTS:
        record = check_record(result)
        assert record == {
            "name": result.name,
            "score": result.score,
            "max_score": result.max_score,
            "status": "passed" if result.score == result.max_score else "failed",
            "output": result.output,
            "hint": result.hint,
            "mistake": result.mistake,
        }
        assert check_result(record) == result


def test_feedback_from_the_gradebook_is_the_feedback_of_the_grade(tmp_path):
    report = GradeReport("autodiff", "ann", RESULTS, 1.5, "", ["a note for the student"])
    task = Task("autodiff", "ann", "ann", "0" * 64, "v1")
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", record_from_report(task, report, {}))
        (row,) = book.submissions("autodiff")
        kept = report_from_gradebook(book, "autodiff", row, [])
    assert kept.results == RESULTS
    assert gradescope.results(kept) == gradescope.results(report)
