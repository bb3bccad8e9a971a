"""Gradescope's results.json: the format every other place (Classroom, batch) also reads.

Outputs are Markdown (``output_format: md``) so that hints show their code as code. Only
the grader's own hint keeps its Markdown; everything else in a message may quote the
student (names, values, errors) and is escaped, and what their code printed goes in a
fenced block. What the sandbox could enforce is for the instructor: it goes in a hidden
test, never in the student's feedback; plots are files the student cannot see, so they
are not mentioned.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader import __version__
from grader.outputs.markdown import code_block, inline
from grader.outputs.notes import for_instructor, for_students
from grader.outputs.records import check_record
from grader.scoring import GradeReport

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
FORMAT = "md"
PRINTED = "\nYour code printed:\n"  # how scoring.py introduces the student's own output
INSTRUCTOR_TEST = "Sandbox (instructor only)"


def check_output(record: dict) -> str:
    """One check's feedback (a ``check_record``) as Markdown: the message escaped, the hint
    as written, the student's printed output in a fence."""
    text, printed = record["output"], ""
    if PRINTED in text:
        text, printed = text.split(PRINTED, 1)
    hint = f"\nHint: {record['hint']}" if record["hint"] else ""
    if hint and text.endswith(hint):
        text = text[: -len(hint)]
    headline, _, details = text.partition("\n")
    parts = [inline(headline), code_block(details) if details.strip() else ""]
    if hint:
        parts.append(f"**Hint:** {record['hint']}")
    if printed:
        parts.append("Your code printed:\n\n" + code_block(printed))
    return "\n\n".join(part for part in parts if part)


def results(report: GradeReport) -> dict:
    student_notes, instructor_notes = for_students(report.notes), for_instructor(report.notes)
    lines = [f"**{inline(report.assignment)}: {report.score:g} / {report.max_score:g} points** (grader {__version__})"]
    if report.problem:
        lines.append(f"Your submission could not be graded: {inline(report.problem)}")
    lines += [f"Note: {inline(note)}" for note in student_notes]
    tests = [_test(check_record(result), number) for number, result in enumerate(report.results, start=1)]
    if instructor_notes:
        tests.append(
            {
                "name": INSTRUCTOR_TEST,
                "score": 0,
                "max_score": 0,
                "status": "passed",
                "output": code_block("\n".join(instructor_notes)),
                "output_format": FORMAT,
                "visibility": "hidden",
            }
        )
    return {
        "score": report.score,
        "max_score": report.max_score,
        "execution_time": round(report.execution_time, 3),
        "output": "\n\n".join(lines),
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _test(record: dict, number: int) -> dict:
    """Gradescope's test for one check's record."""
    return {
        "name": record["name"],
        "number": str(number),
        "score": record["score"],
        "max_score": record["max_score"],
        "status": record["status"],
        "output": check_output(record),
        "output_format": FORMAT,
        **({"tags": [record["mistake"]]} if record["mistake"] else {}),
    }


def graded_tests(results: dict) -> list[dict]:
    """The tests that are checks (worth points), without the instructor's hidden notes."""
    return [test for test in results["tests"] if test.get("visibility") != "hidden"]


def write(report: GradeReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results(report), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a file
