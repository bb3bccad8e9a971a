"""The rules that turn a judged answer into points, checked on answers written by hand.

* Each check's points are the course's grading scheme, written out here as a table (a
  swap of two checks' points keeps every total and is caught only by the table).
* The autodiff tolerances: both sides compute in float64, so a few ulps of rounding pass
  and a relative error of 1e-5 (a rounded or smoothed answer) fails; the expected
  values below are worked out by hand, not taken from the checks.
* A Matrix op whose result does not lead back to x fails its "value and graph" check.
* ``scoring``: what a passed, failed, crashed, unjudgeable or ungraded check scores and says.
"""

from __future__ import annotations

import math

import pytest

from grader import assignments, judging
from grader.assignments.autodiff import checks as autodiff_checks
from grader.plugin import Check, Outcome, Probe, Verdict
from grader.scoring import MAX_JUDGE_ERROR, MAX_PRINTED, CheckResult, GradeReport, explain_failure, score_check, unreadable

# ---- points ---------------------------------------------------------------------------------

SHAPES = ("1x1", "1x5", "4x1", "3x4")
AUTODIFF_POINTS = {
    **{f"List2D.mean: value, {s} input": 2 for s in SHAPES},
    **{f"List2D.abs: values, {s} input": 2 for s in SHAPES},
    "List2D.__abs__: values, 3x4 input": 2,
    **{f"Matrix.mean: value and graph, {s} input": 3 for s in ("1x1", "1x5", "3x4")},
    **{f"Matrix.mean: gradient, {s} input, upstream 2.5": 4 for s in SHAPES},
    "Matrix.mean: gradient accumulates into an existing x.grad": 4,
    "Matrix.mean: gradient when x is used twice, 3x4 input": 4,
    "Matrix.mean: gradient of the MSE formula against torch.nn.MSELoss": 4,
    **{f"Matrix.abs: value and graph, {s} input": 3 for s in ("1x1 zero", "4x1", "3x4")},
    **{f"Matrix.abs: gradient, {s} input, upstream not ones": 4 for s in ("1x1 zero", "1x5", "4x1", "3x4")},
    "Matrix.abs: gradient accumulates into an existing x.grad": 4,
    "Matrix.abs: gradient when x is used twice, 3x4 input": 4,
    "Matrix.__abs__: value and graph, 3x4 input": 2,
    "Matrix.__abs__: gradient, 3x4 input, upstream not ones": 2,
    "MAELoss.forward: value against torch.nn.L1Loss": 4,
    "MAELoss.forward: gradient against torch.nn.L1Loss": 4,
}
LOOP_POINTS = {
    "returns two lists of floats": 2,
    "updates per epoch": 5,
    "zero_grad discipline": 5,
    "validation once per epoch, parameters untouched": 5,
    "training losses match the reference": 5,
    "validation losses match the reference": 4,
    "final parameters match the reference": 4,
}
DESCENT_POINTS = {
    "make_loaders: training batches": 5,
    "make_loaders: shuffles with the given generator": 3,
    "make_loaders: one unshuffled validation batch": 2,
    **{f"{loop}: {name}": p for loop in ("train_batch_gd", "train_sgd", "train_minibatch_sgd") for name, p in LOOP_POINTS.items()},
}
DATA_POINTS = {
    "split_dataset: three disjoint sets of the given sizes, covering every sample": 14,
    "split_dataset: random, drawn from the given generator": 8,
    "normalize: the training set's statistics, applied to all three sets": 16,
    "normalize: a constant feature comes out as 0": 8,
    "make_proxy: different training samples, each x with its y": 10,
    "make_proxy: random, drawn from the given generator": 6,
    "evaluate: sample-weighted average loss over uneven batches": 16,
    "evaluate: no gradients, parameters and gradients unchanged": 11,
    "evaluate: evaluation mode, then the previous mode back": 11,
}


@pytest.mark.parametrize("name,table", [("autodiff", AUTODIFF_POINTS), ("descent", DESCENT_POINTS), ("data", DATA_POINTS)])
def test_points_of_every_check_are_the_grading_scheme(name, table):
    assert sum(table.values()) == 100
    assert {c.name: c.points for c in assignments.get(name).checks()} == table


def test_points_reach_the_score_of_a_passed_and_a_failed_check():
    check = _check(lambda got, ref: Verdict(got == ref), points=7)
    assert score_check(check, Outcome("ok", value=1), Outcome("ok", value=1)).score == 7
    failed = score_check(check, Outcome("ok", value=2), Outcome("ok", value=1))
    assert (failed.score, failed.max_score, failed.status) == (0.0, 7, "failed")


# ---- autodiff tolerances and the graph ------------------------------------------------------

