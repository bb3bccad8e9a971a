"""Autodiff checks: judged in the grading process against PyTorch (float64 autograd),
on the plain data the probes sent back.

Each student function is run with the other graded functions replaced by known-good ones
(see probes.py), so each check judges one function: its value, its gradient through the
student's own backward, and whether x is reachable through the graph it builds.
"""

from __future__ import annotations

import numpy as np
import torch

from grader.plugin import Check, Probe, Verdict, failed, function_of, passed

# Both sides compute in float64 with the same arithmetic; only the summation order may
# differ, which moves results by a few ulps. Any real mistake is orders of magnitude larger.
RTOL, ATOL = 1e-7, 1e-10

# Each probe does microseconds of arithmetic on a dozen numbers; 3 s is generous on a
# loaded machine and keeps a submission that hangs everywhere to about a minute.
TIMEOUT = 3.0

SHAPES = {
    "1x1": [[-2.0]],
    "1x1 zero": [[0.0]],
    "1x5": [[0.0, -1.0, 2.5, -3.0, 0.5]],
    "4x1": [[1.0], [0.0], [-2.5], [4.0]],
    "3x4": [[-1.5, 0.0, 2.0, -0.25], [3.0, -2.0, 0.0, 1.25], [0.5, -0.75, 4.0, -3.5]],
}

GRADED = ("List2D.mean", "List2D.abs", "List2D.__abs__", "Matrix.mean", "Matrix.abs", "Matrix.__abs__", "MAELoss.forward")
CALLS = {"Matrix.mean": "x.mean()", "Matrix.abs": "x.abs()", "Matrix.__abs__": "abs(x)"}


def _upstream(shape_name: str) -> list[list[float]]:
    """A gradient flowing in from above that is not all ones (some of it negative)."""
    rows, cols = len(SHAPES[shape_name]), len(SHAPES[shape_name][0])
    return [[0.5 + i - 0.75 * j for j in range(cols)] for i in range(rows)]


def show(value) -> str:
    """Small matrices printed in full, large ones summarised."""
    if value is None:
        return "nothing"
    array = np.asarray(value, dtype=float)
    if array.size > 24:
        return f"a {array.shape[0]}x{array.shape[1]} matrix (mean {array.mean():.4g}, max |x| {np.abs(array).max():.4g})"
    rows = ["[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in np.atleast_2d(array)]
    return "[" + ", ".join(rows) + "]"


def close(got, expected) -> bool:
    try:
        got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=RTOL, atol=ATOL))


def graded_check(name: str, points: float, probe: Probe, judge) -> Check:
    """A check whose failure message, when the probe replaced graded functions the judged one
    called by correct ones, says that the cause is not in them."""
    function = function_of(name)

    def judged(got, _reference) -> Verdict:
        verdict = judge(got)
        replaced = [callee for callee in GRADED if callee in (got.get("replaced") or [])]
        if verdict.passed or not replaced:
            return verdict
        names = ", ".join(replaced)
        note = f"\n(For this check your {names} {'was' if len(replaced) == 1 else 'were'} replaced by a correct version: the cause is in {function}, not in {names}.)"
        return failed(verdict.message + note, verdict.hint, verdict.mistake)

    return Check(name, points, probe, judged)


# ---- expected values from PyTorch -------------------------------------------------


