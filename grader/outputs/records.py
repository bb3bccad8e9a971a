"""A grade as plain data: the one shape in which a check's result travels from a batch
worker to the gradebook, comes back out of it for the exports, and is rendered as
Gradescope's results.json. ``check_record`` and ``check_result`` are each other's inverse."""

from __future__ import annotations

from collections.abc import Mapping

from grader.scoring import CheckResult, GradeReport


def check_record(result: CheckResult) -> dict:
    """One check's result as a plain dict (the gradebook's ``checks`` row, without its key)."""
    return {
        "name": result.name,
        "score": result.score,
        "max_score": result.max_score,
        "status": result.status,
        "output": result.output,
        "hint": result.hint,
        "mistake": result.mistake,
    }


def check_result(record: Mapping) -> CheckResult:
    """The result a record (or a gradebook row, which has the same fields) holds."""
    return CheckResult(record["name"], record["max_score"], record["score"], record["output"], record["hint"], record["mistake"])


def report_record(report: GradeReport) -> dict:
    """A report's totals, what the student should know, and its checks, as plain data."""
    return {
        "score": report.score,
        "max_score": report.max_score,
        "seconds": report.execution_time,
        "problem": report.problem,
        "notes": list(report.notes),
        "checks": [check_record(result) for result in report.results],
    }
