"""Gradescope's results.json: the format every other place (Classroom, batch) also reads."""

from __future__ import annotations

import json
from pathlib import Path

from grader import __version__
from grader.scoring import GradeReport

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


def results(report: GradeReport) -> dict:
    lines = [f"{report.assignment}: {report.score:g} / {report.max_score:g} points (grader {__version__})"]
    if report.problem:
        lines.append(f"Your submission could not be graded: {report.problem}")
    lines += [f"Note: {note}" for note in report.notes]
    lines += [f"Plot: {path.name}" for path in report.artifacts]
    return {
        "score": report.score,
        "max_score": report.max_score,
        "execution_time": round(report.execution_time, 3),
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": result.name,
                "number": str(number),
                "score": result.score,
                "max_score": result.max_score,
                "status": result.status,
                "output": result.output,
                **({"tags": [result.mistake]} if result.mistake else {}),
            }
            for number, result in enumerate(report.results, start=1)
        ],
    }


def write(report: GradeReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results(report), indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a file
