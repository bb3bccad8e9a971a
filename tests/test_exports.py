"""Every export checked against the format of the platform that imports it, with the
expectations written by hand from that platform's documentation:

* Canvas's gradebook import CSV (its importer, canvas-lms app/models/gradebook_importer.rb):
  the identity columns ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column
  per assignment (every other column becomes a new assignment), a "Points Possible" row;
* JUnit XML: the schema Jenkins' JUnit plugin (and GitLab) read, tests/schemas/junit-jenkins.xsd;
* Gradescope's results.json: ``output_format`` ``md``; tests with ``visibility: hidden`` are
  shown to instructors only;

and every place text from a submission reaches: the terminal (no rich markup, no escape
sequences), HTML, Markdown, JSON and XML.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from grader.batch.export import breakdown_path, write_csv
from grader.batch.gradebook import FAILED, GRADED, Gradebook
from grader.batch.progress import BatchProgress
from grader.batch.report import histogram_plot, mistakes_plot, pass_rate_plot, render, summarize
from grader.cli import main
from grader.outputs import gradescope, html, junit, markdown, summary
from grader.plugin import repo_path
from grader.scoring import CheckResult, GradeReport

SCHEMA = Path(__file__).with_name("schemas") / "junit-jenkins.xsd"
MARKUP = "[bold red]loud[/] [/]"  # rich markup; "[/]" alone crashed rich's parser
FOLDER = "[bold]eve[blink] [i]"  # the same in a folder name, which cannot hold a "/"
ANSI = "\x1b[31mred\x1b[0m\x1b]0;title\x07\x1b[2J"
HINT = "Call `optimizer.zero_grad()` before `loss.backward()`."
SANDBOX = "sandbox WEAKER than intended: no namespaces; so student code has network access"


@pytest.fixture
def report(tmp_path) -> GradeReport:
    printed = f"<img src=x onerror=alert(1)> | ``` {MARKUP} {ANSI} \x00"
    plot = tmp_path / "loss.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    return GradeReport(
        assignment="descent",
        submission=f"/srv/course/batch/{FOLDER}",
        results=[
            CheckResult(f"train_sgd: zero_grad {MARKUP}", 3, 0.0, f"gradients accumulate\nHint: {HINT}\nYour code printed:\n{printed}", HINT, "no-zero-grad"),
            CheckResult("train_batch_gd: zero_grad discipline", 3, 0.0, f"gradients accumulate\nHint: {HINT}", HINT, "no-zero-grad"),
            CheckResult("train_minibatch_sgd: zero_grad discipline", 3, 0.0, f"gradients accumulate\nHint: {HINT}", HINT, "no-zero-grad"),
            CheckResult("List2D.__abs__: values, 3x4 input", 2, 0.0, "List2D.__abs__ returned <b>x</b>\nWhere (most recent call last):\n  File list2d.py, line 3"),
            CheckResult("make_loaders: training batches", 4, 4, ""),
        ],
        execution_time=2.0,
        notes=[f"used {MARKUP}/descent.py", SANDBOX],
        artifacts=[plot],
    )


# ---- Canvas ----------------------------------------------------------------------------


def record(student: str, state: str, score: float | None, checks: list[tuple[str, float, float]]) -> dict:
    return {
        "student": student, "source": student, "hash": "h", "grader_version": "v", "state": state,
        "score": score, "max_score": sum(m for _, _, m in checks), "seconds": 1.0, "problem": "",
        "notes": [SANDBOX.replace("no namespaces", "no namespaces (uid 1234)")],
        "checks": [{"name": n, "score": s, "max_score": m, "status": "passed" if s >= m else "failed", "output": ""} for n, s, m in checks],
    }


@pytest.fixture
def book(tmp_path):
    checks = [("List2D.mean: value", 2.0, 2.0), ("Matrix.abs: gradient", 0.0, 4.0)]
    with Gradebook(tmp_path / "grades.db") as book:
        book.record("autodiff", record("alice", GRADED, 2.0, checks))
        book.record("autodiff", record("=HYPERLINK(1)", GRADED, 6.0, [(n, m, m) for n, _, m in checks]))
        book.record("autodiff", record("bob", FAILED, None, [(n, 0.0, m) for n, _, m in checks]))
        yield book


def read_csv(path: Path) -> list[list[str]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_canvas_csv_has_canvas_identity_columns_and_one_score_column(book, tmp_path):
    assert write_csv(book, "autodiff", tmp_path / "grades.csv") == 3
    table = read_csv(tmp_path / "grades.csv")
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Autodiff: mean, abs and the MAE loss"]
    assert all(len(row) == 6 for row in table)  # Canvas would make any extra column a new assignment
    assert table[1] == ["    Points Possible", "", "", "", "", "6"]  # a new assignment gets its points
    rows = {row[0]: row for row in table[2:]}
    assert rows["alice"] == ["alice", "", "", "alice", "", "2"]
    assert rows["bob"] == ["bob", "", "", "bob", "", ""]  # the grader failed: no grade yet, not 0
    assert rows["'=HYPERLINK(1)"][5] == "6"  # a formula is never run by a spreadsheet


def test_canvas_column_can_name_the_canvas_assignment(book, tmp_path):
    write_csv(book, "autodiff", tmp_path / "grades.csv", column="Autodiff (1234)")
    assert read_csv(tmp_path / "grades.csv")[0][-1] == "Autodiff (1234)"


def test_per_check_breakdown_is_a_separate_csv(book, tmp_path):
    write_csv(book, "autodiff", tmp_path / "grades.csv")
    assert breakdown_path(tmp_path / "grades.csv") == tmp_path / "grades-checks.csv"
    table = read_csv(tmp_path / "grades-checks.csv")
    assert table[0] == ["student", "score", "max_score", "List2D.mean: value", "Matrix.abs: gradient"]
    rows = {row[0]: row[1:] for row in table[1:]}
    assert rows == {"'=HYPERLINK(1)": ["6", "6", "2", "4"], "alice": ["2", "6", "2", "0"], "bob": ["", "6", "", ""]}


def test_class_report_shows_the_sandbox_to_the_instructor(book):
    page = render(summarize(book, "autodiff"), "Autodiff")
    assert "<h2>The sandbox</h2>" in page
    assert "no namespaces (uid N)" in page and ">3</td>" in page  # one line for the class, not one per uid


def test_class_report_charts_stay_readable_on_a_phone(book):
    """A phone about 360 px wide shrinks each chart to its width: charts at most 520 px wide
    keep 9-point text (12.5 px at 100 dpi) at least 8.5 px high."""
    from matplotlib.image import imread

    summary_ = summarize(book, "autodiff")
    summary_.mistakes = [("mean-grad-not-divided", 2, "hint", ["List2D.mean"])]
    summary_.pass_rates = [("train_minibatch_sgd: validation once per epoch, parameters untouched", 1, 3)] * 24
    for chart in (histogram_plot, pass_rate_plot, mistakes_plot):
        png = base64.b64decode(chart(summary_).split(",", 1)[1])
        height, width = imread(io.BytesIO(png)).shape[:2]
        assert width <= 520, (chart.__name__, width)


# ---- JUnit -----------------------------------------------------------------------------


def test_junit_validates_against_the_jenkins_schema(report, tmp_path):
    xmlschema = pytest.importorskip("xmlschema")
    junit.write(report, tmp_path / "junit.xml")
    xmlschema.XMLSchema(SCHEMA).validate(tmp_path / "junit.xml")
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert all(case.get("time") is not None for case in cases)


def test_each_junit_testcase_has_its_own_time(report, tmp_path):
    report.results[0].seconds, report.results[4].seconds = 1.25, 0.0004
    junit.write(report, tmp_path / "junit.xml")
    times = [case.get("time") for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")]
    assert times[0] == "1.250" and times[4] == "0.000"


def test_a_checks_time_is_its_share_of_its_probe_run():
    """Checks that judge one probe run split its CPU time: the class's time is not counted twice."""
    from grader.plugin import Check, Outcome, Probe, passed
    from grader.scoring import score_check

    check = Check("f: value", 1, Probe("p", "probe"), lambda got, expected: passed())
    shared = score_check(check, Outcome("ok", value=1, seconds=3.0), Outcome("ok", value=1), sharing=4)
    alone = score_check(check, Outcome("ok", value=1, seconds=3.0), Outcome("ok", value=1))
    assert 0.75 <= shared.seconds < 3.0 <= alone.seconds  # a quarter of the run each, plus judging


