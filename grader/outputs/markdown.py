"""A Markdown report of a grade, e.g. for a GitHub job summary ($GITHUB_STEP_SUMMARY):
the score, a table of checks and points, then what to fix.

GitHub renders inline HTML in Markdown, so text outside code blocks is escaped; the
student's own output goes in fenced code blocks, fenced longer than any backtick run in it.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from grader.outputs.notes import for_students
from grader.outputs.text import plain
from grader.scoring import GradeReport


def cell(text: str) -> str:
    """Text safe inside one table cell: no HTML, no column breaks, one line."""
    return html.escape(" ".join(plain(text).split()), quote=False).replace("|", "\\|")


def inline(text: str) -> str:
    """Text safe as a Markdown paragraph: no HTML, no emphasis or links from stray characters."""
    return re.sub(r"([\\`*_\[\]#!<>])", r"\\\1", " ".join(plain(text).split()))


def plain_text(markdown: str) -> str:
    """Markdown written by ``inline`` read back as text (for a console that does not render it)."""
    return re.sub(r"\\([\\`*_\[\]#!<>])", r"\1", markdown)


def code_block(text: str) -> str:
    text = plain(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def render(report: GradeReport) -> str:
    lines = [f"### {inline(report.assignment)}: {report.score:g} / {report.max_score:g} points", ""]
    if report.problem:
        lines += [f"**Could not grade this submission:** {inline(report.problem)}", ""]
    lines += ["| | Check | Points |", "|:-:|:--|--:|"]
    for result in report.results:
        mark = "✅" if result.status == "passed" else "❌"
        lines.append(f"| {mark} | {cell(result.name)} | {result.score:g} / {result.max_score:g} |")
    lines.append("")
    lines += [f"> {inline(note)}" for note in for_students(report.notes)]  # the sandbox's are in the job log
    failures = [r for r in report.results if r.status == "failed"]
    if failures and not report.problem:
        lines += ["", f"<details><summary>What to fix ({len(failures)})</summary>", ""]
        for result in failures:
            lines += [f"**{inline(result.name)}** ({result.score:g} / {result.max_score:g})", "", code_block(result.output), ""]
        lines += ["</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def write(report: GradeReport, path: Path) -> None:
    """Write the report to ``path`` (replacing it: each Actions step has its own summary file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
