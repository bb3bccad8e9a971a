"""The report outputs (JUnit, Markdown, HTML) and the GitHub Classroom reporter format."""

from __future__ import annotations

import base64
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.cli import main
from grader.outputs import classroom, gradescope, html, junit, markdown
from grader.plugin import repo_path
from grader.scoring import CheckResult, GradeReport

HOSTILE = "<script>document.body.dataset.pwned = 1</script> | `` ``` ``` \x1b[31mred\x1b[0m \x00 & <img src=x onerror=alert(1)>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_png(path: Path) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1.5))
    figure.add_subplot().plot([3, 2, 1.5, 1.2])
    figure.savefig(path, dpi=50)
    return path


@pytest.fixture
def report(tmp_path) -> GradeReport:
    """A small report with every kind of content: passes, failures quoting hostile student
    output, notes and a plot."""
    return GradeReport(
        assignment="autodiff",
        submission="student <b>repo</b>",
        results=[
            CheckResult("List2D.mean: value, 3x4 input", 2, 0.0, f"expected 0.229, got 2.75\nYour code printed:\n{HOSTILE}"),
            CheckResult("List2D.abs: values | piped", 2, 0.0, "```\nfence inside\n```"),
            CheckResult("Matrix.abs: gradient, 3x4 input", 4, 4, ""),
            CheckResult("MAELoss.forward: value", 4, 4, ""),
        ],
        execution_time=1.5,
        notes=["list2d.py found at <odd>/list2d.py"],
        artifacts=[tiny_png(tmp_path / "loss.png"), tmp_path / "not-an-image.txt"],
    )


# ---- JUnit ---------------------------------------------------------------------------


def test_junit_has_one_testcase_per_check_with_points_and_failures(report, tmp_path):
    junit.write(report, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()  # parses: control characters were cleaned
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("4", "2")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r.name for r in report.results]
    assert [c.get("classname") for c in cases][2] == "autodiff.Matrix.abs"
    assert all(c.find("properties") is None for c in cases)  # Jenkins' schema has none on a testcase
    assert [c.findtext("system-out") for c in cases] == ["0 / 2 points", "0 / 2 points", "4 / 4 points", "4 / 4 points"]
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["List2D.mean: value, 3x4 input", "List2D.abs: values | piped"]
    text = failed[0].find("failure").text
    assert "<script>" in text and "\\x1b[31mred" in text and "\\x00" in text  # kept as text, shown not raw


# ---- Markdown ------------------------------------------------------------------------


def test_markdown_table_lists_every_check_with_points(report):
    text = markdown.render(report)
    assert text.startswith("### autodiff: 8 / 12 points\n")
    rows = [line for line in text.splitlines() if line.startswith("| ") and " / " in line]
    assert len(rows) == 4
    assert rows[0] == "| ❌ | List2D.mean: value, 3x4 input | 0 / 2 |"
    assert rows[1] == "| ❌ | List2D.abs: values \\| piped | 0 / 2 |"  # a pipe cannot break the table
    assert rows[2] == "| ✅ | Matrix.abs: gradient, 3x4 input | 4 / 4 |"


def test_markdown_keeps_student_output_inside_code_blocks(report):
    text = markdown.render(report)
    outside = re.sub(r"(`{3,})text\n.*?\n\1", "", text, flags=re.S)  # drop the fenced blocks
    assert "<script>" not in outside and "<img" not in outside
    assert "\\<odd\\>" in outside  # a note's angle brackets are shown, not parsed
    assert "````text\n```\nfence inside\n```\n````" in text  # fenced longer than the fences inside
    assert "<script>document.body" in text  # verbatim, inside a code block


# ---- HTML ----------------------------------------------------------------------------


def test_html_is_self_contained_and_mobile_ready(report):
    page = html.render(report)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "script-src 'none'" in page and "default-src 'none'" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loads from anywhere else
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1  # the .txt artifact is not an image
    assert base64.b64decode(images[0]) == report.artifacts[0].read_bytes()
    assert base64.b64decode(images[0]).startswith(PNG_MAGIC)


def test_html_escapes_everything_a_student_controls(report):
    page = html.render(report)
    assert page.lower().count("<script") == 0
    assert "<img src=x" not in page and "<b>repo</b>" not in page and "<odd>" not in page
    assert "&lt;script&gt;document.body.dataset.pwned = 1&lt;/script&gt;" in page