def test_the_schema_rejects_what_jenkins_rejects():
    """The schema is not a rubber stamp: per-testcase properties (what the JUnit export once wrote) fail."""
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(SCHEMA)
    bad = '<testsuites><testsuite name="a" tests="1"><testcase name="x"><properties><property name="p" value="1"/></properties></testcase></testsuite></testsuites>'
    assert not schema.is_valid(bad)


def test_junit_keeps_the_sandbox_out_of_the_students_messages(report):
    document = ET.tostring(junit.document(report).getroot(), encoding="unicode")
    suite = junit.document(report).getroot().find("testsuite")
    assert {p.get("name"): p.get("value") for p in suite.find("properties")}["sandbox"] == SANDBOX
    assert "WEAKER" not in suite.findtext("system-out") and "\x1b" not in document


# ---- Gradescope ------------------------------------------------------------------------


def test_results_json_is_markdown_with_hints_as_code(report):
    data = gradescope.results(report)
    assert data["output_format"] == "md" and data["test_output_format"] == "md"
    first = data["tests"][0]
    assert first["output_format"] == "md"
    assert f"**Hint:** {HINT}" in first["output"]  # the backticks stay: Gradescope shows code as code
    # the student's printed output sits in a fence longer than any backtick run in it
    assert "Your code printed:\n\n````text\n<img src=x onerror=alert(1)> | ``` " in first["output"]
    abs_check = data["tests"][3]["output"]
    assert abs_check.startswith("List2D.\\_\\_abs\\_\\_ returned \\<b\\>x\\</b\\>")  # no bold, no HTML
    assert "```text\n  File list2d.py, line 3\n```" in abs_check.replace("Where (most recent call last):\n", "")


