"""Autodiff probes: run inside the sandbox child, next to student code.

Each probe builds small inputs with the student's own classes, calls one student
function and reports plain numbers. It never decides whether they are right.

A function is run with every *other* graded function replaced by a known-good one
(below), so a bug costs only the function that has it: a correct ``Matrix.abs`` keeps
its points when ``List2D.abs`` is wrong, and ``MAELoss`` when ``Matrix.mean`` is missing.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager

from grader.variants import guarded  # noqa: F401 (the official grade's public-plus-hidden probe; grader/variants.py)

# ---- known-good versions of the graded functions ----------------------------------
# Written with only the library's given parts (List2D(nrow, ncol, rows), .vals, .grad,
# Matrix(data, children=...), ._gradient), never with another graded function.


def good_list2d_mean(self):
    return math.fsum(v for row in self.vals for v in row) / (self.nrow * self.ncol)


def good_list2d_abs(self):
    return type(self)(self.nrow, self.ncol, [[abs(v) for v in row] for row in self.vals])


def good_matrix_mean(self):
    result = type(self)(type(self.data)(1, 1, good_list2d_mean(self.data)), children=(self,))

    def _gradient():
        share = result.grad.vals[0][0] / (self.data.nrow * self.data.ncol)
        for row in self.grad.vals:
            row[:] = [g + share for g in row]

    result._gradient = _gradient
    return result


def good_matrix_abs(self):
    result = type(self)(good_list2d_abs(self.data), children=(self,))

    def _gradient():
        for row, xs, ups in zip(self.grad.vals, self.data.vals, result.grad.vals):
            row[:] = [g + ((x > 0) - (x < 0)) * up for g, x, up in zip(row, xs, ups)]

    result._gradient = _gradient
    return result


KNOWN_GOOD = {
    "List2D.mean": good_list2d_mean,
    "List2D.abs": good_list2d_abs,
    "List2D.__abs__": good_list2d_abs,
    "Matrix.mean": good_matrix_mean,
    "Matrix.abs": good_matrix_abs,
    "Matrix.__abs__": good_matrix_abs,
}


# abs may not lean on its own class's __abs__: a known-good __abs__ there would hide the
# endless recursion of an abs that returns abs(self) while __abs__ returns self.abs().
KEPT_WITH = {"List2D.abs": "List2D.__abs__", "Matrix.abs": "Matrix.__abs__"}


@contextmanager
def others_known_good(classes: dict, judged: str, used: set):
    """Within the block, every graded method of ``classes`` but ``judged`` (and what it must
    not lean on) is the known-good one; ``used`` collects those the judged function called."""
    saved = []
    for name, good in KNOWN_GOOD.items():
        owner, attribute = name.split(".")
        if name in (judged, KEPT_WITH.get(judged)) or owner not in classes:
            continue
        cls = classes[owner]
        saved.append((cls, attribute, cls.__dict__.get(attribute)))
        setattr(cls, attribute, _recording(name, good, used))
    try:
        yield
    finally:
        for cls, attribute, original in reversed(saved):
            if original is None:
                delattr(cls, attribute)
            else:
                setattr(cls, attribute, original)


def _recording(name, good, used):
    def method(self, *args, **kwargs):
        used.add(name)
        return good(self, *args, **kwargs)

    return method


def _judged(resolve, judged, modules, measure):
    """``measure()`` run with the other graded functions known-good; the report says which it used."""
    classes = {"List2D": resolve("list2d", "List2D")}
    if "matrix" in modules:
        classes["Matrix"] = resolve("matrix", "Matrix")
    used: set[str] = set()
    with others_known_good(classes, judged, used):
        report = measure()
    report["replaced"] = sorted(used)
    return report


# ---- helpers --------------------------------------------------------------------------


def _vals(obj) -> list[list[float]]:
    return [[float(v) for v in row] for row in obj.vals]


def _type(obj) -> str:
    return type(obj).__name__


def _grid(List2D, rows):
    return List2D(len(rows), len(rows[0]), copy.deepcopy(rows))


def _reaches(node, target, limit=100_000) -> bool:
    """Whether ``target`` is in the graph below ``node``, through ``_children`` at any depth."""
    seen, stack = set(), list(getattr(node, "_children", ()))
    while stack and len(seen) < limit:
        current = stack.pop()
        if current is target:
            return True
        if id(current) not in seen:
            seen.add(id(current))
            stack.extend(getattr(current, "_children", ()))
    return False


def _closure_attached(result, Matrix, List2D) -> bool:
    """False when the result still has the do-nothing closure every new Matrix starts with."""
    fresh = Matrix(List2D(1, 1, 0.0))
    return getattr(result._gradient, "__code__", None) is not getattr(fresh._gradient, "__code__", None)


def _apply(matrix, function):
    return abs(matrix) if function.endswith("__abs__") else getattr(matrix, function.split(".")[1])()


# ---- List2D -----------------------------------------------------------------------------


def list2d_mean(resolve, vals):
    def measure():
        data = _grid(resolve("list2d", "List2D"), vals)
        result = data.mean()
        return {
            "type": _type(result),
            "is_number": isinstance(result, (int, float)) and not isinstance(result, bool),
            "value": float(result) if isinstance(result, (int, float)) else None,
            "input_after": _vals(data),
        }

    return _judged(resolve, "List2D.mean", ("list2d",), measure)


def list2d_abs(resolve, function, vals):
    List2D = resolve("list2d", "List2D")

    def measure():
        data = _grid(List2D, vals)
        result = abs(data) if function == "List2D.__abs__" else data.abs()
        is_list2d = isinstance(result, List2D)
        return {
            "type": _type(result),
            "is_list2d": is_list2d,
            "same_object": result is data,
            "vals": _vals(result) if is_list2d else None,
            "input_after": _vals(data),
        }

    return _judged(resolve, function, ("list2d",), measure)


# ---- Matrix -----------------------------------------------------------------------------


def matrix_forward(resolve, function, vals):
    """``y = op(x)``: its type, values and graph; no backward, so a gradient bug costs nothing here."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")

    def measure():
        x = Matrix(_grid(List2D, vals))
        y = _apply(x, function)
        is_matrix = isinstance(y, Matrix)
        return {
            "type": _type(y),
            "is_matrix": is_matrix,
            "reaches_x": is_matrix and _reaches(y, x),
            "vals": _vals(y.data) if is_matrix else None,
            "input_after": _vals(x.data),
        }

    return _judged(resolve, function, ("list2d", "matrix"), measure)