def test_html_names_the_submission_not_the_graders_path(report):
    report.submission = "/srv/course-2026/batch/alice <i>homework"
    page = html.render(report)
    assert "<title>alice &lt;i&gt;homework: autodiff 8 / 12</title>" in page
    assert "<h1>autodiff: alice &lt;i&gt;homework</h1>" in page
    assert "/srv/course-2026" not in page


def test_html_rows_show_points_and_verdicts(report):
    page = html.render(report)
    rows = re.findall(r'<tr class="(passed|failed)"><td class="name">(.*?)</td><td class="points">(.*?)</td>', page)
    assert rows == [
        ("failed", "List2D.mean: value, 3x4 input", "0 / 2"),
        ("failed", "List2D.abs: values | piped", "0 / 2"),
        ("passed", "Matrix.abs: gradient, 3x4 input", "4 / 4"),
        ("passed", "MAELoss.forward: value", "4 / 4"),
    ]
    assert page.count("<details open>") == 2


# ---- the Classroom reporter format ---------------------------------------------------


def test_step_ids_are_unique_valid_action_ids_the_reporters_table_shows_whole():
    ids = [classroom.step_id(n) for n in range(1, 33)]
    assert len(set(ids)) == 32 and ids[2] == "check-03"
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", i) for i in ids)
    # autograding-grading-reporter's table: cli-table3 colWidths [20, ...], one space of padding each side
    assert all(len(i) <= 18 for i in ids)


def test_command_grader_result_has_the_reporters_shape():
    result = classroom.decode(classroom.encode(classroom.command_grader_result("A check", "cmd", 1, 4)))
    assert result["version"] == 1 and result["status"] == "fail" and result["max_score"] == 4
    (test,) = result["tests"]
    assert {"name", "status", "score", "message"} <= set(test)
    assert (test["name"], test["status"], test["score"]) == ("A check", "fail", 0)
    passing = classroom.command_grader_result("A check", "cmd", 0, 4)
    assert (passing["status"], passing["tests"][0]["score"]) == ("pass", 4)


def test_reporter_records_real_points_not_pass_fractions(report):
    """One runner per check: Classroom's total and the reporter's table both show real points,
    where a single runner would show the share of checks passed."""
    data = gradescope.results(report)
    environment = classroom.reporter_environment(classroom.step_results(data))
    runners = ",".join(classroom.step_results(data))
    decoded = classroom.reporter_input(environment, runners)
    assert classroom.recorded_points(decoded) == (8, 12)
    assert [score for _, score, _ in classroom.table_rows(decoded)] == [0, 0, 4, 4]
    # The same checks as one runner: its table row would say 2 of 4 passed, 6 of 12 points.
    one_runner = {"version": 1, "status": "fail", "max_score": 12, "tests": [t for _, r in decoded for t in r["tests"]]}
    assert classroom.table_rows([("all", one_runner)])[0][1] == 6


def test_reporter_reads_the_variables_the_real_reporter_reads():
    environment = classroom.reporter_environment({"check-01-a": classroom.command_grader_result("a", "", 0, 2)})
    assert list(environment) == ["CHECK-01-A_RESULTS"]
    json.loads(base64.b64decode(environment["CHECK-01-A_RESULTS"]))  # plain base64 of JSON
    assert classroom.reporter_input(environment, " check-01-a ")[0][1]["tests"][0]["score"] == 2


# ---- grade --junit/--markdown/--html -------------------------------------------------


def test_grade_writes_every_output_for_a_partially_wrong_submission(tmp_path, capsys):
    submission = tmp_path / "partial"
    shutil.copytree(repo_path("reference", "autodiff"), submission)
    source = (submission / "list2d.py").read_text()
    (submission / "list2d.py").write_text(source.replace("return self.sum() / (self.nrow * self.ncol)", "return self.sum()"))
    out = tmp_path / "out"
    code = main(
        ["grade", "autodiff", str(submission), "--results", str(out / "results.json"), "--junit", str(out / "junit.xml"),
         "--markdown", str(out / "summary.md"), "--html", str(out / "report.html"), "--quiet"]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert (results["score"], results["max_score"]) == (94, 100)  # List2D.mean returns the sum: 3 checks of 2 points
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("32", "3")
    assert (out / "summary.md").read_text().startswith("### autodiff: 94 / 100 points")
    assert "<p class=\"score\">94 / 100 points</p>" in (out / "report.html").read_text()


# ---- command-line conventions ---------------------------------------------------------


def test_version_and_plain_top_level_help(capsys):
    from grader import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"nn-grader {__version__}\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m grader ")  # the one name the docs use
    assert "``" not in text and ":class:" not in text  # no reStructuredText
