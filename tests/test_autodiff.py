"""The autodiff assignment graded end to end: both directions, feedback, and robustness."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import re
import shutil
import sys
import types
import zipfile

import nbformat
import pytest
import torch

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


EXAMPLES = ROOT / "examples" / "autodiff"
MISTAKES = sorted(p.stem for p in (EXAMPLES / "mistakes").glob("*.toml"))
VARIANTS = sorted(p.stem for p in (EXAMPLES / "variants").glob("*.toml"))


def gradients(function: str, *shapes: str) -> set[str]:
    upstream = "2.5" if function == "Matrix.mean" else "not ones"
    return {f"{function}: gradient, {shape} input, upstream {upstream}" for shape in shapes}


def values(function: str, *shapes: str) -> set[str]:
    kind = "value and graph" if function.startswith("Matrix.") else "value" if function == "List2D.mean" else "values"
    return {f"{function}: {kind}, {shape} input" for shape in shapes}


def reused(function: str) -> set[str]:
    """The checks where x.grad starts non-zero or x is used twice."""
    return {f"{function}: gradient accumulates into an existing x.grad", f"{function}: gradient when x is used twice, 3x4 input"}


MSE = {"Matrix.mean: gradient of the MSE formula against torch.nn.MSELoss"}
MAE_VALUE, MAE_GRADIENT = "MAELoss.forward: value against torch.nn.L1Loss", "MAELoss.forward: gradient against torch.nn.L1Loss"
ALL_SHAPES = ("1x1", "1x5", "4x1", "3x4")
ABS_SHAPES = ("1x1 zero", "1x5", "4x1", "3x4")  # every one holds a zero
EVERY_ABS_CHECK = values("Matrix.abs", "1x1 zero", "4x1", "3x4") | gradients("Matrix.abs", *ABS_SHAPES) | reused("Matrix.abs")
ABS_NONZERO_GRADIENTS = gradients("Matrix.abs", "1x5", "4x1", "3x4") | reused("Matrix.abs")  # [[0]]'s gradient is 0 anyway

# For each example mistake, exactly the checks it must fail; every other check must pass.
EXPECTED_FAILURES = {
    "abs_closure_never_attached": ABS_NONZERO_GRADIENTS,
    "abs_grad_at_zero": gradients("Matrix.abs", *ABS_SHAPES) | reused("Matrix.abs"),
    "abs_grad_copysign": gradients("Matrix.abs", *ABS_SHAPES) | reused("Matrix.abs"),
    "abs_grad_overwrites": reused("Matrix.abs"),
    "abs_grad_relu_only": ABS_NONZERO_GRADIENTS,
    # Its closure still writes x.grad, so gradients come out right; the graph is what is wrong.
    "abs_not_wired": values("Matrix.abs", "1x1 zero", "4x1", "3x4"),
    "abs_returns_list2d": EVERY_ABS_CHECK,
    "abs_smoothed_with_epsilon": values("Matrix.abs", "1x1 zero", "4x1", "3x4"),  # off by 1e-7 at 0: the tolerance is tight
    # Its __abs__ (self.abs()) is right: judged with a correct abs, it passes.
    "abs_returns_builtin_abs_of_self": EVERY_ABS_CHECK,
    "list2d_abs_mutates_input": values("List2D.abs", *ALL_SHAPES),
    "list2d_abs_returns_plain_list": values("List2D.abs", *ALL_SHAPES),
    "list2d_mean_divides_by_ncol": values("List2D.mean", "4x1", "3x4"),  # one row: ncol is the count
    "list2d_mean_rounds": values("List2D.mean", "3x4"),  # the other means are exact at 4 decimals
    "mae_on_plain_numbers": {MAE_GRADIENT},
    "mae_squares": {MAE_VALUE, MAE_GRADIENT},
    "mae_sum_not_mean": {MAE_VALUE, MAE_GRADIENT},
    "matrix_mean_not_implemented": values("Matrix.mean", "1x1", "1x5", "3x4") | gradients("Matrix.mean", *ALL_SHAPES) | reused("Matrix.mean") | MSE,
    "mean_backward_raises": gradients("Matrix.mean", *ALL_SHAPES) | reused("Matrix.mean") | MSE,
    "mean_closure_micrograd_name": gradients("Matrix.mean", *ALL_SHAPES) | reused("Matrix.mean") | MSE,
    "mean_forward_divides_by_nrow": values("Matrix.mean", "1x5", "3x4"),
    "mean_grad_divides_by_nrow": gradients("Matrix.mean", "1x5", "3x4") | reused("Matrix.mean"),  # one column: nrow is the count
    "mean_grad_ignores_upstream": gradients("Matrix.mean", *ALL_SHAPES) | reused("Matrix.mean"),  # MSE's upstream is 1
    "mean_grad_not_divided": gradients("Matrix.mean", "1x5", "4x1", "3x4") | reused("Matrix.mean") | MSE,
    "nn_syntax_error": {MAE_VALUE, MAE_GRADIENT},
}


def test_every_example_mistake_has_expectations():
    assert set(MISTAKES) == set(EXPECTED_FAILURES)
    names = {check.name for check in AUTODIFF.checks()}
    assert set().union(*EXPECTED_FAILURES.values()) <= names, "an expectation names no check"
    assert len(MISTAKES) >= 20 and len(VARIANTS) >= 10


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_fails_exactly_its_checks(name, autodiff_examples):
    example = autodiff_examples[name]
    report = grade(AUTODIFF, example.path)
    lost = failing(report)
    expected = EXPECTED_FAILURES[name]
    assert lost == expected, f"unexpected: {sorted(lost - expected)}; missing: {sorted(expected - lost)}"
    assert {n.split(":")[0] for n in lost} == set(example.failing), "the example's `failing` is out of date"
    assert report.score == 100 - sum(r.max_score for r in report.results if r.name in lost)
    for result in report.results:
        if result.name in lost:
            assert result.output.startswith(result.function), "the message names the function"
            if example.mistake:
                assert result.hint and result.mistake, (result.name, result.output)
    if example.mistake:
        assert example.mistake in {r.mistake for r in report.results if r.name in lost}


@pytest.mark.parametrize("name", VARIANTS)
def test_a_correct_variant_written_differently_gets_full_marks(name, autodiff_examples):
    report = grade(AUTODIFF, autodiff_examples[name].path)
    assert failing(report) == set(), [r.output for r in report.results if r.status == "failed"]
    assert report.score == report.max_score == 100


# ---- the examples' labels, checked against PyTorch without the grader ---------------------
# Each graded function of an example runs with the example's own classes and the other graded
# functions taken from the reference (its code bound to the example's module), on inputs the
# grader does not use. It is wrong iff a type, the input, x's place in the graph, the value or
# the gradient (starting from a non-zero x.grad) disagrees with torch float64 autograd.

X = [[0.0, -1.25, 3.0], [2.0, -0.5, 0.0]]
UPSTREAM = [[1.5, -2.0, 0.5], [-1.0, 3.0, 2.0]]
START = [[0.25, -0.5, 1.0], [0.0, 2.0, -1.5]]
PREDICTED, TARGETS = [[0.5], [2.0], [-1.0], [4.0]], [[1.5], [2.0], [1.0], [3.0]]
GRADED = {
    "List2D.mean": ("list2d", "List2D", "mean"),
    "List2D.abs": ("list2d", "List2D", "abs"),
    "List2D.__abs__": ("list2d", "List2D", "__abs__"),
    "Matrix.mean": ("matrix", "Matrix", "mean"),
    "Matrix.abs": ("matrix", "Matrix", "abs"),
    "Matrix.__abs__": ("matrix", "Matrix", "__abs__"),
    "MAELoss.forward": ("nn", "MAELoss", "forward"),
}


def _tensor(values, grad=False):
    return torch.tensor(values, dtype=torch.float64, requires_grad=grad)


def _agrees(got, expected) -> bool:
    return torch.allclose(_tensor(got), _tensor(expected), rtol=1e-9, atol=1e-12)


def _reaches(node, x) -> bool:
    return any(child is x or _reaches(child, x) for child in node._children)


def _import_example(path, monkeypatch) -> dict:
    """The example's three modules; one that fails to import maps to its error. A repository
    whose files sit in a package folder is imported under that package's own name."""
    home = next(path.rglob("list2d.py")).parent
    if home == path:
        package = f"example_{path.name}"
        spec = importlib.util.spec_from_file_location(package, path / "__init__.py", submodule_search_locations=[str(path)])
        monkeypatch.setitem(sys.modules, package, importlib.util.module_from_spec(spec))
    else:
        package = home.name
        monkeypatch.syspath_prepend(str(home.parent))
    monkeypatch.syspath_prepend(str(home))
    modules = {}
    for name in ("list2d", "matrix", "nn"):
        try:
            modules[name] = importlib.import_module(f"{package}.{name}")
            monkeypatch.setitem(sys.modules, name, modules[name])  # for `from list2d import List2D`
        except Exception as error:
            modules[name] = error
    return modules


