"""The autodiff assignment graded end to end: both directions, feedback, and robustness."""

from __future__ import annotations

import json
import re
import shutil
import zipfile

import nbformat
import pytest

from conftest import ROOT, read_results, run_grader
from grader import assignments
from grader.grade import grade
from grader.outputs.gradescope import graded_tests

AUTODIFF = assignments.get("autodiff")


def failing(report) -> set[str]:
    return {r.name for r in report.results if r.status == "failed"}


def test_reference_gets_full_marks_through_the_cli(tmp_path):
    done = run_grader("grade", "autodiff", "reference/autodiff", "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    results = read_results(tmp_path / "r.json")
    assert results["score"] == results["max_score"] == 100
    assert all(t["status"] == "passed" for t in results["tests"])
    assert "Score: 100 / 100" in done.stdout


def test_stubs_get_zero_with_not_implemented_messages(tmp_path):
    done = run_grader("grade", "autodiff", "assignments/autodiff", "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    results = read_results(tmp_path / "r.json")
    assert results["score"] == 0 and results["max_score"] == 100
    for test in graded_tests(results):  # not the instructor's hidden sandbox notes
        function = test["name"].split(":")[0]
        assert test["output"].replace("\\_", "_").startswith(f"{function} is not implemented yet"), test  # Markdown-escaped


def test_every_check_name_starts_with_the_function_it_grades():
    graded = {"List2D.mean", "List2D.abs", "List2D.__abs__", "Matrix.mean", "Matrix.abs", "Matrix.__abs__", "MAELoss.forward"}
    checks = AUTODIFF.checks()
    assert {c.name.split(":")[0] for c in checks} == graded
    assert len({c.name for c in checks}) == len(checks), "check names must be unique"


MISTAKES = [
    "mean_grad_not_divided",
    "mean_grad_ignores_upstream",
    "abs_grad_at_zero",
    "abs_grad_overwrites",
    "list2d_mean_divides_by_ncol",
    "mae_squares",
    "nn_syntax_error",
]


@pytest.mark.parametrize("name", MISTAKES)
def test_a_known_mistake_loses_points_on_its_own_checks_only(name, autodiff_examples):
    example = autodiff_examples[name]
    report = grade(AUTODIFF, example.path)
    lost = failing(report)
    assert lost, f"{name} must not get full marks"
    expected = {r.name for r in report.results if r.name.startswith(tuple(example.failing))}
    assert lost <= expected, f"checks of other functions lost points: {sorted(lost - expected)}"
    if example.mistake:
        hinted = [r for r in report.results if r.mistake == example.mistake]
        assert hinted and all(r.hint for r in hinted), f"no hint for the known mistake {example.mistake}"
        assert all(r.status == "failed" for r in hinted)


def test_feedback_names_function_input_expected_and_got(autodiff_examples):
    report = grade(AUTODIFF, autodiff_examples["mean_grad_not_divided"].path)
    result = next(r for r in report.results if r.name == "Matrix.mean: gradient, 3x4 input, upstream 2.5")
    assert result.status == "failed"
    assert "x = [[-1.5, 0, 2, -0.25], [3, -2, 0, 1.25], [0.5, -0.75, 4, -3.5]]" in result.output
    # 2.5 / 12 per entry expected; 2.5 per entry got
    assert re.search(r"expected x\.grad = \[\[0\.208333", result.output)
    assert "got [[2.5, 2.5" in result.output
    assert "Hint: Did you divide by the number of elements" in result.output


def test_syntax_error_in_nn_keeps_matrix_and_list2d_credit(autodiff_examples):
    report = grade(AUTODIFF, autodiff_examples["nn_syntax_error"].path)
    lost = failing(report)
    assert lost == {r.name for r in report.results if r.name.startswith(("MAELoss.forward", "Matrix.mean: gradient inside MSELoss"))}
    assert report.score == 100 - sum(r.max_score for r in report.results if r.name in lost)
    mae = next(r for r in report.results if r.name.startswith("MAELoss.forward"))
    assert re.search(r"could not load nn.py: SyntaxError: .* line \d+", mae.output), mae.output


@pytest.mark.parametrize("name", ["loops_and_sign_mask", "absolute_imports"])
def test_a_correct_variant_written_differently_gets_full_marks(name, autodiff_examples):
    report = grade(AUTODIFF, autodiff_examples[name].path)
    assert failing(report) == set(), [r.output for r in report.results if r.status == "failed"]
    assert report.score == report.max_score == 100


def _reference_notebook(path):
    """The reference library pasted into notebook cells, the way students really write them."""
    cells = [
        nbformat.v4.new_markdown_cell("# Autodiff homework"),
        nbformat.v4.new_code_cell("%matplotlib inline\n!pip install numpy\nimport logging"),
    ]
    for module in ("list2d", "matrix", "nn"):
        source = (ROOT / "reference" / "autodiff" / f"{module}.py").read_text()
        cells.append(nbformat.v4.new_code_cell(re.sub(r"^from \.\w+ import .*$", "", source, flags=re.M)))
    cells += [
        nbformat.v4.new_code_cell("x = Matrix(List2D(2, 2, [[1.0, -2.0], [0.0, 3.0]]))\nx.mean().backward()\nprint(x.grad)"),
        nbformat.v4.new_code_cell("raise ValueError('a cell that raises')"),
        nbformat.v4.new_code_cell("for step in range(10**9):\n    pass  # a long experiment"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"),
        nbformat.v4.new_code_cell("%%bash\necho shell cell"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(notebook, str(path))
    return path


def test_notebook_submission_with_magics_and_failing_cells_gets_full_marks(tmp_path):
    notebook = _reference_notebook(tmp_path / "autodiff.ipynb")
    done = run_grader("grade", "autodiff", notebook, "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    assert read_results(tmp_path / "r.json")["score"] == 100


def test_folder_holding_only_a_notebook_is_graded_from_it(tmp_path):
    (tmp_path / "repo").mkdir()
    _reference_notebook(tmp_path / "repo" / "homework.ipynb")
    assert grade(AUTODIFF, tmp_path / "repo").score == 100


@pytest.mark.parametrize(
    "content, reason",
    [
        ("this is not json", "is not a readable Jupyter notebook"),
        (json.dumps({"cells": "nope", "nbformat": 4}), "is not a readable Jupyter notebook"),
        ("", "is not a readable Jupyter notebook"),
    ],
)
def test_unreadable_notebook_gets_zero_with_a_reason(tmp_path, content, reason):
    bad = tmp_path / "autodiff.ipynb"
    bad.write_text(content)
    done = run_grader("grade", "autodiff", bad, "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    results = read_results(tmp_path / "r.json")
    assert results["score"] == 0
    assert reason in results["output"] and all(reason in t["output"] for t in results["tests"])


def test_zip_of_a_student_repository_is_graded(tmp_path):
    archive = tmp_path / "student.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for module in ("list2d", "matrix", "nn"):
            zipped.write(ROOT / "reference" / "autodiff" / f"{module}.py", f"student-repo/src/{module}.py")
        zipped.writestr("student-repo/README.md", "my homework")
    assert grade(AUTODIFF, archive).score == 100


def test_folder_without_the_assignment_files_gets_zero_with_a_reason(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to grade")
    report = grade(AUTODIFF, tmp_path)
    assert report.score == 0
    assert "none of the assignment's files (list2d.py, matrix.py, nn.py)" in report.problem


def test_missing_file_costs_only_the_checks_that_need_it(tmp_path):
    for module in ("list2d", "matrix"):
        shutil.copy(ROOT / "reference" / "autodiff" / f"{module}.py", tmp_path)
    report = grade(AUTODIFF, tmp_path)
    lost = failing(report)
    assert lost == {r.name for r in report.results if r.name.startswith(("MAELoss", "Matrix.mean: gradient inside MSELoss"))}
    assert any("nn.py was not found" in r.output for r in report.results)


@pytest.mark.parametrize(
    "args, message",
    [
        (("grade", "nope", "reference/autodiff"), "unknown assignment 'nope'; known assignments: autodiff"),
        (("grade", "autodiff", "no/such/folder"), "no such submission: no/such/folder"),
    ],
)
def test_callers_own_mistakes_exit_nonzero_with_a_clear_message(tmp_path, args, message):
    done = run_grader(*args, "--results", tmp_path / "r.json")
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "r.json").exists()