def matrix_gradient(resolve, function, vals, upstream, preset=None):
    """``y = op(x)``; then ``(y * upstream).sum().backward()``, starting from ``x.grad = preset``."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")

    def measure():
        x = Matrix(_grid(List2D, vals))
        if preset is not None:
            x.grad = _grid(List2D, preset)
        y = _apply(x, function)
        is_matrix = isinstance(y, Matrix)
        report = {"type": _type(y), "is_matrix": is_matrix, "grad": None}
        if is_matrix:
            report["reaches_x"] = _reaches(y, x)
            report["attached"] = _closure_attached(y, Matrix, List2D)
            (y * Matrix(_grid(List2D, upstream))).sum().backward()
            report["grad"] = _vals(x.grad)
        return report

    return _judged(resolve, function, ("list2d", "matrix"), measure)


def matrix_twice(resolve, function, vals, upstream_a, upstream_b):
    """x feeds two separate op nodes: ``(op(x) * a).sum() + (op(x) * b).sum()``."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")

    def measure():
        x = Matrix(_grid(List2D, vals))
        a, b = Matrix(_grid(List2D, upstream_a)), Matrix(_grid(List2D, upstream_b))
        first, second = _apply(x, function), _apply(x, function)
        if not isinstance(first, Matrix):
            return {"type": _type(first), "is_matrix": False, "grad": None}
        report = {"is_matrix": True, "reaches_x": _reaches(first, x), "attached": _closure_attached(first, Matrix, List2D)}
        ((first * a).sum() + (second * b).sum()).backward()
        return {**report, "grad": _vals(x.grad)}

    return _judged(resolve, function, ("list2d", "matrix"), measure)


# ---- losses -----------------------------------------------------------------------------


def mae_loss(resolve, prediction, target):
    """``MAELoss()(prediction, target)`` with its gradient, plus the lecture's formula built from
    the student's own ops, with Matrix.mean, Matrix.abs and List2D's known-good."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")
    criterion = resolve("nn", "MAELoss")()

    def measure():
        yhat, y = Matrix(_grid(List2D, prediction)), Matrix(_grid(List2D, target))
        result = criterion(yhat, y)
        is_matrix = isinstance(result, Matrix)
        report = {"type": _type(result), "is_matrix": is_matrix, "vals": None, "grad": None, "composed": None}
        if is_matrix:
            report["vals"] = _vals(result.data)
            report["reaches_prediction"] = _reaches(result, yhat)
            result.backward()
            report["grad"] = _vals(yhat.grad)
        try:
            yhat2, y2 = Matrix(_grid(List2D, prediction)), Matrix(_grid(List2D, target))
            composed = (y2 - yhat2).abs().mean()
            composed.backward()
            report["composed"] = {"vals": _vals(composed.data), "grad": _vals(yhat2.grad)}
        except Exception:
            pass
        return report

    return _judged(resolve, "MAELoss.forward", ("list2d", "matrix"), measure)


def mse_of_mean(resolve, prediction, target):
    """The course's MSELoss formula, ``((target - prediction) ** 2).mean()``, and its gradient:
    the student's Matrix.mean at the end of a real graph (nn.py is not needed)."""
    List2D, Matrix = resolve("list2d", "List2D"), resolve("matrix", "Matrix")

    def measure():
        yhat, y = Matrix(_grid(List2D, prediction)), Matrix(_grid(List2D, target))
        result = ((y - yhat) ** 2).mean()
        report = {"type": _type(result), "grad": None}
        if isinstance(result, Matrix):
            report["reaches_prediction"] = _reaches(result, yhat)
            report["attached"] = _closure_attached(result, Matrix, List2D)
            result.backward()
            report["grad"] = _vals(yhat.grad)
        return report

    return _judged(resolve, "Matrix.mean", ("list2d", "matrix"), measure)