def torch_op(op, vals, upstream, preset=None):
    """(forward values as 2-D list, x.grad) for ``(op(x) * upstream).sum()`` in float64 autograd."""
    x = torch.tensor(vals, dtype=torch.float64, requires_grad=True)
    y = x.mean().reshape(1, 1) if op == "mean" else x.abs()
    (y * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    grad = x.grad + (torch.tensor(preset, dtype=torch.float64) if preset is not None else 0)
    return y.detach().tolist(), grad.tolist()


def torch_loss(kind, prediction, target):
    yhat = torch.tensor(prediction, dtype=torch.float64, requires_grad=True)
    criterion = torch.nn.L1Loss() if kind == "MAELoss" else torch.nn.MSELoss()
    value = criterion(yhat, torch.tensor(target, dtype=torch.float64))
    value.backward()
    return [[value.item()]], yhat.grad.tolist()


# ---- List2D ------------------------------------------------------------------------

NO_RETURN = "The function ends without returning its result: add a return statement."


def wrong_type_hint(got_type: str, advice: str) -> str:
    return NO_RETURN if got_type == "NoneType" else advice


def list2d_mean_check(shape: str, points: float) -> Check:
    vals = SHAPES[shape]
    expected = float(np.mean(vals))

    def judge(got):
        where = f"List2D.mean on {show(vals)}"
        if not got["is_number"]:
            return failed(f"{where}: expected a float, got a {got['type']}", wrong_type_hint(got["type"], "Return one number, a float."))
        if got["input_after"] != vals:
            return failed(f"{where} changed its input to {show(got['input_after'])}", "Compute the mean without modifying self.vals.")
        if close(got["value"], expected):
            return passed()
        if close(got["value"], expected * len(vals) * len(vals[0])):
            hint, mistake = "That is the sum of the values: divide by the number of elements, nrow * ncol.", "mean-wrong-count"
        else:
            hint, mistake = one_dimension_hint(vals, got["value"], expected)
        return failed(f"{where}: expected {expected:.6g}, got {got['value']:.6g}", hint, mistake)

    probe = Probe(f"list2d_mean:{shape}", "list2d_mean", {"vals": vals}, ("list2d",), TIMEOUT)
    return graded_check(f"List2D.mean: value, {shape} input", points, probe, judge)


def list2d_abs_check(shape: str, points: float, function: str = "List2D.abs") -> Check:
    vals = SHAPES[shape]
    expected = np.abs(vals).tolist()
    call = "abs(data)" if function == "List2D.__abs__" else "data.abs()"

    def judge(got):
        where = f"{function}: {call} with data = {show(vals)}"
        if got["input_after"] != vals:
            return failed(f"{where} changed data to {show(got['input_after'])}", "Build a new List2D for the result; leave self.vals unchanged.", "abs-in-place")
        if got["same_object"]:
            return failed(f"{where} returned data itself", "Build a new List2D for the result and return that.", "abs-in-place")
        if not got["is_list2d"]:
            hint = wrong_type_hint(got["type"], "Wrap the rows in a List2D: List2D(self.nrow, self.ncol, rows).")
            return failed(f"{where}: expected a new List2D, got a {got['type']}", hint, "abs-not-list2d")
        if close(got["vals"], expected):
            return passed()
        return failed(f"{where}: expected {show(expected)}, got {show(got['vals'])}")

    probe = Probe(f"list2d_abs:{shape}:{function}", "list2d_abs", {"function": function, "vals": vals}, ("list2d",), TIMEOUT)
    return graded_check(f"{function}: values, {shape} input", points, probe, judge)


# ---- Matrix ------------------------------------------------------------------------


def _op(function: str) -> str:
    return "mean" if function == "Matrix.mean" else "abs"


def _not_a_matrix(function, where, got) -> Verdict:
    hint = wrong_type_hint(got["type"], "Wrap the result: Matrix(List2D(...), children=(self,)).")
    return failed(f"{function}: {where} returned a {got['type']}, expected a Matrix", hint, "not-a-matrix")


def matrix_forward_check(function: str, shape: str, points: float) -> Check:
    vals = SHAPES[shape]
    expected, _ = torch_op(_op(function), vals, [[1.0]] if function == "Matrix.mean" else np.ones_like(vals).tolist())

    def judge(got):
        where = f"{CALLS[function]} with x = {show(vals)}"
        if not got["is_matrix"]:
            return _not_a_matrix(function, where, got)
        if got["input_after"] != vals:
            return failed(f"{function}: {where} changed x.data to {show(got['input_after'])}", "Build a new List2D for the result; never modify self.data.", "changes-input")
        if not close(got["vals"], expected):
            hint, mistake = one_dimension_hint(vals, got["vals"], expected) if function == "Matrix.mean" else ("", "")
            return failed(f"{function}: {where}: expected the value {show(expected)}, got {show(got['vals'])}", hint, mistake)
        if not got["reaches_x"]:
            return failed(
                f"{function}: {where} returned a Matrix whose graph does not lead back to x (through _children)",
                "Pass children=(self,), or build the result from Matrix operations on self, so that backward() reaches x.",
                "not-wired",
            )
        return passed()

    probe = Probe(f"matrix_forward:{function}:{shape}", "matrix_forward", {"function": function, "vals": vals}, ("list2d", "matrix"), TIMEOUT)
    return graded_check(f"{function}: value and graph, {shape} input", points, probe, judge)


IGNORES_UPSTREAM = ("Multiply by the upstream gradient result.grad (chain rule); it is not always ones.", "ignores-upstream")


def nothing_flowed_hint(reaches_input: bool, attached: bool) -> tuple[str, str]:
    """Why backward() added nothing to the input's gradient, when the graph tells."""
    if not reaches_input:
        return "The result's graph does not lead back to its input: pass children=(self,) so that backward() reaches it.", "not-wired"
    if not attached:
        return (
            "The input's gradient stayed unchanged: the result never got its gradient closure. Assign it before returning: result._gradient = _gradient.",
            "closure-not-attached",
        )
    return "", ""


def one_dimension_hint(vals, got, expected) -> tuple[str, str]:
    """A mean divided by nrow alone or by ncol alone (each a multiple of the right answer)."""
    if close(got, np.asarray(expected) * len(vals)) or close(got, np.asarray(expected) * len(vals[0])):
        return "Divide by the number of elements, nrow * ncol, not by one dimension.", "mean-wrong-count"
    return "", ""


def gradient_hint(op, vals, upstream, got, expected, preset=None) -> tuple[str, str]:
    """Recognise the usual gradient mistakes by comparing with what each would produce."""
    grad = np.asarray(got["grad"], dtype=float)
    start = np.asarray(preset, dtype=float) if preset is not None else np.zeros_like(grad)
    grad_only = np.asarray(expected) - start
    if not np.any(grad - start):
        return nothing_flowed_hint(got["reaches_x"], got["attached"])
    if preset is not None and close(grad, grad_only):
        return "Gradients accumulate: add into self.grad with +=, do not assign it.", "grad-overwritten"
    _, without_upstream = torch_op(op, vals, np.ones_like(np.asarray(upstream, dtype=float)).tolist(), preset)
    if not np.allclose(upstream, 1.0) and close(grad, without_upstream):
        return IGNORES_UPSTREAM
    if op == "mean":
        if close(grad - start, grad_only * len(vals) * len(vals[0])):
            return "Did you divide by the number of elements (nrow * ncol)?", "mean-grad-not-divided"
        return one_dimension_hint(vals, grad - start, grad_only)
    x = np.asarray(vals)
    wrong = ~np.isclose(grad, np.asarray(expected), rtol=RTOL, atol=ATOL)
    if not wrong[x != 0].any():
        return "The gradient of |x| at x == 0 is 0, as in PyTorch; yours is not 0 there (with comparisons: (x > 0) and (x < 0), not >= or <=).", "abs-grad-at-zero"
    if not wrong[x >= 0].any():
        return "For negative entries |x| = -x, so the local gradient there is -1.", "abs-grad-sign"
    return "", ""


def matrix_gradient_check(function: str, shape: str, points: float, accumulate: bool = False) -> Check:
    vals, op = SHAPES[shape], _op(function)
    upstream = [[2.5]] if op == "mean" else _upstream(shape)
    preset = [[0.25 * (i + j) - 0.5 for j in range(len(vals[0]))] for i in range(len(vals))] if accumulate else None
    _, expected = torch_op(op, vals, upstream, preset)
    label = f"x.grad started at {show(preset)}" if accumulate else f"upstream gradient {show(upstream)}"

    def judge(got):
        where = f"{CALLS[function]} with x = {show(vals)}"
        if not got["is_matrix"]:
            return _not_a_matrix(function, where, got)
        if close(got["grad"], expected):
            return passed()
        hint, mistake = gradient_hint(op, vals, upstream, got, expected, preset)
        return failed(f"{function}: gradient of {where}, {label}: expected x.grad = {show(expected)}, got {show(got['grad'])}", hint, mistake)

    args = {"function": function, "vals": vals, "upstream": upstream, "preset": preset}
    probe = Probe(f"matrix_gradient:{function}:{shape}:{accumulate}", "matrix_gradient", args, ("list2d", "matrix"), TIMEOUT)
    what = "gradient accumulates into an existing x.grad" if accumulate else f"gradient, {shape} input, upstream {'2.5' if op == 'mean' else 'not ones'}"
    return graded_check(f"{function}: {what}", points, probe, judge)


def matrix_twice_check(function: str, shape: str, points: float) -> Check:
    vals, op = SHAPES[shape], _op(function)
    a = [[2.5]] if op == "mean" else _upstream(shape)
    b = [[-1.0]] if op == "mean" else [[1.0 - 0.5 * i + j for j in range(len(vals[0]))] for i in range(len(vals))]
    _, from_a = torch_op(op, vals, a)
    _, from_b = torch_op(op, vals, b)
    expected = (np.asarray(from_a) + np.asarray(from_b)).tolist()
    _, from_ones = torch_op(op, vals, np.ones_like(np.asarray(a, dtype=float)).tolist())

    def judge(got):
        if not got["is_matrix"]:
            return _not_a_matrix(function, f"{CALLS[function]} with x = {show(vals)}", got)
        if close(got["grad"], expected):
            return passed()
        if close(got["grad"], from_a) or close(got["grad"], from_b):
            hint, mistake = "x is used twice, so both contributions must add up: use += in the gradient closure.", "grad-overwritten"
        elif close(got["grad"], 2 * np.asarray(from_ones)):
            hint, mistake = IGNORES_UPSTREAM
        else:  # the op is linear in its upstream gradient: two uses act like one with a + b
            hint, mistake = gradient_hint(op, vals, (np.asarray(a) + np.asarray(b)).tolist(), got, expected)
        return failed(
            f"{function}: x = {show(vals)} used twice, in ({CALLS[function]} * a).sum() + ({CALLS[function]} * b).sum(): "
            f"expected x.grad = {show(expected)}, got {show(got['grad'])}",
            hint,
            mistake,
        )

    args = {"function": function, "vals": vals, "upstream_a": a, "upstream_b": b}
    probe = Probe(f"matrix_twice:{function}:{shape}", "matrix_twice", args, ("list2d", "matrix"), TIMEOUT)
    return graded_check(f"{function}: gradient when x is used twice, {shape} input", points, probe, judge)


# ---- losses --------------------------------------------------------------------------

PREDICTION = [[0.5], [-1.0], [2.0], [0.0], [3.5]]
TARGET = [[1.0], [-1.0], [0.5], [-2.0], [3.0]]  # one exact tie: the |x| gradient at 0


def mae_check(part: str, points: float) -> Check:
    """MAELoss is right when it matches torch.nn.L1Loss, or the formula built from the student's own ops."""
    expected_value, expected_grad = torch_loss("MAELoss", PREDICTION, TARGET)
    mse_value, mse_grad = torch_loss("MSELoss", PREDICTION, TARGET)
    squared_hint = "That is the mean squared error: MAE takes the absolute value, not the square."
    sum_hint = "That is the sum of absolute errors: take the mean."
    where = f"MAELoss()(prediction, target) with prediction = {show(PREDICTION)}, target = {show(TARGET)}"

    def judge(got):
        if not got["is_matrix"]:
            hint = wrong_type_hint(got["type"], "Build the loss from Matrix operations (subtract, abs, mean).")
            return failed(f"MAELoss.forward: {where} returned a {got['type']}, expected a 1x1 Matrix", hint, "not-a-matrix")
        composed = got["composed"] or {}
        if part == "value":
            got_value, own = got["vals"], composed.get("vals")
            if close(got_value, expected_value) or (own is not None and close(got_value, own)):
                return passed()
            hint = ""
            if close(got_value, mse_value):
                hint = squared_hint
            elif close(got_value, np.asarray(expected_value) * len(PREDICTION)):
                hint = sum_hint
            return failed(f"MAELoss.forward: {where}: expected {show(expected_value)} (torch.nn.L1Loss), got {show(got_value)}", hint, "mae-formula" if hint else "")
        got_grad, own = got["grad"], composed.get("grad")
        if close(got_grad, expected_grad) or (own is not None and close(got_grad, own)):
            return passed()
        hint, mistake = "", ""
        if close(got_grad, mse_grad):
            hint, mistake = squared_hint, "mae-formula"
        elif close(got_grad, np.asarray(expected_grad) * len(PREDICTION)):
            hint, mistake = sum_hint, "mae-formula"
        elif not got["reaches_prediction"]:
            hint, mistake = "Build the loss from Matrix operations on prediction (subtract, abs, mean) so that backward() reaches it.", "not-wired"
        return failed(
            f"MAELoss.forward: gradient of {where} with respect to prediction: expected {show(expected_grad)} (torch.nn.L1Loss), got {show(got_grad)}",
            hint,
            mistake,
        )

    probe = Probe("mae_loss", "mae_loss", {"prediction": PREDICTION, "target": TARGET}, ("list2d", "matrix", "nn"), TIMEOUT)
    return graded_check(f"MAELoss.forward: {part} against torch.nn.L1Loss", points, probe, judge)


def mse_gradient_check(points: float) -> Check:
    _, expected = torch_loss("MSELoss", PREDICTION, TARGET)
    n = len(PREDICTION)

    def judge(got):
        if close(got["grad"], expected):
            return passed()
        hint, mistake = "", ""
        if got["grad"] is not None and close(np.asarray(got["grad"]) / n, expected):
            hint, mistake = "Did you divide by the number of elements (nrow * ncol) in Matrix.mean's gradient?", "mean-grad-not-divided"
        elif got["grad"] is not None and not np.any(got["grad"]):
            hint, mistake = nothing_flowed_hint(got["reaches_prediction"], got["attached"])
        return failed(
            f"Matrix.mean: gradient of ((target - prediction) ** 2).mean(), the course's MSELoss, with prediction = "
            f"{show(PREDICTION)}, target = {show(TARGET)}: expected {show(expected)} (torch.nn.MSELoss), got {show(got['grad'])}",
            hint,
            mistake,
        )

    probe = Probe("mse_of_mean", "mse_of_mean", {"prediction": PREDICTION, "target": TARGET}, ("list2d", "matrix"), TIMEOUT)
    return graded_check("Matrix.mean: gradient of the MSE formula against torch.nn.MSELoss", points, probe, judge)


def checks() -> list[Check]:
    return [
        *(list2d_mean_check(shape, 2) for shape in ("1x1", "1x5", "4x1", "3x4")),
        *(list2d_abs_check(shape, 2) for shape in ("1x1", "1x5", "4x1", "3x4")),
        list2d_abs_check("3x4", 2, "List2D.__abs__"),
        *(matrix_forward_check("Matrix.mean", shape, 3) for shape in ("1x1", "1x5", "3x4")),
        *(matrix_gradient_check("Matrix.mean", shape, 4) for shape in ("1x1", "1x5", "4x1", "3x4")),
        matrix_gradient_check("Matrix.mean", "3x4", 4, accumulate=True),
        matrix_twice_check("Matrix.mean", "3x4", 4),
        mse_gradient_check(4),
        *(matrix_forward_check("Matrix.abs", shape, 3) for shape in ("1x1 zero", "4x1", "3x4")),
        *(matrix_gradient_check("Matrix.abs", shape, 4) for shape in ("1x1 zero", "1x5", "4x1", "3x4")),
        matrix_gradient_check("Matrix.abs", "3x4", 4, accumulate=True),
        matrix_twice_check("Matrix.abs", "3x4", 4),
        matrix_forward_check("Matrix.__abs__", "3x4", 2),
        matrix_gradient_check("Matrix.__abs__", "3x4", 2),
        mae_check("value", 4),
        mae_check("gradient", 4),
    ]
