"""The class report: one self-contained HTML page about a whole class, from the gradebook.

Three plots (embedded as PNG data URIs): the score histogram, the pass rate of each
check, and the most common known mistakes; then the same numbers as tables, and the
students whose submissions could not be graded. Student ids and check texts are
escaped; the page allows no scripts.
"""

from __future__ import annotations

import base64
import io
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from grader.batch.gradebook import FAILED, Gradebook
from grader.outputs.notes import for_instructor
from grader.plugin import function_of

# Charts are drawn at most this wide (inches at 100 dpi) with 9-point text or larger, so a
# phone that shrinks them to its ~360 px width still shows text about 9 px high.
CHART_WIDTH = 5.0
TEXT = 9
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"
TOP_MISTAKES = 10

STYLE = """
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: GrayText; }
.stats { display: flex; flex-wrap: wrap; gap: 1.5rem; padding: 0; list-style: none; }
.stats strong { display: block; font-size: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #d0d7de; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; white-space: nowrap; }
img { max-width: 100%; height: auto; display: block; background: white; }
code { overflow-wrap: anywhere; }
"""


@dataclass
class ClassSummary:
    """The numbers of the report, from the gradebook."""

    assignment: str
    max_score: float = 0.0
    scores: list[float] = field(default_factory=list)  # graded students, unreadable ones included as 0
    graded: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (student, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # grader failures: (student, why)
    pass_rates: list[tuple[str, int, int]] = field(default_factory=list)  # (check, passed, of)
    mistakes: list[tuple[str, int, str, list[str]]] = field(default_factory=list)  # (key, students, hint, checks)
    sandbox: list[tuple[str, int]] = field(default_factory=list)  # (what the sandbox could enforce, students)


def summarize(book: Gradebook, assignment: str) -> ClassSummary:
    summary = ClassSummary(assignment)
    readable: set[str] = set()
    max_scores = Counter()
    for row in book.submissions(assignment):
        if row["state"] == FAILED:
            summary.failed.append((row["student"], row["problem"]))
            continue
        summary.graded += 1
        summary.scores.append(row["score"])
        max_scores[row["max_score"]] += 1
        if row["problem"]:
            summary.unreadable.append((row["student"], row["problem"]))
        else:
            readable.add(row["student"])
    summary.max_score = max_scores.most_common(1)[0][0] if max_scores else 0.0
    sandbox = Counter(
        re.sub(r"uid \d+", "uid N", note)  # each sandbox has its own random uid
        for row in book.submissions(assignment)
        for note in set(for_instructor(json.loads(row["notes"] or "[]")))
    )
    summary.sandbox = sorted(sandbox.items(), key=lambda item: (-item[1], item[0]))

    passed, seen, order = Counter(), Counter(), {}
    mistake_students: dict[str, set[str]] = defaultdict(set)
    mistake_hint: dict[str, str] = {}
    mistake_checks: dict[str, set[str]] = defaultdict(set)
    for row in book.checks(assignment):
        if row["student"] not in readable:  # pass rates over submissions that could be loaded
            continue
        order.setdefault(row["name"], row["position"])
        seen[row["name"]] += 1
        passed[row["name"]] += row["status"] == "passed"
        if row["mistake"]:
            mistake_students[row["mistake"]].add(row["student"])
            mistake_hint.setdefault(row["mistake"], row["hint"])
            mistake_checks[row["mistake"]].add(function_of(row["name"]))
    summary.pass_rates = [(name, passed[name], seen[name]) for name in sorted(order, key=order.get)]
    ranked = sorted(mistake_students, key=lambda key: (-len(mistake_students[key]), key))[:TOP_MISTAKES]
    summary.mistakes = [(key, len(mistake_students[key]), mistake_hint[key], sorted(mistake_checks[key])) for key in ranked]
    return summary


# ---- plots --------------------------------------------------------------------------


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_plot(summary: ClassSummary) -> str:
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(CHART_WIDTH, 3), layout="constrained")
    axes = figure.subplots()
    top = summary.max_score or max(summary.scores, default=1) or 1
    axes.hist(summary.scores, bins=20, range=(0, top), color="#0969da", edgecolor="white")
    axes.set_xlabel(f"score (out of {top:g})")
    axes.set_ylabel("students")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Score distribution")
    return _png(figure)