def _wrong_against_torch(modules, function) -> str:
    """Why ``function`` disagrees with torch, or "" when it agrees."""
    if isinstance(modules[GRADED[function][0]], Exception):
        return f"cannot import: {modules[GRADED[function][0]]}"
    List2D = modules["list2d"].List2D
    if function == "List2D.mean":
        data = List2D(2, 3, copy.deepcopy(X))
        value = data.mean()
        return "" if isinstance(value, float) and _agrees(value, _tensor(X).mean().item()) and data.vals == X else f"got {value!r}"
    if function.startswith("List2D."):
        data = List2D(2, 3, copy.deepcopy(X))
        result = abs(data) if function.endswith("__abs__") else data.abs()
        right = isinstance(result, List2D) and result is not data and _agrees(result.vals, _tensor(X).abs().tolist())
        return "" if right and data.vals == X else f"got {result!r} from {data.vals}"
    Matrix = modules["matrix"].Matrix
    if function.startswith("Matrix."):
        upstream = [[2.5]] if function == "Matrix.mean" else UPSTREAM
        expected_x = _tensor(X, grad=True)
        expected = expected_x.mean().reshape(1, 1) if function == "Matrix.mean" else expected_x.abs()
        (expected * _tensor(upstream)).sum().backward()
        x = Matrix(List2D(2, 3, copy.deepcopy(X)))
        x.grad = List2D(2, 3, copy.deepcopy(START))
        y = abs(x) if function.endswith("__abs__") else getattr(x, function.split(".")[1])()
        if not isinstance(y, Matrix) or not _agrees(y.data.vals, expected.tolist()) or x.data.vals != X or not _reaches(y, x):
            return f"got {y!r}"
        (y * Matrix(List2D(len(upstream), len(upstream[0]), upstream))).sum().backward()
        return "" if _agrees(x.grad.vals, (expected_x.grad + _tensor(START)).tolist()) else f"x.grad {x.grad.vals}"
    prediction = _tensor(PREDICTED, grad=True)
    expected = torch.nn.L1Loss()(prediction, _tensor(TARGETS))
    expected.backward()
    yhat = Matrix(List2D(4, 1, PREDICTED))
    loss = modules["nn"].MAELoss()(yhat, Matrix(List2D(4, 1, TARGETS)))
    if not isinstance(loss, Matrix) or not _agrees(loss.data.vals, [[expected.item()]]):
        return f"got {loss!r}"
    loss.backward()
    return "" if _agrees(yhat.grad.vals, prediction.grad.tolist()) else f"gradient {yhat.grad.vals}"