def test_results_json_drops_terminal_escape_sequences(report):
    text = json.dumps(gradescope.results(report))
    assert "\\u001b" not in text and "\\u0000" not in text and "\\u0007" not in text


def test_results_json_never_mentions_files_the_student_cannot_see(report):
    assert "Plot" not in json.dumps(gradescope.results(report)) and "loss.png" not in json.dumps(gradescope.results(report))


def test_results_json_gives_the_sandbox_to_the_instructor_only(report):
    data = gradescope.results(report)
    hidden = [t for t in data["tests"] if t.get("visibility") == "hidden"]
    assert len(hidden) == 1 and SANDBOX in hidden[0]["output"] and hidden[0]["max_score"] == 0
    visible = json.dumps({**data, "tests": gradescope.graded_tests(data)})
    assert "WEAKER" not in visible and "network" not in visible
    assert len(gradescope.graded_tests(data)) == len(report.results)


# ---- Markdown --------------------------------------------------------------------------


def test_markdown_leaves_out_the_sandbox_and_escapes_names(report):
    text = markdown.render(report)
    assert "WEAKER" not in text
    assert "\\[bold red\\]loud\\[/\\]" in text  # a link or markup needs brackets; they are escaped
    assert "<img" not in text.split("````")[0]  # outside the fenced output, no raw HTML
    assert "\x1b" not in text and "\x00" not in text and "red" in text  # escape sequences dropped, their text kept


# ---- terminal --------------------------------------------------------------------------


def test_terminal_summary_prints_markup_as_text_and_drops_escape_sequences(report):
    screen = io.StringIO()
    summary.show(report, Console(file=screen, width=200, force_terminal=False))
    text = screen.getvalue()
    assert f"descent: /srv/course/batch/{FOLDER}" in text and "x train_sgd: zero_grad [bold red]loud[/] [/]" in text
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
    # the sandbox is for the instructor: last, and labelled so
    assert text.rstrip().endswith(f"For the instructor: {SANDBOX}")


def test_a_students_own_check_leaves_the_sandbox_out(report):
    screen = io.StringIO()
    summary.show(report, Console(file=screen, width=200), instructor=False)
    assert "WEAKER" not in screen.getvalue() and "used [bold red]loud[/] [/]/descent.py" in screen.getvalue()


def test_classroom_job_log_shows_the_verdict_as_text(report, tmp_path, capsys):
    gradescope.write(report, tmp_path / "results.json")
    assert main(["verdict", str(tmp_path / "results.json"), "List2D.__abs__: values, 3x4 input"]) == 1
    printed = capsys.readouterr().out
    assert "List2D.__abs__ returned <b>x</b>" in printed  # the Markdown escapes are not shown
    code = main(["verdict", str(tmp_path / "results.json"), f"train_sgd: zero_grad {MARKUP}"])
    printed = capsys.readouterr().out
    assert code == 1 and "\x1b" not in printed and "\x07" not in printed and f"Hint:** {HINT}" in printed


