"""Exports from the gradebook: the CSV Canvas imports, a per-check CSV, and per-student feedback.

Both are made from the gradebook alone, never from a run's memory, so they are the
same whether the class was graded in one run, resumed after a kill, or on a cluster.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

from grader.batch.gradebook import GRADED, Gradebook
from grader.outputs import gradescope
from grader.outputs.records import check_result
from grader.scoring import GradeReport

try:
    from grader.outputs import html
except ImportError:  # the HTML report is optional; results.json is always written
    html = None

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas


def _cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _number(value) -> str:
    return "" if value is None else f"{value:g}"


def check_names(book: Gradebook, assignment: str) -> list[str]:
    """Every check in the gradebook, in the order the assignment lists them."""
    first_position: dict[str, int] = {}
    for row in book.checks(assignment):
        first_position[row["name"]] = min(row["position"], first_position.get(row["name"], row["position"]))
    return sorted(first_position, key=lambda name: (first_position[name], name))


# Canvas's gradebook CSV (canvas-lms app/models/gradebook_importer.rb): these identity columns,
# then assignment columns matched by "Title (id)", else by exact title, else created new; a
# row whose first cell holds "Points Possible" gives a new assignment its points.
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"  # as Canvas's own export writes it


def breakdown_path(path: Path) -> Path:
    """Where the per-check breakdown goes, next to the gradebook CSV."""
    path = Path(path)
    return path.with_name(f"{path.stem}-checks{path.suffix or '.csv'}")


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    temporary.replace(path)  # an import never reads half a file


def write_csv(book: Gradebook, assignment: str, path: Path, column: str | None = None) -> int:
    """Two CSVs; returns the number of students.

    ``path``: Canvas's gradebook import shape, its identity columns then one score column
    for the assignment (``column``, default the assignment's title; Canvas turns every
    other column into a new assignment), and the points possible. The student id fills
    Student and SIS Login ID, which Canvas matches against each student's login.
    ``<path stem>-checks.csv``: ``student, score, max_score`` then one column per check.

    A student whose grading failed (the grader's fault, retried next run) has empty
    scores, which Canvas reads as "no grade yet" rather than zero."""
    from grader import assignments

    names = check_names(book, assignment)
    scores: dict[str, dict[str, float]] = {}
    for row in book.checks(assignment):
        scores.setdefault(row["student"], {})[row["name"]] = row["score"]
    submissions = book.submissions(assignment)
    title = column or assignments.get(assignment).title
    maximum = max((row["max_score"] for row in submissions if row["max_score"] is not None), default=None)
    gradebook = [[*CANVAS_IDENTITY, _cell(title)], [CANVAS_POINTS_POSSIBLE, "", "", "", "", _number(maximum)]]
    breakdown = [["student", "score", "max_score", *map(_cell, names)]]
    for row in submissions:
        graded = row["state"] == GRADED
        student, score = _cell(row["student"]), _number(row["score"] if graded else None)
        gradebook.append([student, "", "", student, "", score])
        own = scores.get(row["student"], {}) if graded else {}
        breakdown.append([student, score, _number(row["max_score"]), *(_number(own.get(n)) for n in names)])
    _write_rows(breakdown_path(path), breakdown)
    _write_rows(Path(path), gradebook)
    return len(submissions)


def feedback_folder_name(student: str) -> str:
    """A safe folder name for a student id; ids that needed changes get a short hash to stay unique."""
    safe = re.sub(r"[^A-Za-z0-9._@+-]", "_", student).strip(".") or "_"
    return safe if safe == student else f"{safe}-{hashlib.sha1(student.encode()).hexdigest()[:6]}"


def report_from_gradebook(book: Gradebook, assignment: str, row, plots: list[Path]) -> GradeReport:
    return GradeReport(
        assignment=assignment,
        submission=row["source"],
        results=[check_result(c) for c in book.checks(assignment, row["student"])],
        execution_time=row["seconds"],
        problem=row["problem"],
        notes=json.loads(row["notes"]),
        artifacts=plots,
    )


def write_feedback(book: Gradebook, assignment: str, folder: Path, only: set[str] | None = None) -> int:
    """``folder/<student>/results.json`` (and ``report.html``, plots) for graded students.

    ``only`` limits it to those students, plus any whose feedback is missing, so a
    re-run rewrites what changed and repairs what a kill left unwritten. Students
    whose grading failed get nothing: they are graded again on the next run."""
    written = 0
    for row in book.submissions(assignment):
        if row["state"] != GRADED:
            continue
        target = Path(folder) / feedback_folder_name(row["student"])
        if only is not None and row["student"] not in only and (target / "results.json").is_file():
            continue
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        plots = []
        for name, data in book.artifacts(assignment, row["student"]):
            plot = target / Path(name).name
            plot.write_bytes(data)
            plots.append(plot)
        report = report_from_gradebook(book, assignment, row, plots)
        if html is not None:
            html.write(report, target / "report.html")
        gradescope.write(report, target / "results.json")  # last: its presence means "complete"
        written += 1
    return written
