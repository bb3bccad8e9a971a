"""The readable summary printed after a grade: a table of checks, then what to fix, then
what the sandbox could enforce (for the instructor, who reads the job log).

Names, notes and messages can quote the submission, so they reach the terminal as plain
text: never as rich markup, and without terminal escape sequences or control characters.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.outputs.notes import for_instructor, for_students
from grader.outputs.text import plain
from grader.scoring import GradeReport

def show(report: GradeReport, console: Console | None = None, instructor: bool = True) -> None:
    """Print the summary; ``instructor=False`` (a student's own check) leaves the sandbox out."""
    console = console or Console(highlight=False)
    table = Table(title=Text(plain(f"{report.assignment}: {report.submission}")), title_justify="left")
    table.add_column("Check")
    table.add_column("Points", justify="right")
    table.add_column("", justify="center")
    for result in report.results:
        mark = Text("pass", style="green") if result.status == "passed" else Text("FAIL", style="red")
        table.add_row(Text(plain(result.name)), f"{result.score:g}/{result.max_score:g}", mark)
    console.print(table)
    if report.problem:
        console.print(Text.assemble(("Could not grade this submission: ", "bold red"), plain(report.problem)))
    for note in for_students(report.notes):
        console.print(Text.assemble(("Note: ", "yellow"), plain(note)))
    failures = [r for r in report.results if r.status == "failed"]
    if failures and not report.problem:
        console.print(Text("\nWhat to fix", style="bold"))
        for result in failures:
            console.print(Text.assemble(("x ", "red"), (plain(result.name), "bold")))
            console.print(Text("    " + plain(result.output).replace("\n", "\n    ")))
    for path in report.artifacts:
        console.print(Text(plain(f"Plot: {path}")))
    console.print(Text.assemble((f"Score: {report.score:g} / {report.max_score:g}", "bold"), f" ({report.execution_time:.1f} s)"))
    for note in for_instructor(report.notes) if instructor else ():
        console.print(Text(plain(f"For the instructor: {note}"), style="dim"))
