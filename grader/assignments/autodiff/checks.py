"""Autodiff checks: judged in the grading process against PyTorch (float64 autograd)
and the reference, on the plain data the probes sent back."""

from __future__ import annotations

import numpy as np
import torch

from grader.plugin import Check, Probe, Verdict, failed, passed

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


def _upstream(shape_name: str) -> list[list[float]]:
    """A gradient flowing in from above that is not all ones (some of it negative)."""
    rows, cols = len(SHAPES[shape_name]), len(SHAPES[shape_name][0])
    return [[0.5 + i - 0.75 * j for j in range(cols)] for i in range(rows)]


def _size(vals) -> str:
    return f"{len(vals)}x{len(vals[0])}"


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


def list2d_mean_check(shape: str, points: float) -> Check:
    vals = SHAPES[shape]
    expected = float(np.mean(vals))

    def judge(got, _reference):
        where = f"List2D.mean on {show(vals)}"
        if not got["is_number"]:
            return failed(f"{where}: expected a float, got a {got['type']}", "List2D.mean returns a plain float, not a List2D.")
        if got["input_after"] != vals:
            return failed(f"{where} changed its input to {show(got['input_after'])}", "Compute the mean without modifying self.vals.")
        if close(got["value"], expected):
            return passed()
        hint = ""
        if close(got["value"], expected * len(vals) * len(vals[0])):
            hint = "That is the sum: divide by the number of elements, nrow * ncol."
        elif close(got["value"], expected * len(vals[0])) or close(got["value"], expected * len(vals)):
            hint = "Divide by the number of elements, nrow * ncol, not by one dimension."
        return failed(f"{where}: expected {expected:.6g}, got {got['value']:.6g}", hint, "mean-wrong-count" if hint else "")

    return Check(f"List2D.mean: value, {shape} input", points, Probe(f"list2d_mean:{shape}", "list2d_mean", {"vals": vals}, ("list2d",), TIMEOUT), judge)


def list2d_abs_check(shape: str, points: float, builtin: bool = False) -> Check:
    vals = SHAPES[shape]
    expected = np.abs(vals).tolist()
    function = "List2D.__abs__" if builtin else "List2D.abs"
    call = "abs(data)" if builtin else "data.abs()"

    def judge(got, _reference):
        where = f"{function}: {call} with data = {show(vals)}"
        if builtin and same_as_method(got):
            return passed("abs(data) behaves exactly like your data.abs()")
        if not got["is_list2d"]:
            return failed(f"{where}: expected a new List2D, got a {got['type']}")
        if got["input_after"] != vals:
            return failed(f"{where} changed data to {show(got['input_after'])}", "Return a new List2D; leave self unchanged.", "abs-in-place")
        if got["same_object"]:
            return failed(f"{where} returned the same object", "Return a new List2D; leave self unchanged.", "abs-in-place")
        if close(got["vals"], expected):
            return passed()
        return failed(f"{where}: expected {show(expected)}, got {show(got['vals'])}")

    probe = Probe(f"list2d_abs:{shape}:{builtin}", "list2d_abs", {"vals": vals, "builtin": builtin}, ("list2d",), TIMEOUT)
    return Check(f"{function}: values, {shape} input", points, probe, judge)


# ---- Matrix ------------------------------------------------------------------------

OP_NAMES = {"mean": "Matrix.mean", "abs": "Matrix.abs", "builtin_abs": "Matrix.__abs__"}
CALLS = {"mean": "x.mean()", "abs": "x.abs()", "builtin_abs": "abs(x)"}


def _forward_verdict(op, vals, got) -> Verdict | None:
    """None when the forward result is right; otherwise the failure."""
    function, where = OP_NAMES[op], f"{CALLS[op]} with x = {show(vals)}"
    if not got["is_matrix"]:
        return failed(f"{function}: {where} returned a {got['type']}, expected a Matrix", "Wrap the result: Matrix(List2D(...), children=(self,)).")
    if got["input_after"] != vals:
        return failed(f"{function}: {where} changed x.data to {show(got['input_after'])}", "Build a new List2D for the result; never modify self.data.")
    if not got["wired"]:
        return failed(
            f"{function}: {where} returned a Matrix that is not connected to x",
            "Pass children=(self,) so that backward() reaches x.",
            "not-wired",
        )
    expected, _ = torch_op(op, vals, [[1.0] * len(vals[0])] * len(vals) if op != "mean" else [[1.0]])
    # A wrong List2D.mean/abs also makes this wrong; that mistake is charged to List2D, not here.
    if close(got["vals"], expected) or (got["own_list2d"] is not None and close(got["vals"], got["own_list2d"])):
        return None
    return failed(f"{function}: {where}: expected the value {show(expected)}, got {show(got['vals'])}")


def same_as_method(got) -> bool:
    """A built-in abs(...) is judged as a delegate: right when it behaves exactly like the
    student's own .abs(); a bug inside .abs() is charged to .abs() alone."""
    method = got.get("method")
    keys = ("type", "vals", "grad", "input_after", "wired", "same_object")
    return method is not None and all(method.get(k) == got.get(k) for k in keys)


