"""Autodiff probes: run inside the sandbox child, next to student code.

Each probe builds small inputs with the student's own classes, calls one student
function and reports plain numbers. It never decides whether they are right.
"""

from __future__ import annotations

import copy


def _vals(obj) -> list[list[float]]:
    return [[float(v) for v in row] for row in obj.vals]


def _type(obj) -> str:
    return type(obj).__name__


def list2d_mean(resolve, vals):
    List2D = resolve("list2d", "List2D")
    data = List2D(len(vals), len(vals[0]), copy.deepcopy(vals))
    result = data.mean()
    return {
        "type": _type(result),
        "is_number": isinstance(result, (int, float)) and not isinstance(result, bool),
        "value": float(result) if isinstance(result, (int, float)) else None,
        "input_after": _vals(data),
    }


def list2d_abs(resolve, vals, builtin=False):
    List2D = resolve("list2d", "List2D")
    data = List2D(len(vals), len(vals[0]), copy.deepcopy(vals))
    result = abs(data) if builtin else data.abs()
    is_list2d = isinstance(result, List2D)
    report = {
        "type": _type(result),
        "is_list2d": is_list2d,
        "same_object": result is data,
        "vals": _vals(result) if is_list2d else None,
        "input_after": _vals(data),
    }
    if builtin:  # abs(data) that behaves exactly like the student's data.abs() is a correct __abs__
        report["method"] = _attempt(list2d_abs, resolve, vals)
    return report


def _attempt(probe, *args, **kwargs):
    try:
        return probe(*args, **kwargs)
    except Exception:
        return None


def _apply(matrix, op):
    return abs(matrix) if op == "builtin_abs" else getattr(matrix, op)()


def matrix_op(resolve, op, vals, upstream, preset=None):
    """``y = op(x)``; then ``loss = (y * upstream).sum()`` and backward, starting from ``x.grad = preset``."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")
    x = Matrix(List2D(len(vals), len(vals[0]), copy.deepcopy(vals)))
    if preset is not None:
        x.grad = List2D(len(preset), len(preset[0]), copy.deepcopy(preset))
    y = _apply(x, op)
    is_matrix = isinstance(y, Matrix)
    report = {
        "type": _type(y),
        "is_matrix": is_matrix,
        "wired": is_matrix and any(child is x for child in y._children),
        "vals": _vals(y.data) if is_matrix else None,
        "input_after": _vals(x.data),
        "own_list2d": _own_list2d(x.data, op),
    }
    if is_matrix:
        weights = Matrix(List2D(len(upstream), len(upstream[0]), copy.deepcopy(upstream)))
        (y * weights).sum().backward()
        report["grad"] = _vals(x.grad)
    if op == "builtin_abs":  # abs(x) that behaves exactly like the student's x.abs() is a correct __abs__
        report["method"] = _attempt(matrix_op, resolve, "abs", vals, upstream, preset)
    return report


def matrix_op_twice(resolve, op, vals, upstream_a, upstream_b):
    """x feeds two separate op nodes: ``(op(x) * a).sum() + (op(x) * b).sum()``."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")

    def matrix(rows):
        return Matrix(List2D(len(rows), len(rows[0]), copy.deepcopy(rows)))

    x = matrix(vals)
    loss = (_apply(x, op) * matrix(upstream_a)).sum() + (_apply(x, op) * matrix(upstream_b)).sum()
    loss.backward()
    return {"grad": _vals(x.grad)}


def _own_list2d(data, op):
    """What the student's own List2D gives for the same data, so a List2D bug is charged to List2D."""
    try:
        if op == "mean":
            return [[float(data.mean())]]
        return _vals(data.abs())
    except Exception:
        return None


def loss(resolve, kind, prediction, target):
    """``kind()(prediction, target)`` with gradients, plus the lecture's formula built from the
    student's own ops, so a bug in Matrix.mean or Matrix.abs is charged there and not here."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")
    criterion = resolve("nn", kind)()

    def matrix(rows):
        return Matrix(List2D(len(rows), len(rows[0]), copy.deepcopy(rows)))

    yhat, y = matrix(prediction), matrix(target)
    result = criterion(yhat, y)
    is_matrix = isinstance(result, Matrix)
    report = {"type": _type(result), "is_matrix": is_matrix, "vals": None, "grad": None, "composed": None}
    if is_matrix:
        report["vals"] = _vals(result.data)
        result.backward()
        report["grad"] = _vals(yhat.grad)
    try:
        yhat2, y2 = matrix(prediction), matrix(target)
        difference = y2 - yhat2
        composed = (difference.abs() if kind == "MAELoss" else difference**2).mean()
        composed.backward()
        report["composed"] = {"vals": _vals(composed.data), "grad": _vals(yhat2.grad)}
    except Exception:
        pass
    return report