def pass_rate_plot(summary: ClassSummary) -> str:
    """One row per check: its whole name on a line of its own, its bar below, so the bars
    keep the chart's full width on a phone."""
    from matplotlib.figure import Figure

    names = [name for name, _, _ in summary.pass_rates]
    rates = [100 * ok / of if of else 0 for _, ok, of in summary.pass_rates]
    figure = Figure(figsize=(CHART_WIDTH, 0.9 + 0.42 * len(names)), layout="constrained")
    axes = figure.subplots()
    axes.barh(range(len(names)), rates, height=0.45, color=["#1a7f37" if r >= 50 else "#cf222e" for r in rates])
    for row, (name, rate) in enumerate(zip(names, rates)):
        axes.text(0, row - 0.26, f"{rate:.0f}%  {name}", fontsize=TEXT, va="bottom", clip_on=True)  # a long name loses its end, never the rate
    axes.set_yticks([])
    axes.set_ylim(len(names) - 0.5, -1)  # the assignment's order, top to bottom
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of students passing", fontsize=TEXT)
    axes.set_title("Pass rate per check")
    return _png(figure)


def mistakes_plot(summary: ClassSummary) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = [key for key, *_ in summary.mistakes]
    counts = [count for _, count, *_ in summary.mistakes]
    figure = Figure(figsize=(CHART_WIDTH, 0.9 + 0.35 * max(1, len(keys))), layout="constrained")
    axes = figure.subplots()
    axes.barh(range(len(keys)), counts, color="#bf8700")
    axes.set_yticks(range(len(keys)), keys, fontsize=TEXT)
    axes.invert_yaxis()
    axes.set_xlabel("students")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Most common known mistakes")
    return _png(figure)


# ---- page ---------------------------------------------------------------------------


def _figure(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(alt)}"></figure>'


def render(summary: ClassSummary, title: str) -> str:
    scores = summary.scores
    stats = [
        ("students", len(scores) + len(summary.failed)),
        ("mean", f"{statistics.fmean(scores):.1f}" if scores else "-"),
        ("median", f"{statistics.median(scores):g}" if scores else "-"),
        ("full marks", sum(s >= summary.max_score for s in scores) if scores else 0),
        ("could not be graded", len(summary.unreadable) + len(summary.failed)),
    ]
    parts = [
        f'<h1>{escape(title)}</h1><p class="meta">Class report for <code>{escape(summary.assignment)}</code>, out of {summary.max_score:g} points</p>',
        '<ul class="stats">' + "".join(f"<li><strong>{escape(str(v))}</strong>{escape(k)}</li>" for k, v in stats) + "</ul>",
    ]
    if scores:
        parts.append("<h2>Scores</h2>" + _figure(histogram_plot(summary), "histogram of scores"))
    if summary.pass_rates:
        readable = summary.pass_rates[0][2]
        parts.append(f"<h2>Pass rate per check</h2><p class=\"meta\">Over the {readable} submissions that could be loaded.</p>")
        parts.append(_figure(pass_rate_plot(summary), "pass rate per check"))
        rows = "".join(
            f'<tr><td>{escape(name)}</td><td class="number">{ok} / {of}</td><td class="number">{100 * ok / of:.0f}%</td></tr>'
            for name, ok, of in summary.pass_rates
        )
        parts.append(f'<table><thead><tr><th>Check</th><th class="number">Passed</th><th class="number">Rate</th></tr></thead><tbody>{rows}</tbody></table>')
    parts.append("<h2>Most common known mistakes</h2>")
    if summary.mistakes:
        parts.append(_figure(mistakes_plot(summary), "most common known mistakes"))
        rows = "".join(
            f'<tr><td><code>{escape(key)}</code></td><td class="number">{count}</td><td>{escape(", ".join(checks))}</td><td>{escape(hint)}</td></tr>'
            for key, count, hint, checks in summary.mistakes
        )
        parts.append(f'<table><thead><tr><th>Mistake</th><th class="number">Students</th><th>In</th><th>Hint given</th></tr></thead><tbody>{rows}</tbody></table>')
    else:
        parts.append("<p>No known mistake was recognised.</p>")
    attention = [(s, "submission: " + why) for s, why in summary.unreadable] + [(s, "grader: " + why) for s, why in summary.failed]
    if attention:
        rows = "".join(f"<tr><td>{escape(s)}</td><td>{escape(why)}</td></tr>" for s, why in sorted(attention))
        parts.append(
            "<h2>Could not be graded</h2><p class=\"meta\">Submission problems score 0; grader failures have no score and are graded again on the next run.</p>"
            f"<table><thead><tr><th>Student</th><th>Why</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if summary.sandbox:
        rows = "".join(f'<tr><td>{escape(note)}</td><td class="number">{count}</td></tr>' for note, count in summary.sandbox)
        parts.append(
            "<h2>The sandbox</h2><p class=\"meta\">What isolation held while grading (students are not shown this).</p>"
            f'<table><thead><tr><th>Sandbox</th><th class="number">Students</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    body = "\n".join(parts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f"<title>{escape(title)}: class report</title><style>{STYLE}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def write_class_report(book: Gradebook, assignment: str, title: str, path: Path) -> ClassSummary:
    summary = summarize(book, assignment)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(render(summary, title), encoding="utf-8")
    temporary.replace(path)
    return summary