def matrix_forward_check(op: str, shape: str, points: float) -> Check:
    vals = SHAPES[shape]
    upstream = _upstream(shape) if op != "mean" else [[2.5]]

    def judge(got, _reference):
        if op == "builtin_abs" and same_as_method(got):
            return passed("abs(x) behaves exactly like your x.abs()")
        return _forward_verdict(op, vals, got) or passed()

    probe = Probe(f"matrix:{op}:{shape}", "matrix_op", {"op": op, "vals": vals, "upstream": upstream}, ("list2d", "matrix"), TIMEOUT)
    return Check(f"{OP_NAMES[op]}: value and graph, {shape} input", points, probe, judge)


def gradient_hint(op, vals, upstream, got, expected, preset=None) -> tuple[str, str]:
    """Recognise the usual gradient mistakes by comparing with what each would produce."""
    grad_only = np.asarray(expected) - (np.asarray(preset) if preset is not None else 0)
    if preset is not None and close(got, grad_only):
        return "Gradients accumulate: add into self.grad with +=, do not assign it.", "grad-overwritten"
    ones = np.ones_like(np.asarray(upstream, dtype=float))
    _, without_upstream = torch_op(op, vals, ones.tolist(), preset)
    if not np.allclose(upstream, 1.0) and close(got, without_upstream):
        return "Multiply by the upstream gradient result.grad (chain rule); it is not always ones.", "ignores-upstream"
    n = len(vals) * len(vals[0])
    if op == "mean":
        if close(np.asarray(got) - (preset or 0), grad_only * n):
            return "Did you divide by the number of elements (nrow * ncol)?", "mean-grad-not-divided"
    else:
        sign = np.sign(np.asarray(vals))
        at_zero = (sign == 0)
        if at_zero.any() and close(np.where(at_zero, 0.0, got), np.where(at_zero, 0.0, expected)):
            return "The gradient of |x| at 0 is 0, as in PyTorch: use (x > 0) and (x < 0), not >= or <=.", "abs-grad-at-zero"
        if close(got, np.abs(grad_only)) or close(got, np.asarray(upstream) * (sign != 0)):
            return "For negative entries |x| = -x, so the local gradient there is -1.", "abs-grad-sign"
    return "", ""


def matrix_gradient_check(op: str, shape: str, points: float, accumulate: bool = False) -> Check:
    vals = SHAPES[shape]
    upstream = [[2.5]] if op == "mean" else _upstream(shape)
    preset = [[0.25 * (i + j) - 0.5 for j in range(len(vals[0]))] for i in range(len(vals))] if accumulate else None
    _, expected = torch_op(op, vals, upstream, preset)
    label = f"x.grad started at {show(preset)}" if accumulate else f"upstream gradient {show(upstream)}"

    def judge(got, _reference):
        if op == "builtin_abs" and same_as_method(got):
            return passed("abs(x) behaves exactly like your x.abs()")
        wrong = _forward_verdict(op, vals, got)
        if wrong:
            return wrong
        if close(got["grad"], expected):
            return passed()
        hint, mistake = gradient_hint(op, vals, upstream, got["grad"], expected, preset)
        return failed(
            f"{OP_NAMES[op]}: gradient of {CALLS[op]} with x = {show(vals)}, {label}: "
            f"expected x.grad = {show(expected)}, got {show(got['grad'])}",
            hint,
            mistake,
        )

    args = {"op": op, "vals": vals, "upstream": upstream, "preset": preset}
    probe = Probe(f"matrix:{op}:{shape}:grad:{accumulate}", "matrix_op", args, ("list2d", "matrix"), TIMEOUT)
    what = "gradient accumulates into an existing x.grad" if accumulate else f"gradient, {shape} input, upstream {'2.5' if op == 'mean' else 'not ones'}"
    return Check(f"{OP_NAMES[op]}: {what}", points, probe, judge)


def matrix_twice_check(op: str, shape: str, points: float) -> Check:
    vals = SHAPES[shape]
    a = [[2.5]] if op == "mean" else _upstream(shape)
    b = [[-1.0]] if op == "mean" else [[1.0 - 0.5 * i + j for j in range(len(vals[0]))] for i in range(len(vals))]
    _, from_a = torch_op(op, vals, a)
    _, from_b = torch_op(op, vals, b)
    expected = (np.asarray(from_a) + np.asarray(from_b)).tolist()

    def judge(got, _reference):
        if close(got["grad"], expected):
            return passed()
        if close(got["grad"], from_a) or close(got["grad"], from_b):
            hint, mistake = "x is used twice, so both contributions must add up: use += in the gradient closure.", "grad-overwritten"
        else:  # the op is linear in its upstream gradient: two uses act like one with a + b
            both = (np.asarray(a) + np.asarray(b)).tolist()
            hint, mistake = gradient_hint(op, vals, both, got["grad"], expected)
        return failed(
            f"{OP_NAMES[op]}: x = {show(vals)} used twice, in ({CALLS[op]} * a).sum() + ({CALLS[op]} * b).sum(): "
            f"expected x.grad = {show(expected)}, got {show(got['grad'])}",
            hint,
            mistake,
        )

    probe = Probe(f"matrix_twice:{op}:{shape}", "matrix_op_twice", {"op": op, "vals": vals, "upstream_a": a, "upstream_b": b}, ("list2d", "matrix"), TIMEOUT)
    return Check(f"{OP_NAMES[op]}: gradient when x is used twice, {shape} input", points, probe, judge)