X_3x4 = [[-1.5, 0.0, 2.0, -0.25], [3.0, -2.0, 0.0, 1.25], [0.5, -0.75, 4.0, -3.5]]
MEAN_3x4 = 2.75 / 12  # the rows sum to 0.25, 2.25 and 0.25
ULP = math.ulp(1.0)


def _autodiff_judge(name: str):
    """The public check's judge (the instructor's grade guards it with hidden inputs too)."""
    check = next(c for c in autodiff_checks.checks() if c.name == name)
    return lambda got: check.judge(got, None)


@pytest.mark.parametrize("relative,passes", [(4 * ULP, True), (1e-9, True), (1e-5, False), (1e-4, False)])
def test_autodiff_tolerance_passes_rounding_and_fails_a_small_error_in_a_value(relative, passes):
    judge = _autodiff_judge("List2D.mean: value, 3x4 input")
    got = {"is_number": True, "type": "float", "input_after": X_3x4, "value": MEAN_3x4 * (1 + relative), "replaced": []}
    assert judge(got).passed is passes


@pytest.mark.parametrize("relative,passes", [(4 * ULP, True), (1e-5, False)])
def test_autodiff_tolerance_passes_rounding_and_fails_a_small_error_in_a_gradient(relative, passes):
    judge = _autodiff_judge("Matrix.mean: gradient, 3x4 input, upstream 2.5")
    grad = [[2.5 / 12 * (1 + relative)] * 4 for _ in range(3)]  # d(2.5 * mean(x))/dx = 2.5 / 12 everywhere
    got = {"is_matrix": True, "grad": grad, "reaches_x": True, "attached": True, "replaced": []}
    assert judge(got).passed is passes


def test_autodiff_tolerance_fails_an_absolute_error_near_zero():
    """|0| is 0 exactly; an |x| smoothed as sqrt(x*x + 1e-14) gives 1e-7 there."""
    judge = _autodiff_judge("Matrix.abs: value and graph, 1x1 zero input")
    got = {"is_matrix": True, "input_after": [[0.0]], "vals": [[1e-7]], "reaches_x": True, "replaced": []}
    assert not judge(got).passed
    assert judge({**got, "vals": [[0.0]]}).passed


@pytest.mark.parametrize("function", ["Matrix.mean", "Matrix.abs", "Matrix.__abs__"])
def test_a_right_value_not_wired_into_the_graph_fails_value_and_graph(function):
    judge = _autodiff_judge(f"{function}: value and graph, 3x4 input")
    value = [[MEAN_3x4]] if function == "Matrix.mean" else [[abs(v) for v in row] for row in X_3x4]
    wired = {"is_matrix": True, "input_after": X_3x4, "vals": value, "reaches_x": True, "replaced": []}
    assert judge(wired).passed
    verdict = judge({**wired, "reaches_x": False})
    assert not verdict.passed and verdict.mistake == "not-wired" and "children=(self,)" in verdict.hint


# ---- scoring ------------------------------------------------------------------------------


def _check(judge, points: float = 4, name: str = "f: it works") -> Check:
    return Check(name, points, Probe("p", "p"), judge)


def test_a_failed_check_says_the_judges_message_and_hint_and_what_the_code_printed():
    check = _check(lambda got, ref: Verdict(False, "f: expected 1, got 2", "Add one.", "off-by-one"))
    result = score_check(check, Outcome("ok", value=2, output="  debug line \n"), Outcome("ok", value=1))
    assert result == CheckResult("f: it works", 4, 0.0, "f: expected 1, got 2\nHint: Add one.\nYour code printed:\ndebug line", "Add one.", "off-by-one", False, result.seconds)
    assert result.function == "f" and not result.ungraded


def test_a_passed_check_shows_no_printed_output():
    check = _check(lambda got, ref: Verdict(True, "f: right"))
    result = score_check(check, Outcome("ok", value=1, output="noise"), Outcome("ok", value=1))
    assert (result.score, result.output, result.status) == (4, "f: right", "passed")


def test_printed_output_is_cut_at_its_limit():
    check = _check(lambda got, ref: Verdict(False, "f: wrong"))
    long = score_check(check, Outcome("ok", value=1, output="x" * (MAX_PRINTED + 1)), Outcome("ok", value=1)).output
    assert long == "f: wrong\nYour code printed:\n" + "x" * MAX_PRINTED + " ..."
    exact = score_check(check, Outcome("ok", value=1, output="y" * MAX_PRINTED), Outcome("ok", value=1)).output
    assert exact == "f: wrong\nYour code printed:\n" + "y" * MAX_PRINTED


