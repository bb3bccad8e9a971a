"""The readable summary printed after a grade: a table of checks, then what to fix."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from grader.scoring import GradeReport


def show(report: GradeReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    table = Table(title=f"{report.assignment}: {report.submission}", title_justify="left")
    table.add_column("Check")
    table.add_column("Points", justify="right")
    table.add_column("", justify="center")
    for result in report.results:
        mark = "[green]pass[/]" if result.status == "passed" else "[red]FAIL[/]"
        table.add_row(result.name, f"{result.score:g}/{result.max_score:g}", mark)
    console.print(table)
    if report.problem:
        console.print(f"[bold red]Could not grade this submission:[/] {report.problem}")
    for note in report.notes:
        console.print(f"[yellow]Note:[/] {note}", markup=True)
    failures = [r for r in report.results if r.status == "failed"]
    if failures and not report.problem:
        console.print("\n[bold]What to fix[/]")
        for result in failures:
            console.print(f"[red]x[/] [bold]{result.name}[/]", markup=True)
            console.print("    " + result.output.replace("\n", "\n    "), markup=False)
    for path in report.artifacts:
        console.print(f"Plot: {path}")
    console.print(f"[bold]Score: {report.score:g} / {report.max_score:g}[/] ({report.execution_time:.1f} s)")
