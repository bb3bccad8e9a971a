"""The README's demo: grade the reference, the stubs and the example submissions of
every assignment, write each one's results (and plots) under out/demo/, print a table."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.materialize import materialize  # noqa: E402
from grader import assignments  # noqa: E402
from grader.grade import grade  # noqa: E402
from grader.outputs import gradescope  # noqa: E402

OUT = ROOT / "out" / "demo"


def main() -> int:
    console = Console(highlight=False)
    shutil.rmtree(OUT, ignore_errors=True)
    table = Table(title="Demo: every bundled submission graded", title_justify="left")
    for column in ("Assignment", "Submission", "Score", "What the feedback says first"):
        table.add_column(column)
    plotted = []
    for name in assignments.names():
        assignment = assignments.get(name)
        submissions = [("reference", assignment.reference_dir), ("stubs", assignment.stub_dir)]
        submissions += [(f"{e.kind}/{e.name}", e.path) for e in materialize(name, OUT / name / "_submissions")]
        for label, path in submissions:
            console.print(f"grading {name} {label} ...")
            target = OUT / name / label.replace("/", "-")
            report = grade(assignment, path, artifacts_dir=target / "plots")
            gradescope.write(report, target / "results.json")
            if report.artifacts:
                plotted.append(target / "plots")
            first = next((r for r in report.results if r.status == "failed"), None)
            feedback = "" if first is None else (first.hint or first.output.splitlines()[0])[:90]
            table.add_row(name, label, f"{report.score:g}/{report.max_score:g}", feedback)
    console.print(table)
    console.print(f"Results: {OUT.relative_to(ROOT)}/<assignment>/<submission>/results.json")
    if plotted:  # the lecture's "Epoch VS Loss" per loop and "Typical Behavior", student against reference
        console.print(f"Loss plots for {len(plotted)} submissions, for example:")
        for folder in plotted[:3]:
            for png in sorted(folder.glob("*.png")):
                console.print(f"  {png.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