def test_a_judge_that_raises_fails_its_check_with_the_error_cut_short():
    def judge(got, ref):
        raise ValueError("z" * 1000)

    result = score_check(_check(judge), Outcome("ok", value=1), Outcome("ok", value=1))
    reason = ("ValueError: " + "z" * 1000)[:MAX_JUDGE_ERROR]
    assert (result.score, result.output) == (0.0, f"f: it works: the answer could not be judged ({reason})")
    assert not result.ungraded


def test_a_judge_starved_by_the_machine_is_ungraded(monkeypatch):
    def starved(function, *args):
        raise judging.Starved("judging waited")

    monkeypatch.setattr(judging, "run_limited", starved)
    result = score_check(_check(lambda got, ref: Verdict(True)), Outcome("ok", value=1), Outcome("ok", value=1))
    message = "Not graded: judging waited, so the machine was too busy; try again"
    assert result == CheckResult("f: it works", 4, 0.0, message, ungraded=True, seconds=result.seconds)


def test_an_ungraded_probe_is_ungraded_not_zero_and_names_the_function():
    check = _check(lambda got, ref: Verdict(True), name="List2D.mean: value: 3x4 input")  # the function ends at the first colon
    result = score_check(check, Outcome("ungraded", error="could not be graded; try again"), Outcome("ok", value=1))
    assert result == CheckResult(check.name, 4, 0.0, "List2D.mean could not be graded; try again", ungraded=True, seconds=result.seconds)


def test_a_reference_that_fails_is_the_graders_bug_never_the_students():
    with pytest.raises(RuntimeError, match="grader bug: the reference fails probe p: boom"):
        score_check(_check(lambda got, ref: Verdict(True)), Outcome("ok", value=1), Outcome("error", error="boom"))


@pytest.mark.parametrize(
    "outcome,message",
    [
        (Outcome("error", error="NotImplementedError: todo"), "f is not implemented yet (it raises NotImplementedError)."),
        (Outcome("error", error="ValueError: bad", traceback="  line 3"), "f raised ValueError: bad\nWhere (most recent call last):\n  line 3"),
        (Outcome("load_error", error="SyntaxError in nn.py"), "f could not be checked: SyntaxError in nn.py"),
        (Outcome("timeout", error="ran past its 3 s of CPU time"), "f ran past its 3 s of CPU time"),
        (Outcome("crashed", error="the process died"), "f could not be checked: the process died"),
    ],
)
def test_a_probe_that_did_not_answer_fails_with_its_reason(outcome, message):
    check = _check(lambda got, ref: Verdict(True))
    assert explain_failure(check, outcome) == message
    result = score_check(check, outcome, Outcome("ok", value=1))
    assert (result.score, result.output, result.ungraded) == (0.0, message, False)


def test_the_time_of_a_probe_shared_by_checks_is_split_among_them(monkeypatch):
    monkeypatch.setattr("grader.scoring.time.perf_counter", lambda: 5.0)  # judging itself takes no time
    check = _check(lambda got, ref: Verdict(True))
    assert score_check(check, Outcome("ok", value=1, seconds=3.0), Outcome("ok", value=1)).seconds == 3.0  # not shared
    assert score_check(check, Outcome("ok", value=1, seconds=3.0), Outcome("ok", value=1), sharing=3).seconds == 1.0
    assert score_check(check, Outcome("ok", value=1, seconds=3.0), Outcome("ok", value=1), sharing=0).seconds == 3.0
    assert score_check(check, Outcome("ok", value=1, seconds=1.0), Outcome("ok", value=1), sharing=3).seconds == 0.3333  # 4 decimals


def test_a_report_adds_up_its_checks_and_is_ungraded_if_one_is():
    results = [CheckResult("a: x", 0.1, 0.1, ""), CheckResult("b: y", 0.2, 0.2, ""), CheckResult("c: z", 2, 0.0, "")]
    report = GradeReport("autodiff", "s", results)
    assert (report.score, report.max_score, report.ungraded) == (0.3, 2.3, False)  # 0.1 + 0.2 rounded, not 0.30000000000000004
    report.results.append(unreadable(_check(None), "the notebook is not JSON"))
    assert report.results[-1] == CheckResult("f: it works", 4, 0.0, "Not graded: the notebook is not JSON")
    assert report.ungraded is False and report.score == 0.3
    report.results.append(CheckResult("d: w", 1, 0.0, "", ungraded=True))
    assert report.ungraded and report.max_score == 7.3 and report.score == 0.3


def test_a_check_passes_only_with_all_its_points():
    assert CheckResult("a: x", 2, 2, "").status == "passed"
    assert CheckResult("a: x", 2, 1.999, "").status == "failed"
    assert CheckResult("a: x", 2, 3, "").status == "passed"
