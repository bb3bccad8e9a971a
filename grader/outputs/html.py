"""One self-contained HTML page for a grade, in the order a student reads it: the score,
what to fix first (each hint once, with the checks it costs), the details of each failed
check, the plots (embedded as data URIs) and the table of every check; last, for the
instructor, what the sandbox could enforce. The file can be mailed, uploaded as a CI
artifact or opened with nothing beside it.

Check outputs quote what the student's code printed, so the template escapes every value
(jinja2 autoescape), and the page's Content-Security-Policy forbids scripts and remote
loads in case anything ever slips through.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import jinja2
import markupsafe

from grader import __version__
from grader.outputs.notes import for_instructor, for_students
from grader.outputs.text import plain
from grader.scoring import CheckResult, GradeReport

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
.problem, .fix li { border-left: 4px solid var(--bad); padding: .5rem .75rem; background: var(--soft); overflow-wrap: anywhere; }
.fix { list-style: none; padding: 0; }
.fix li { margin: .5rem 0; }
.fix .checks { font-size: .875rem; color: GrayText; }
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
code { font-size: .9em; background: var(--soft); padding: 0 .2em; border-radius: 3px; }
figcaption { font-size: .875rem; color: GrayText; overflow-wrap: anywhere; }
.instructor { margin-top: 2rem; border-top: 1px solid var(--line); }
"""

def _shown(value):
    """Every value the template prints: text loses terminal escape sequences (then autoescape)."""
    return plain(value) if isinstance(value, str) and not isinstance(value, markupsafe.Markup) else value


TEMPLATES = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, finalize=_shown)
TEMPLATES.filters["code_spans"] = lambda text: markupsafe.Markup(
    re.sub(r"`([^`\n]+)`", r"<code>\1</code>", str(markupsafe.escape(plain(text))))
)  # a hint's `code` shown as code; escaped first, so only these tags are markup
TEMPLATES.filters["points"] = lambda value: f"{value:g}"
PAGE = TEMPLATES.from_string("""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{ policy | safe }}">
<title>{{ name }}: {{ assignment }} {{ score }} / {{ max_score }}</title>
<style>{{ style | safe }}</style>
</head>
<body>
<main>
<header>
<h1>{{ assignment }}: {{ name }}</h1>
<p class="score">{{ score }} / {{ max_score }} points</p>
<p class="meta">Graded in {{ seconds }} s by nn-grader {{ version }}</p>
</header>
{% if problem %}
<p class="problem"><strong>Could not grade this submission:</strong> {{ problem }}</p>
{% endif %}
{% for note in notes %}
<p class="note">Note: {{ note }}</p>
{% endfor %}
{% if fixes %}
<section>
<h2>What to fix first</h2>
<ol class="fix">
{% for fix in fixes %}
<li><strong>{{ fix.advice | code_spans }}</strong> <span class="checks">({{ fix.lost }} points; {{ fix.checks | length }} check{{ "s" if fix.checks | length > 1 }} of {{ fix.functions | join(", ") }})</span></li>
{% endfor %}
</ol>
</section>
<section>
<h2>Failed checks ({{ failed | length }})</h2>
{% for result, text in failed %}
<details{{ " open" if loop.index <= open_details }}><summary>{{ result.name }} ({{ result.score | points }} / {{ result.max_score | points }})</summary><pre>{{ text }}</pre></details>
{% endfor %}
</section>
{% endif %}
{% if plots %}
<section>
<h2>Plots</h2>
{% for uri, caption in plots %}
<figure><img src="{{ uri }}" alt="{{ caption }}"><figcaption>{{ caption }}</figcaption></figure>
{% endfor %}
</section>
{% endif %}
<section>
<h2>Checks</h2>
<div class="table-wrap">
<table>
<thead><tr><th>Check</th><th class="points">Points</th><th>Result</th></tr></thead>
<tbody>
{% for result in results %}
<tr class="{{ result.status }}"><td class="name">{{ result.name }}</td><td class="points">{{ result.score | points }} / {{ result.max_score | points }}</td><td class="mark">{{ "✓ pass" if result.status == "passed" else "✗ fail" }}</td></tr>
{% endfor %}
</tbody>
</table>
</div>
</section>
{% if sandbox %}
<section class="instructor">
<h2>For the instructor: the sandbox</h2>
{% for note in sandbox %}
<p class="note">{{ note }}</p>
{% endfor %}
</section>
{% endif %}
</main>
</body>
</html>
""")

OPEN_DETAILS = 3  # the first few failures open; the rest one tap away


@dataclass
class Fix:
    """One thing to fix: a hint (or, without one, the first failure of a function) and what it costs."""

    advice: str
    lost: float = 0.0
    checks: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)  # the functions those checks grade, in order


def submission_name(submission: str) -> str:
    """The submission's own name, not the path of the machine that graded it."""
    return PurePath(submission).name or submission


def without_hint(result: CheckResult) -> str:
    """The check's output without its hint line: the hint is shown once, under What to fix first."""
    return result.output.replace(f"\nHint: {result.hint}", "") if result.hint else result.output


def fixes(results: list[CheckResult]) -> list[Fix]:
    """Each hint once, with the checks it covers; failures without a hint by function; most points first."""
    found: dict[str, Fix] = {}
    for result in results:
        if result.status != "failed":
            continue
        advice = result.hint or without_hint(result).split("\n", 1)[0]
        fix = found.setdefault(result.hint or result.function, Fix(advice))
        fix.lost += result.max_score - result.score
        fix.checks.append(result.name)
        if result.function not in fix.functions:
            fix.functions.append(result.function)
    for fix in found.values():
        fix.lost = f"{fix.lost:g}"
    return sorted(found.values(), key=lambda fix: -float(fix.lost))


def data_uri(path: Path) -> str | None:
    """The file as a data: URI if it is an image, else None."""
    kind, _ = mimetypes.guess_type(path.name)
    if not kind or not kind.startswith("image/") or not path.is_file():
        return None
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render(report: GradeReport) -> str:
    plots = [(uri, path.name) for path in map(Path, report.artifacts) if (uri := data_uri(path))]
    failed = [] if report.problem else [(r, without_hint(r)) for r in report.results if r.status == "failed"]
    return PAGE.render(
        policy=POLICY,
        style=STYLE,
        name=submission_name(report.submission),
        assignment=report.assignment,
        score=f"{report.score:g}",
        max_score=f"{report.max_score:g}",
        seconds=f"{report.execution_time:.1f}",
        version=__version__,
        problem=report.problem,
        notes=for_students(report.notes),
        fixes=fixes(report.results) if failed else [],
        failed=failed,
        open_details=OPEN_DETAILS,
        plots=plots,
        results=report.results,
        sandbox=for_instructor(report.notes),
    )


def write(report: GradeReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
