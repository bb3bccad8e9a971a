"""One self-contained HTML page for a grade: the score, what to fix, the plots (embedded
as data URIs) and the table of every check, in that order so a phone shows the feedback
first. The file can be mailed, uploaded as a CI artifact or opened with nothing beside it.

Check outputs quote what the student's code printed, so every piece of text is escaped,
and the page's Content-Security-Policy forbids scripts and remote loads in case anything
ever slips through.
"""

from __future__ import annotations

import base64
import mimetypes
from html import escape
from pathlib import Path
from string import Template

from grader import __version__
from grader.scoring import GradeReport

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"

STYLE = """
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --line: #d0d7de; --soft: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --ok: #3fb950; --bad: #f85149; --line: #30363d; --soft: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.score { font-size: 2rem; font-weight: 700; margin: 0; }
.meta, .note { color: GrayText; font-size: .875rem; overflow-wrap: anywhere; }
.problem { border-left: 4px solid var(--bad); padding: .5rem .75rem; background: var(--soft); overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: .4rem .5rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
td.name { overflow-wrap: anywhere; }
td.points, th.points { text-align: right; white-space: nowrap; }
td.mark { white-space: nowrap; font-weight: 600; }
tr.passed td.mark { color: var(--ok); }
tr.failed td.mark { color: var(--bad); }
details { border: 1px solid var(--line); border-radius: 6px; margin: .5rem 0; padding: .25rem .75rem; }
summary { cursor: pointer; font-weight: 600; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft); padding: .5rem; border-radius: 4px; font-size: .85rem; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; display: block; background: white; }
figcaption { font-size: .875rem; color: GrayText; overflow-wrap: anywhere; }
"""

PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="$policy">
<title>$title</title>
<style>$style</style>
</head>
<body>
<main>
<header>
<h1>$assignment</h1>
<p class="score">$score / $max_score points</p>
<p class="meta">Submission: $submission &middot; graded in $seconds s by nn-grader $version</p>
</header>
$problem$notes$failures$plots<section>
<h2>Checks</h2>
<div class="table-wrap">
<table>
<thead><tr><th>Check</th><th class="points">Points</th><th>Result</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
</div>
</section>
</main>
</body>
</html>
""")


def data_uri(path: Path) -> str | None:
    """The file as a data: URI if it is an image, else None."""
    kind, _ = mimetypes.guess_type(path.name)
    if not kind or not kind.startswith("image/") or not path.is_file():
        return None
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _rows(report: GradeReport) -> str:
    rows = []
    for result in report.results:
        mark = "&#10003; pass" if result.status == "passed" else "&#10007; fail"
        rows.append(
            f'<tr class="{result.status}"><td class="name">{escape(result.name)}</td>'
            f'<td class="points">{result.score:g} / {result.max_score:g}</td><td class="mark">{mark}</td></tr>'
        )
    return "\n".join(rows)


def _failures(report: GradeReport) -> str:
    failed = [r for r in report.results if r.status == "failed"]
    if not failed or report.problem:
        return ""
    parts = [f"<section>\n<h2>What to fix ({len(failed)})</h2>"]
    for result in failed:
        parts.append(
            f"<details open><summary>{escape(result.name)} ({result.score:g} / {result.max_score:g})</summary>"
            f"<pre>{escape(result.output)}</pre></details>"
        )
    return "\n".join(parts) + "\n</section>\n"


def _plots(report: GradeReport) -> str:
    figures = []
    for path in map(Path, report.artifacts):
        uri = data_uri(path)
        if uri is None:
            continue
        name = escape(path.name)
        figures.append(f'<figure><img src="{uri}" alt="{name}"><figcaption>{name}</figcaption></figure>')
    return "<section>\n<h2>Plots</h2>\n" + "\n".join(figures) + "\n</section>\n" if figures else ""


def render(report: GradeReport) -> str:
    problem = f'<p class="problem"><strong>Could not grade this submission:</strong> {escape(report.problem)}</p>\n' if report.problem else ""
    notes = "".join(f'<p class="note">Note: {escape(note)}</p>\n' for note in report.notes)
    return PAGE.substitute(
        policy=POLICY,
        title=escape(f"{report.assignment}: {report.score:g} / {report.max_score:g}"),
        style=STYLE,
        assignment=escape(report.assignment),
        score=f"{report.score:g}",
        max_score=f"{report.max_score:g}",
        submission=escape(str(report.submission)),
        seconds=f"{report.execution_time:.1f}",
        version=escape(__version__),
        problem=problem,
        notes=notes,
        rows=_rows(report),
        failures=_failures(report),
        plots=_plots(report),
    )


def write(report: GradeReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