def _judged_alone(modules, function) -> str:
    """``_wrong_against_torch`` with every other graded function the reference's."""
    from reference.autodiff import list2d, matrix, nn

    reference = {"list2d": list2d, "matrix": matrix, "nn": nn}
    saved = []
    for other, (module, owner, attribute) in GRADED.items():
        if other == function or isinstance(modules[module], Exception):
            continue
        code = vars(vars(reference[module])[owner])[attribute]
        cls = getattr(modules[module], owner)
        saved.append((cls, attribute, vars(cls).get(attribute)))
        setattr(cls, attribute, types.FunctionType(code.__code__, vars(modules[module]), attribute))
    try:
        return _wrong_against_torch(modules, function)
    except Exception as error:
        return f"raised {type(error).__name__}: {error}"
    finally:
        for cls, attribute, original in saved:
            setattr(cls, attribute, original) if original is not None else delattr(cls, attribute)


@pytest.mark.parametrize("name", MISTAKES + [v for v in VARIANTS if not v.startswith("pkg_")])  # pkg_*: import layouts, tested with the loader
def test_an_examples_label_agrees_with_torch(name, autodiff_examples, monkeypatch):
    example = autodiff_examples[name]
    before = set(sys.modules)
    try:
        modules = _import_example(example.path, monkeypatch)
        wrong = {function: why for function in GRADED if (why := _judged_alone(modules, function))}
    finally:
        for module in set(sys.modules) - before:  # the example's package must not leak into other tests
            del sys.modules[module]
    assert set(wrong) == set(example.failing), wrong