def test_progress_lines_drop_escape_sequences():
    screen = io.StringIO()
    progress = BatchProgress(1, screen, live=False)
    progress.advance({"student": f"eve{ANSI}", "state": GRADED, "problem": "", "score": 1, "max_score": 2, "seconds": 0.5})
    assert "evered" in screen.getvalue() and "\x1b" not in screen.getvalue()


def test_a_folder_named_with_rich_markup_does_not_crash_the_batch(tmp_path, capsys):
    folder = tmp_path / "class"
    shutil.copytree(repo_path("assignments", "autodiff"), folder / FOLDER)
    code = main(["batch", "autodiff", str(folder), "--gradebook", str(tmp_path / "grades.db"), "--plain", "--jobs", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "1 submissions: 1 graded now" in printed
    rows = read_csv(tmp_path / "grades.csv")
    assert rows[2][0] == FOLDER and rows[2][5] == "0"


# ---- HTML ------------------------------------------------------------------------------


def test_html_shows_each_hint_once_fix_first_and_the_sandbox_last(report):
    page = html.render(report)
    assert page.count("optimizer.zero_grad()") == 1  # not under each of the three failures
    assert "Call <code>optimizer.zero_grad()</code> before <code>loss.backward()</code>." in page
    assert "9 points; 3 checks of train_sgd, train_batch_gd, train_minibatch_sgd" in page
    order = [page.index(marker) for marker in ("What to fix first", "Failed checks", "<h2>Checks</h2>", "For the instructor")]
    assert order == sorted(order)
    assert SANDBOX.split(":")[0] in page[order[-1]:]
    assert f"<title>{FOLDER}: descent 4 / 15</title>" in page and "/srv/course" not in page
    assert "\x1b" not in page and "\x00" not in page


# ---- the descent plots -------------------------------------------------------------------


def test_a_diverged_run_is_marked_where_it_diverges_on_the_references_scale(monkeypatch):
    """SGD without zero_grad: the training loss shoots to 1e21, then NaN; validation is NaN.
    The plot stops the run where it diverges, says so, and keeps the reference readable."""
    from matplotlib.figure import Figure

    from grader.assignments.descent import plots as C

    reference = ([0.5, 0.3, 0.2, 0.25, 0.1, 0.12], [0.4, 0.2, 0.15])
    yours = ([0.5, 0.6, 40.0, 1e21, math.nan, math.nan], [math.nan, math.nan, math.nan])
    monkeypatch.setattr(C, "_curves", lambda outcome, reference_: reference if outcome == "ref" else yours)
    monkeypatch.setattr(C.answers, "expected_setup", lambda loop, epochs: SimpleNamespace(per_epoch=2))
    key = C.loop_probe("train_sgd").key
    axes = Figure().add_subplot()
    C._panel(axes, "train_sgd", SimpleNamespace(outcomes={key: "mine"}, reference={key: "ref"}))
    assert "training diverged at update 4" in axes.get_title() and "validation diverged at epoch 1" in axes.get_title()
    low, high = axes.get_ylim()
    assert low <= 0.1 and 40 <= high < 1e3  # the reference's range, and the run up to where it diverged
    drawn = {line.get_label(): list(line.get_ydata()) for line in axes.get_lines() if not line.get_label().startswith("_")}
    assert drawn["yours training"] == [0.5, 0.6, 40.0] and "yours validation" not in drawn


def test_typical_behavior_gives_each_method_its_own_scale(tmp_path, monkeypatch):
    from grader.assignments.descent import plots as C

    monkeypatch.setattr(C, "_curves", lambda outcome, reference_: ([1.0, 0.5], [0.7]) if outcome == "ref" else ([1e4, 1e3], [1e3]))
    report = SimpleNamespace(outcomes={}, reference={C.loop_probe(loop).key: "ref" for loop in C.LOOPS})
    shared = []
    monkeypatch.setattr(C, "_panel", lambda ax, loop, report_: shared.append(ax.get_shared_y_axes().get_siblings(ax)))
    C.artifacts(report, tmp_path)
    assert all(len(siblings) == 1 for siblings in shared[-3:])  # the three panels of "Typical Behavior"