# ---- losses --------------------------------------------------------------------------

PREDICTION = [[0.5], [-1.0], [2.0], [0.0], [3.5]]
TARGET = [[1.0], [-1.0], [0.5], [-2.0], [3.0]]  # one exact tie: the |x| gradient at 0


def loss_probe(kind: str) -> Probe:
    args = {"kind": kind, "prediction": PREDICTION, "target": TARGET}
    return Probe(f"loss:{kind}", "loss", args, ("list2d", "matrix", "nn"), TIMEOUT)


def mae_check(part: str, points: float) -> Check:
    expected_value, expected_grad = torch_loss("MAELoss", PREDICTION, TARGET)
    mse_value, mse_grad = torch_loss("MSELoss", PREDICTION, TARGET)
    squared_hint = "That is the mean squared error: MAE takes the absolute value, not the square."
    where = f"MAELoss()(prediction, target) with prediction = {show(PREDICTION)}, target = {show(TARGET)}"

    def judge(got, _reference):
        if not got["is_matrix"]:
            return failed(f"MAELoss.forward: {where} returned a {got['type']}, expected a 1x1 Matrix")
        composed = got["composed"] or {}
        if part == "value":
            got_value, own = got["vals"], composed.get("vals")
            if close(got_value, expected_value) or (own is not None and close(got_value, own)):
                return passed()
            hint = ""
            if close(got_value, mse_value):
                hint = squared_hint
            elif close(got_value, np.asarray(expected_value) * len(PREDICTION)):
                hint = "That is the sum of absolute errors: take the mean."
            return failed(f"MAELoss.forward: {where}: expected {show(expected_value)} (torch.nn.L1Loss), got {show(got_value)}", hint, "mae-formula" if hint else "")
        got_grad, own = got["grad"], composed.get("grad")
        if close(got_grad, expected_grad) or (own is not None and close(got_grad, own)):
            return passed()
        if close(got_grad, mse_grad):
            hint, mistake = squared_hint, "mae-formula"
        elif not np.any(got_grad):
            hint, mistake = "Build the loss from Matrix operations (subtract, abs, mean) so backward() reaches prediction.", "not-wired"
        else:
            hint, mistake = "", ""
        return failed(
            f"MAELoss.forward: gradient of {where} with respect to prediction: "
            f"expected {show(expected_grad)} (torch.nn.L1Loss), got {show(got_grad)}",
            hint,
            mistake,
        )

    return Check(f"MAELoss.forward: {part} against torch.nn.L1Loss", points, loss_probe("MAELoss"), judge)


def mse_gradient_check(points: float) -> Check:
    _, expected = torch_loss("MSELoss", PREDICTION, TARGET)

    def judge(got, _reference):
        if close(got["grad"], expected):
            return passed()
        hint, mistake = "", ""
        if got["grad"] is not None and close(np.asarray(got["grad"]) / len(PREDICTION), expected):
            hint, mistake = "Did you divide by the number of elements (nrow * ncol) in Matrix.mean's gradient?", "mean-grad-not-divided"
        return failed(
            f"Matrix.mean: gradient of MSELoss()(prediction, target) (the course's MSELoss uses your mean) with prediction = "
            f"{show(PREDICTION)}, target = {show(TARGET)}: expected {show(expected)} (torch.nn.MSELoss), got {show(got['grad'])}",
            hint,
            mistake,
        )

    return Check("Matrix.mean: gradient inside MSELoss against torch.nn.MSELoss", points, loss_probe("MSELoss"), judge)


def checks() -> list[Check]:
    return [
        *(list2d_mean_check(shape, 2) for shape in ("1x1", "1x5", "4x1", "3x4")),
        *(list2d_abs_check(shape, 2) for shape in ("1x1", "1x5", "4x1", "3x4")),
        list2d_abs_check("3x4", 2, builtin=True),
        *(matrix_forward_check("mean", shape, 3) for shape in ("1x1", "1x5", "3x4")),
        *(matrix_gradient_check("mean", shape, 4) for shape in ("1x1", "1x5", "4x1", "3x4")),
        matrix_gradient_check("mean", "3x4", 4, accumulate=True),
        matrix_twice_check("mean", "3x4", 4),
        mse_gradient_check(4),
        *(matrix_forward_check("abs", shape, 3) for shape in ("1x1 zero", "4x1", "3x4")),
        *(matrix_gradient_check("abs", shape, 4) for shape in ("1x1 zero", "1x5", "4x1", "3x4")),
        matrix_gradient_check("abs", "3x4", 4, accumulate=True),
        matrix_twice_check("abs", "3x4", 4),
        matrix_forward_check("builtin_abs", "3x4", 2),
        matrix_gradient_check("builtin_abs", "3x4", 2),
        mae_check("value", 4),
        mae_check("gradient", 4),
    ]