def test_points_follow_what_a_check_judges():
    """Values 2-3 points, gradients 4, the built-in abs 2 each, the loss 4 and 4: 100 in all."""
    for check in AUTODIFF.checks():
        if check.function in ("List2D.mean", "List2D.abs", "List2D.__abs__", "Matrix.__abs__"):
            assert check.points == 2, check.name
        elif "value and graph" in check.name:
            assert check.points == 3, check.name
        else:
            assert check.points == 4, check.name
    assert sum(check.points for check in AUTODIFF.checks()) == 100


def test_a_correct_function_is_judged_with_the_graded_functions_it_calls_made_correct(autodiff_examples):
    """A wrong List2D.abs or a missing Matrix.mean costs the callers nothing, and a caller's
    own failure says that the cause is in it, since its callees were replaced."""
    report = grade(AUTODIFF, autodiff_examples["abs_grad_relu_only"].path)
    result = next(r for r in report.results if r.name == "Matrix.abs: gradient, 3x4 input, upstream not ones")
    assert "For this check your List2D.abs was replaced by a correct version: the cause is in Matrix.abs, not in List2D.abs." in result.output
    assert "Hint: For negative entries |x| = -x, so the local gradient there is -1." in result.output


def test_feedback_names_function_input_expected_and_got(autodiff_examples):
    report = grade(AUTODIFF, autodiff_examples["mean_grad_not_divided"].path)
    result = next(r for r in report.results if r.name == "Matrix.mean: gradient, 3x4 input, upstream 2.5")
    assert result.status == "failed"
    assert "x = [[-1.5, 0, 2, -0.25], [3, -2, 0, 1.25], [0.5, -0.75, 4, -3.5]]" in result.output
    # 2.5 / 12 per entry expected; 2.5 per entry got
    assert re.search(r"expected x\.grad = \[\[0\.208333", result.output)
    assert "got [[2.5, 2.5" in result.output
    assert "Hint: Did you divide by the number of elements" in result.output


def test_syntax_error_in_nn_says_where(autodiff_examples):
    report = grade(AUTODIFF, autodiff_examples["nn_syntax_error"].path)
    mae = next(r for r in report.results if r.name.startswith("MAELoss.forward"))
    assert re.search(r"could not load nn.py: SyntaxError: .* line \d+", mae.output), mae.output


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
    assert lost == {r.name for r in report.results if r.name.startswith("MAELoss")}
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
